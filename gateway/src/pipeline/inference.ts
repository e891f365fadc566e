/**
 * The inference request path, stage by stage:
 * authenticate → validate → decide → route → proxy → (account, by the caller) → capture.
 */
import type * as http from "node:http";
import { decisionDeadlineMs } from "../config";
import { errors } from "../errors";
import type { RequestContext } from "./context";
import { authenticate } from "./authenticate";
import { validate } from "./validate";
import { authorize, enforce, inferenceInput } from "./decide";
import { route } from "./route";
import { proxy, type ProxyCall } from "./proxy";
import { capture, optedOut, planCapture } from "./capture";
import type { PipelineDeps } from "./deps";
import { journal } from "./account";
import { modelClassificationOf } from "../flywheel/classification";
import { prefixKey } from "../routing/balance";
import { sendRouted } from "../routing/router";

export async function inference(
  d: PipelineDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const cfg = d.cfg;
  const p = await authenticate(d.auth, req, ctx);
  const optOut = optedOut(req, p);
  const r = await validate(req, ctx, {
    maxBodyBytes: cfg.maxBodyBytes,
    catalog: cfg.catalog,
    maxJsonDepth: cfg.maxJsonDepth,
  });
  const budgets = cfg.catalog.teams[p.team].budgets;
  if (r.maxTokens > budgets.tokensPerDay) {
    // It could never be served: a request error, not a budget to wait for.
    const param = r.body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
    throw errors.badRequest(
      `${param}: ${r.maxTokens} is more than the team's ${budgets.tokensPerDay} tokens per day`,
      param,
    );
  }
  const adapters = d.adapters?.();
  const call = route(cfg.catalog, r, adapters ? { routes: adapters.routes, requestId: ctx.id } : undefined);
  if (call.version) ctx.servedVersion = call.version;
  // What the registry adds to the catalog's classification of a flywheel adapter (decision and capture).
  const modelClass = adapters && modelClassificationOf(adapters, cfg.catalog, r.model);
  const usage = d.quota.admit(p.team, budgets);
  let decision;
  try {
    decision = await authorize(
      d,
      ctx,
      inferenceInput(ctx, p, r, usage, modelClass),
      decisionDeadlineMs(cfg, r.raw.length),
    );
    enforce(d, ctx, decision);
  } catch (e) {
    // A denied (or undecided) request does not use up the per-minute budget.
    d.quota.release(p.team);
    throw e;
  }
  const plan = planCapture(d, r, decision);
  let guardFlagged = false;
  const upstream: Omit<ProxyCall, "target"> = {
    req,
    res,
    body: call.body,
    stream: r.stream,
    clientWantsUsage: r.clientWantsUsage,
    collect: plan !== undefined && !optOut,
    promptTokensEstimate: Math.ceil(r.text.chars / 4),
    log: d.log,
    // With a guard configured, answers are screened: one more decision with the answer as the
    // assistant's turn, for a complete non-streaming answer as a whole, for a stream per window
    // of GATEWAY_GUARD_STREAM_WINDOW_CHARS (each with the window before it).
    screenWindowChars: cfg.guardStreamWindowChars,
    screen:
      cfg.guardTimeoutMs > 0 && r.endpoint !== "/v1/embeddings"
        ? async (text) => {
            const input = inferenceInput(ctx, p, r, usage);
            const t = r.text;
            const request = t.messages
              ? { ...input.request, messages: [...t.messages, { role: "assistant", content: text }] }
              : { ...input.request, prompt: `${t.prompt ?? ""}\n\n${text}` };
            const verdict = await authorize(
              d,
              ctx,
              { ...input, request },
              decisionDeadlineMs(cfg, r.raw.length + text.length),
            );
            if (verdict.allow) return undefined;
            guardFlagged = verdict.reasons.includes("guard_flagged");
            ctx.decision = "deny";
            ctx.reasons = verdict.reasons.map((x) => `response_${x}`);
            for (const x of ctx.reasons) d.metrics.denials.inc({ team: p.team, reason: x });
            return errors.forbidden(ctx.reasons);
          }
        : undefined,
    // The capture record and the audit row; with GATEWAY_AUDIT_SYNC both are on disk (fsynced)
    // before the answer's end reaches the client.
    beforeEnd: async (out) => {
      // A flagged answer or an opted-out request leaves a record without content (counted by the
      // dataset builder); any other answered request its redacted content.
      const captured =
        plan && (guardFlagged || (optOut && ctx.status === 200))
          ? capture(
              d,
              ctx,
              r,
              plan,
              null,
              cfg.catalog,
              { optOut, guardFlagged, modelClassification: modelClass },
              cfg.auditSync,
            )
          : plan && out.response
            ? capture(
                d,
                ctx,
                r,
                plan,
                out.response,
                cfg.catalog,
                { modelClassification: modelClass },
                cfg.auditSync,
              )
            : undefined;
      await Promise.all([captured, journal(d.accountDeps, ctx)]);
    },
  };
  // The router picks a replica of the model server (and retries once elsewhere when the first
  // fails before anything reached the client); without one, the Service URL.
  await sendRouted(
    d.router,
    call.upstream,
    { key: () => prefixKey(r.endpoint, r.body, call.upstreamModel), model: call.upstreamModel },
    () => res.headersSent,
    (base, report) =>
      proxy({ agents: d.agents, metrics: d.metrics, upstreamTimeoutMs: cfg.upstreamTimeoutMs }, ctx, {
        ...upstream,
        target: base + r.endpoint,
        // the key of this model server only (by its route, whichever replica serves it)
        apiKey: cfg.modelApiKeys?.get(call.upstream),
        // a replica's certificate must name its route's host (its Service), not its address
        serverName: routeHost(call.upstream),
        onUpstreamStatus: report,
      }),
  );
}

/** The host name of a route (what its replicas' certificates must name), parsed once per route. */
const routeHosts = new Map<string, string>();
function routeHost(route: string): string {
  let h = routeHosts.get(route);
  if (h === undefined) {
    h = new URL(route).hostname;
    if (routeHosts.size >= 4096) routeHosts.clear();
    routeHosts.set(route, h);
  }
  return h;
}
