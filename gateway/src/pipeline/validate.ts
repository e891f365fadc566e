/**
 * Stage 2: read and check the request body. The result is an {@link InferenceRequest}: the
 * parsed body, the model, whether the answer streams, and the text the policy and its guard
 * screen.
 */
import type * as http from "node:http";
import type { Catalog } from "../config";
import { errors } from "../errors";
import { header, type InferenceEndpoint, type RequestContext } from "./context";
import { checkShape, isObj, maxTokens, nestingDepth, type ScreenText } from "./shape";

export type { ScreenText };

export interface InferenceRequest {
  readonly endpoint: InferenceEndpoint;
  /** The body as received (forwarded unchanged when it need not be rewritten). */
  readonly raw: Buffer;
  readonly body: Record<string, unknown>;
  readonly model: string;
  readonly stream: boolean;
  /** The client asked for the usage chunk of a stream itself. */
  readonly clientWantsUsage: boolean;
  readonly text: ScreenText;
  /** max_completion_tokens or max_tokens (0 when absent). */
  readonly maxTokens: number;
}

export interface ValidateOptions {
  readonly maxBodyBytes: number;
  readonly catalog: Catalog;
  /** Deepest JSON nesting accepted. @default 64 */
  readonly maxJsonDepth?: number;
}

/** Deepest JSON nesting accepted when none is configured: far beyond any real request (tool schemas included). */
export const DEFAULT_MAX_DEPTH = 64;

/** Reads, parses and checks an inference request; sets `ctx.model` and `ctx.streamed`. */
export async function validate(
  req: http.IncomingMessage,
  ctx: RequestContext,
  o: ValidateOptions,
): Promise<InferenceRequest> {
  const ct = header(req, "content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(ct)) throw errors.unsupportedMediaType(ct);
  const raw = await readBody(req, o.maxBodyBytes);
  return parseInference(ctx.endpoint as InferenceEndpoint, raw, o.catalog, ctx, o.maxJsonDepth);
}

/**
 * Parses and checks a body for `endpoint` (pure apart from recording the model and stream
 * flag on `ctx` as soon as they are known, so an error response is still audited with them).
 */
export function parseInference(
  endpoint: InferenceEndpoint,
  raw: Buffer,
  catalog: Catalog,
  ctx?: Pick<RequestContext, "model" | "streamed">,
  maxDepth = DEFAULT_MAX_DEPTH,
): InferenceRequest {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
  } catch (e) {
    throw errors.badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(body)) throw errors.badRequest("expected a JSON object");
  const depth = nestingDepth(body, maxDepth);
  if (depth > maxDepth) throw errors.badRequest(`request body is nested deeper than ${maxDepth} levels`);
  if (typeof body.model !== "string" || !body.model)
    throw errors.badRequest('expected a string "model"', "model");
  const model = body.model;
  if (ctx) ctx.model = model;
  // own names only: "constructor" or "__proto__" is a property of every object, never a model
  if (!Object.hasOwn(catalog.models, model))
    throw errors.notFound(`the model "${model}" does not exist`, "model_not_found");
  const text = checkShape(endpoint, body);
  const stream = endpoint !== "/v1/embeddings" && body.stream === true;
  if (ctx) ctx.streamed = stream;
  const clientWantsUsage =
    stream && isObj(body.stream_options) ? body.stream_options.include_usage === true : false;
  return { endpoint, raw, body, model, stream, clientWantsUsage, text, maxTokens: maxTokens(body) };
}

/** Reads the body up to `max` bytes; a larger one is a 413 (checked on Content-Length first). */
export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > max) {
    req.resume();
    return Promise.reject(errors.tooLarge(max));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > max) {
        failed = true;
        reject(errors.tooLarge(max));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => !failed && resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on(
      "error",
      (e) => !failed && reject(errors.badRequest(`request body could not be read: ${e.message}`)),
    );
  });
}
