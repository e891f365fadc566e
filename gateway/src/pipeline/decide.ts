/**
 * Stage 3: the authorization decision. The gateway counts the request against the team's
 * budgets, asks the policy (one decision, fail closed; the guard call in between when the policy
 * names one) and turns a denial into 403, or 429 when every
 * reason is a spent budget.
 */
import type { Classification } from "../../../components/lib/classification";
import type { AuthzDecision, AuthzInput } from "../../../components/lib/contracts";
import type { Principal } from "../auth";
import { errors } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { OPA_EVALUATION_BUDGET_MS } from "../../../components/lib/deadlines";
import type { GuardClient } from "../guard";
import { OpaUnavailable } from "../opa";
import type { PolicyEngine } from "../policy";
import { quotaReason, retryAfter } from "../quota";
import type { RequestContext } from "./context";
import type { InferenceRequest } from "./validate";

export interface DecideDeps {
  /** The policy engine: in process (Wasm) or OPA over HTTP (policy.ts). */
  readonly policy: PolicyEngine;
  readonly guard: GuardClient;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** The subject as the policy sees it. */
export function subjectOf(p: Principal): AuthzInput["subject"] {
  return { sub: p.sub, groups: p.groups, team: p.team, ...(p.clearance ? { clearance: p.clearance } : {}) };
}

/**
 * The policy input of an inference request. `modelClassification`: what the gateway knows of the
 * model's classification beyond the data document (a flywheel adapter's, from the registry).
 */
export function inferenceInput(
  ctx: RequestContext,
  p: Principal,
  r: InferenceRequest,
  usage: AuthzInput["context"]["usage"],
  modelClassification?: Classification,
): AuthzInput {
  const t = r.text;
  return {
    subject: subjectOf(p),
    request: {
      model: r.model,
      endpoint: r.endpoint,
      ...(t.messages ? { messages: t.messages } : { prompt: t.prompt }),
      estimatedTokens: Math.ceil(t.chars / 4) + r.maxTokens,
      ...(modelClassification ? { modelClassification } : {}),
    },
    context: { time: ctx.ts, clientAddress: ctx.clientAddress, usage },
  };
}

/**
 * One decision: the policy's plan; when it names a guard call, the gateway makes it and the
 * policy decides again with the verdict as `input.guard`. The whole decision, guard included,
 * has `deadlineMs` (components/lib/deadlines.ts); the guard call has its own timeout from the
 * policy data. Any failure is a 503 (fail closed) and is recorded as decision `error`.
 */
export async function authorize(
  d: DecideDeps,
  ctx: RequestContext,
  input: AuthzInput,
  deadlineMs = OPA_EVALUATION_BUDGET_MS,
): Promise<AuthzDecision> {
  const start = performance.now();
  try {
    let plan = await d.policy.plan(input, deadlineMs);
    if ("guard" in plan) {
      const verdict = await d.guard.ask(plan.guard);
      ctx.guard = verdict;
      const left = Math.floor(deadlineMs - (performance.now() - start));
      if (left <= 0) throw new OpaUnavailable(`no time left for the decision after the guard call`);
      plan = await d.policy.plan({ ...input, guard: verdict }, left);
      if (!("decision" in plan)) throw new OpaUnavailable("the policy asked for the guard twice");
    }
    return plan.decision;
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
