/** OpenAI's error shape: `{ error: { message, type, param, code } }`. */
import type * as http from "node:http";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    readonly param: string | null = null,
    /** Denial reason ids (403 only). */
    readonly reasons?: readonly string[],
  ) {
    super(message);
  }
}

export function errorBody(e: ApiError): string {
  const error: Record<string, unknown> = { message: e.message, type: e.type, param: e.param, code: e.code };
  if (e.reasons) error.reasons = e.reasons;
  return JSON.stringify({ error });
}

export function sendError(res: http.ServerResponse, e: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(e);
  res.writeHead(e.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...e.headers,
  });
  res.end(body);
}

export const errors = {
  badRequest: (msg: string, param: string | null = null) =>
    new ApiError(400, "invalid_request_error", "invalid_request", msg, {}, param),
  unauthorized: (msg: string) =>
    new ApiError(401, "authentication_error", "invalid_authentication", msg, {
      "www-authenticate": "Bearer",
    }),
  forbidden: (reasons: readonly string[]) =>
    new ApiError(
      403,
      "permission_error",
      "permission_denied",
      `request denied: ${reasons.join(", ") || "denied"}`,
      {},
      null,
      reasons,
    ),
  notFound: (msg: string, code = "not_found") => new ApiError(404, "invalid_request_error", code, msg),
  methodNotAllowed: (method: string) =>
    new ApiError(
      405,
      "invalid_request_error",
      "method_not_allowed",
      `method "${method}" is not allowed here`,
    ),
  tooLarge: (limit: number) =>
    new ApiError(
      413,
      "invalid_request_error",
      "request_too_large",
      `request body is larger than ${limit} bytes`,
    ),
  unsupportedMediaType: (ct: string) =>
    new ApiError(
      415,
      "invalid_request_error",
      "unsupported_media_type",
      `expected content-type application/json, found "${ct}"`,
    ),
  rateLimited: (msg: string, code: string, retryAfterSec: number) =>
    new ApiError(429, "rate_limit_error", code, msg, { "retry-after": String(retryAfterSec) }),
  badGateway: (msg: string) => new ApiError(502, "api_error", "upstream_error", msg),
  unavailable: (msg: string, code = "service_unavailable") => new ApiError(503, "api_error", code, msg),
  timeout: (msg: string) => new ApiError(504, "api_error", "upstream_timeout", msg),
};
