/**
 * Stage 4: where the request goes and what is sent. The model server of the model (a LoRA
 * adapter goes to its base model's server); non-streaming bodies are forwarded as received,
 * streaming ones gain `stream_options.include_usage` so tokens can be counted.
 */
import { routeFor, type Catalog } from "../config";
import { errors } from "../errors";
import type { InferenceRequest } from "./validate";

export interface UpstreamCall {
  /** Full URL of the upstream endpoint. */
  readonly target: string;
  readonly body: Buffer;
}

export function route(catalog: Catalog, r: InferenceRequest): UpstreamCall {
  const base = routeFor(catalog, r.model);
  if (!base) throw errors.notFound(`the model "${r.model}" does not exist`, "model_not_found");
  const body = r.stream
    ? Buffer.from(
        JSON.stringify({
          ...r.body,
          stream_options: { ...(r.body.stream_options as object), include_usage: true },
        }),
      )
    : r.raw;
  return { target: base + r.endpoint, body };
}
