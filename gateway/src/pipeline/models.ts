/**
 * `GET /v1/models`: the models the caller's team may use, each as the policy would decide a
 * call. Budgets apply as to any request: it counts against the per-minute budget, a spent
 * budget is a 429 with Retry-After, a denial does not use the budget up.
 */
import type * as http from "node:http";
import type { AuthzInput } from "../../../components/lib/contracts";
import { errors } from "../errors";
import { OpaUnavailable } from "../opa";
import { journal } from "./account";
import { modelClassificationOf } from "../flywheel/classification";
import { authenticate } from "./authenticate";
import type { RequestContext } from "./context";
import { enforce, subjectOf } from "./decide";
import type { PipelineDeps } from "./deps";

export async function listModels(
  d: PipelineDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  ctx.model = "*";
  const p = await authenticate(d.auth, req, ctx);
  const catalog = d.cfg.catalog;
  // A listing is a request like any other: it counts against the per-minute budget (429 with
  // Retry-After when spent, as everywhere) ...
  const usage = d.quota.admit(p.team, catalog.teams[p.team].budgets);
  const base: Omit<AuthzInput, "request"> = {
    subject: subjectOf(p),
    context: { time: ctx.ts, clientAddress: ctx.clientAddress, usage },
  };
  const names = Object.keys(catalog.models)
    .filter((m) => catalog.models[m].role !== "guard")
    .sort();
  // ... and costs one decision by the policy engine (in process, or one OPA query): the listing
  // decision (membership, request rate) and, per model, the decision a call to it would get (no
  // prompt, so no guard call).
  // A flywheel adapter is listed on the classification a call to it would be decided on.
  const adapters = d.adapters?.();
  let listing, allowed: string[];
  try {
    ({ listing, allowed } = await d.policy.listing(
      base,
      names.map((model) => {
        const modelClassification = adapters && modelClassificationOf(adapters, catalog, model);
        return {
          model,
          endpoint: catalog.models[model].role === "embedding" ? "/v1/embeddings" : "/v1/chat/completions",
          ...(modelClassification ? { modelClassification } : {}),
        };
      }),
    ));
  } catch (e) {
    d.quota.release(p.team);
    d.metrics.opaErrors.inc();
    ctx.decision = "error";
    if (e instanceof OpaUnavailable) d.log.warn("opa unavailable", { requestId: ctx.id, error: e.message });
    throw errors.unavailable("authorization service unavailable", "authorization_unavailable");
  }
  try {
    enforce(d, ctx, listing);
  } catch (e) {
    d.quota.release(p.team);
    throw e;
  }
  const ok = new Set(allowed);
  const data = names
    .filter((n) => ok.has(n))
    .map((id) => {
      const base = catalog.models[id].baseModel;
      return {
        id,
        object: "model",
        created: 0,
        owned_by: "sovereign",
        root: base ?? id,
        parent: base ?? null,
      };
    });
  ctx.status = 200;
  await journal(d.accountDeps, ctx);
  sendJson(res, 200, JSON.stringify({ object: "list", data }));
}

export function sendJson(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
