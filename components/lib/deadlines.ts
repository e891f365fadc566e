/**
 * Deadlines that must agree between the gateway, OPA and the guard model (issue 15). A decision
 * may include a guard call (made by the gateway between two evaluations of the policy, with
 * `timeout` = the guard timeout; or by OPA's `http.send` for a consumer that calls OPA directly),
 * so the gateway's deadline for a decision has to cover the guard timeout plus the policy's own
 * evaluation, which grows with the text the policy reads. One function says how; the gateway
 * and the config rule (stacks/config/rules/deadlines.ts) both use it.
 */

/** OPA's own evaluation budget per decision, ms (`gateway.opaTimeoutMs`). */
export const OPA_EVALUATION_BUDGET_MS = 250;

/** Extra evaluation budget per MiB of request text the policy reads, ms. */
export const OPA_MS_PER_MIB = 1000;

/** The guard model's timeout when the config sets none (`policy.guardTimeoutMs`), ms. */
export const GUARD_TIMEOUT_DEFAULT_MS = 2000;

/**
 * The longest deadline a single decision may be given, ms. A larger one (a guard timeout of
 * 30 s, say) holds every request and a connection that long whenever the guard is slow; the
 * config rejects it.
 */
export const MAX_OPA_DEADLINE_MS = 10_000;

const MIB = 1024 * 1024;

export interface OpaDeadlineOptions {
  /** OPA's own evaluation budget, ms. @default {@link OPA_EVALUATION_BUDGET_MS} */
  readonly evaluationMs?: number;
  /** Bytes of text the policy reads for this request. @default 0 */
  readonly textBytes?: number;
  /** Extra budget per MiB of text, ms. @default {@link OPA_MS_PER_MIB} */
  readonly msPerMiB?: number;
}

/**
 * The gateway's deadline for one OPA decision: the guard timeout (when a guard is configured;
 * `undefined` or 0 when not), plus OPA's evaluation budget, plus an allowance for the text.
 * Always longer than the guard timeout, so a guard that answers in time is never cut off by
 * the gateway.
 */
export function opaDeadlineMs(guardTimeoutMs: number | undefined, o: OpaDeadlineOptions = {}): number {
  const evaluation = o.evaluationMs ?? OPA_EVALUATION_BUDGET_MS;
  const text = Math.ceil(((o.textBytes ?? 0) / MIB) * (o.msPerMiB ?? OPA_MS_PER_MIB));
  return (guardTimeoutMs ?? 0) + evaluation + text;
}
