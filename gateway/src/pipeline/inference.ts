/**
 * The inference request path, stage by stage:
 * authenticate → validate → decide → route → proxy → (account, by the caller) → capture.
 */
import type * as http from "node:http";
import type { RequestContext } from "./context";
import { authenticate } from "./authenticate";
import { validate } from "./validate";
import { authorize, enforce, inferenceInput } from "./decide";
import { route } from "./route";
import { proxy } from "./proxy";
import { capture, planCapture } from "./capture";
import type { PipelineDeps } from "./deps";

export async function inference(
  d: PipelineDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const cfg = d.cfg;
  const p = await authenticate(d.auth, req, ctx);
  const r = await validate(req, ctx, { maxBodyBytes: cfg.maxBodyBytes, catalog: cfg.catalog });
  const call = route(cfg.catalog, r);
  const usage = d.quota.admit(p.team, cfg.catalog.teams[p.team].budgets);
  const decision = await authorize(d, ctx, inferenceInput(ctx, p, r, usage));
  enforce(d, ctx, decision);
  const plan = planCapture({ ...d, redactPatterns: cfg.catalog.redactPatterns }, r, decision);
  const out = await proxy(
    { agents: d.agents, metrics: d.metrics, upstreamTimeoutMs: cfg.upstreamTimeoutMs },
    ctx,
    {
      req,
      res,
      target: call.target,
      body: call.body,
      stream: r.stream,
      clientWantsUsage: r.clientWantsUsage,
      collect: plan !== undefined,
    },
  );
  if (plan && out.response)
    capture({ ...d, redactPatterns: cfg.catalog.redactPatterns }, ctx, r, plan, out.response);
}
