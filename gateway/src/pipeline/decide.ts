/**
 * Stage 3: the authorization decision. The gateway counts the request against the team's
 * budgets, asks OPA (one decision, fail closed) and turns a denial into 403, or 429 when every
 * reason is a spent budget.
 */
import type { AuthzDecision, AuthzInput } from "../../../components/lib/contracts";
import type { Principal } from "../auth";
import { errors } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { OpaUnavailable, type OpaClient } from "../opa";
import { quotaReason, retryAfter } from "../quota";
import type { RequestContext } from "./context";
import type { InferenceRequest } from "./validate";

export interface DecideDeps {
  readonly opa: OpaClient;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** The subject as the policy sees it. */
export function subjectOf(p: Principal): AuthzInput["subject"] {
  return { sub: p.sub, groups: p.groups, team: p.team, ...(p.clearance ? { clearance: p.clearance } : {}) };
}

/** The policy input of an inference request. */
export function inferenceInput(
  ctx: RequestContext,
  p: Principal,
  r: InferenceRequest,
  usage: AuthzInput["context"]["usage"],
): AuthzInput {
  const t = r.text;
  return {
    subject: subjectOf(p),
    request: {
      model: r.model,
      endpoint: r.endpoint,
      ...(t.messages ? { messages: t.messages } : { prompt: t.prompt }),
      estimatedTokens: Math.ceil(t.chars / 4) + r.maxTokens,
    },
    context: { time: ctx.ts, clientAddress: ctx.clientAddress, usage },
  };
}

/** Asks OPA; any failure is a 503 (fail closed) and is recorded as decision `error`. */
export async function authorize(
  d: DecideDeps,
  ctx: RequestContext,
  input: AuthzInput,
  deadlineMs?: number,
): Promise<AuthzDecision> {
  try {
    return await d.opa.decide(input, deadlineMs);
  } catch (e) {
    d.metrics.opaErrors.inc();
    ctx.decision = "error";
    if (e instanceof OpaUnavailable) d.log.warn("opa unavailable", { requestId: ctx.id, error: e.message });
    throw errors.unavailable("authorization service unavailable", "authorization_unavailable");
  }
}

/** Records the decision on `ctx`; a denial throws 403, or 429 when only budgets deny. */
export function enforce(d: Pick<DecideDeps, "metrics">, ctx: RequestContext, decision: AuthzDecision): void {
  ctx.decision = decision.allow ? "allow" : "deny";
  ctx.reasons = decision.reasons;
  if (decision.allow) return;
  const team = ctx.principal?.team ?? "";
  for (const r of decision.reasons.length ? decision.reasons : ["denied"])
    d.metrics.denials.inc({ team, reason: r });
  const q = quotaReason(decision.reasons);
  if (q)
    throw errors.rateLimited(
      `budget exceeded: ${decision.reasons.join(", ")}`,
      decision.reasons[0],
      retryAfter(q, Date.now()),
    );
  throw errors.forbidden(decision.reasons);
}
