/**
 * Stage 4: where the request goes and what is sent. The model server of the model (a LoRA
 * adapter goes to its base model's server); non-streaming bodies are forwarded as received,
 * streaming ones gain `stream_options.include_usage` so tokens can be counted. A flywheel
 * adapter's stable name is rewritten to the served name of one of its versions (the canary's
 * share of request ids, else the promoted one: `flywheel/split.ts`); the client keeps calling
 * the stable name, and the policy decided on it; before a flywheel adapter's first promotion the
 * requests outside the canary's share go to its base model. Which replica of the model server gets it is
 * the router's choice (routing/router.ts, called by the inference stage).
 */
import { routeFor, type Catalog } from "../config";
import { errors } from "../errors";
import { routeModel, type AdapterRoute } from "../flywheel/split";
import { upstreamBody } from "./body";
import type { InferenceRequest } from "./validate";

export interface UpstreamCall {
  /** Full URL of the upstream endpoint (at the model server's Service). */
  readonly target: string;
  /** The model server's URL (the catalog route): the router picks one of its replicas. */
  readonly upstream: string;
  /** The model name sent upstream (a flywheel version's served name, else the requested model). */
  readonly upstreamModel: string;
  readonly body: Buffer;
  /** The flywheel version that serves the request (a flywheel adapter only). */
  readonly version?: { readonly adapter: string; readonly version: string; readonly canary: boolean };
}

export function route(
  catalog: Catalog,
  r: InferenceRequest,
  split?: { readonly routes: Readonly<Record<string, AdapterRoute>>; readonly requestId: string },
): UpstreamCall {
  const base = routeFor(catalog, r.model);
  if (!base) throw errors.notFound(`the model "${r.model}" does not exist`, "model_not_found");
  const chosen = split ? routeModel(split.routes, r.model, split.requestId) : undefined;
  const entry = catalog.models[r.model];
  // A flywheel adapter before its first promotion: nothing serves its stable name, so requests
  // outside the canary's share go to the base model (what the first candidate was gated against).
  const served = chosen?.version !== undefined ? chosen.model : entry?.flywheel ? entry.baseModel : undefined;
  const body = upstreamBody(r, served);
  return {
    target: base + r.endpoint,
    upstream: base,
    upstreamModel: served ?? r.model,
    body,
    ...(served && chosen?.version
      ? { version: { adapter: r.model, version: chosen.version, canary: chosen.canary } }
      : {}),
  };
}
