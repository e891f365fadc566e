/**
 * Stage 2: read and check the request body. The result is an {@link InferenceRequest}: the
 * parsed body, the model, whether the answer streams, and the text the policy and its guard
 * screen.
 */
import type * as http from "node:http";
import type { Catalog } from "../config";
import { errors } from "../errors";
import { header, type InferenceEndpoint, type RequestContext } from "./context";

/** The text the policy sees (and the token estimate is based on). */
export interface ScreenText {
  readonly messages?: { role: string; content: string }[];
  readonly prompt?: string;
  readonly chars: number;
}

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
}

/** Reads, parses and checks an inference request; sets `ctx.model` and `ctx.streamed`. */
export async function validate(
  req: http.IncomingMessage,
  ctx: RequestContext,
  o: ValidateOptions,
): Promise<InferenceRequest> {
  const ct = header(req, "content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(ct)) throw errors.unsupportedMediaType(ct);
  const raw = await readBody(req, o.maxBodyBytes);
  const r = parseInference(ctx.endpoint as InferenceEndpoint, raw, o.catalog, ctx);
  return r;
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
): InferenceRequest {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
  } catch (e) {
    throw errors.badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw errors.badRequest("expected a JSON object");
  if (typeof body.model !== "string" || !body.model)
    throw errors.badRequest('expected a string "model"', "model");
  const model = body.model;
  if (ctx) ctx.model = model;
  if (!catalog.models[model]) throw errors.notFound(`the model "${model}" does not exist`, "model_not_found");
  const stream = endpoint !== "/v1/embeddings" && body.stream === true;
  if (ctx) ctx.streamed = stream;
  const clientWantsUsage =
    stream && typeof body.stream_options === "object" && body.stream_options !== null
      ? (body.stream_options as Record<string, unknown>).include_usage === true
      : false;
  return {
    endpoint,
    raw,
    body,
    model,
    stream,
    clientWantsUsage,
    text: screenText(endpoint, body),
    maxTokens: maxTokens(body),
  };
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

/** The text the policy sees. Content parts are flattened to text. */
export function screenText(endpoint: InferenceEndpoint, body: Record<string, unknown>): ScreenText {
  if (endpoint === "/v1/chat/completions" && Array.isArray(body.messages)) {
    let chars = 0;
    const messages = body.messages.map((m: unknown) => {
      const mm = (m ?? {}) as { role?: unknown; content?: unknown };
      const content = flatten(mm.content);
      chars += content.length;
      return { role: String(mm.role ?? ""), content };
    });
    return { messages, chars };
  }
  const src = endpoint === "/v1/embeddings" ? body.input : body.prompt;
  const prompt = flatten(src);
  return { prompt, chars: prompt.length };
}

function flatten(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    return v
      .map((p) =>
        typeof p === "string"
          ? p
          : p && typeof p === "object" && "text" in p
            ? String((p as { text: unknown }).text)
            : "",
      )
      .filter(Boolean)
      .join("\n");
  }
  return "";
}

function maxTokens(body: Record<string, unknown>): number {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === "number" && v > 0 ? v : 0;
}
