/** `GET /v1/models`: the models the caller's team may use, each as the policy would decide a call. */
import type * as http from "node:http";
import type { AuthzInput } from "../../../components/lib/contracts";
import { errors } from "../errors";
import { authenticate } from "./authenticate";
import type { RequestContext } from "./context";
import { authorize, subjectOf } from "./decide";
import type { PipelineDeps } from "./deps";

export async function listModels(
  d: PipelineDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  ctx.model = "*";
  const p = await authenticate(d.auth, req, ctx);
  const usage = d.quota.snapshot(p.team);
  const context: AuthzInput["context"] = { time: ctx.ts, clientAddress: ctx.clientAddress, usage };
  // The listing itself (membership, request rate) ...
  const listing = await authorize(d, ctx, {
    subject: subjectOf(p),
    request: { model: "", endpoint: "/v1/models", estimatedTokens: 0 },
    context,
  });
  ctx.reasons = listing.reasons;
  if (!listing.allow) {
    ctx.decision = "deny";
    for (const r of listing.reasons) d.metrics.denials.inc({ team: p.team, reason: r });
    throw errors.forbidden(listing.reasons);
  }
  // ... then, per model, the decision a call to it would get (no prompt, so no guard call).
  const catalog = d.cfg.catalog;
  const names = Object.keys(catalog.models)
    .filter((m) => catalog.models[m].role !== "guard")
    .sort();
  const decisions = await Promise.all(
    names.map((model) =>
      authorize(d, ctx, {
        subject: subjectOf(p),
        request: {
          model,
          endpoint: catalog.models[model].role === "embedding" ? "/v1/embeddings" : "/v1/chat/completions",
          estimatedTokens: 0,
        },
        context,
      }),
    ),
  );
  ctx.decision = "allow";
  const data = names
    .filter((_, i) => decisions[i].allow)
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
  sendJson(res, 200, JSON.stringify({ object: "list", data }));
}

export function sendJson(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
