/**
 * The canary state machine of one adapter version (docs/flywheel.md). Pure: a state and an event
 * in, the next state and the audit events out; the controller stores the state in the registry
 * (Postgres) and acts on it (load the adapter into vLLM, set the gateway's split, unload).
 *
 *   candidate --start--> canary(share) --observe: a limit crossed---------> rolled_back
 *                                      --observe: window over, enough traffic--> promoted
 *                                      --observe: 4 windows, too little traffic--> rolled_back
 *   candidate | canary --abort--> rolled_back
 *
 * promoted and rolled_back are final: every later event is refused (the state does not change).
 * Rates are cumulative over the canary; latency is compared per observation (candidate p95 over
 * the stable version's p95 of the same interval). A limit is crossed as soon as the counts cross
 * it, whatever the sample size: rolling back early is the safe side.
 */

export interface CanaryLimits {
  /** Share of the team's requests for the adapter routed to the candidate, (0, 0.5]. */
  readonly share: number;
  readonly windowMinutes: number;
  readonly minRequests: number;
  readonly maxErrorRate: number;
  readonly maxLatencyRatio: number;
  readonly maxGuardFlagRate: number;
}

export interface CanaryTotals {
  readonly requests: number;
  readonly errors: number;
  readonly guardFlags: number;
}

export type CanaryState =
  | { readonly phase: "candidate"; readonly version: string }
  | {
      readonly phase: "canary";
      readonly version: string;
      readonly share: number;
      readonly since: number;
      readonly totals: CanaryTotals;
      readonly lastAt: number;
    }
  | {
      readonly phase: "promoted";
      readonly version: string;
      readonly at: number;
      readonly totals: CanaryTotals;
    }
  | {
      readonly phase: "rolled_back";
      readonly version: string;
      readonly at: number;
      readonly reason: RollbackReason;
      readonly totals: CanaryTotals;
    };

export type RollbackReason =
  "error_rate" | "latency" | "guard_flag_rate" | "insufficient_traffic" | "aborted";

/**
 * The audit reason the controller records when a candidate cannot be loaded into every replica
 * (no replica lists it within the load timeout, or a replica refuses it); the canary never starts
 * and is then aborted (`rolled_back`, reason `aborted`). The config warning for a base model that
 * cannot load adapters at runtime names this reason (stacks/config/warnings.ts).
 */
export const LOAD_FAILED_REASON = "load_failed";

export type CanaryEvent =
  | { readonly kind: "start"; readonly at: number }
  /** Counts since the previous observation, and the p95 latencies of the same interval. */
  | {
      readonly kind: "observe";
      readonly at: number;
      readonly requests: number;
      readonly errors: number;
      readonly guardFlags: number;
      readonly p95LatencyMs?: number;
      readonly stableP95LatencyMs?: number;
    }
  | { readonly kind: "abort"; readonly at: number; readonly by: string };

export interface AuditEvent {
  readonly type: "flywheel.canary.transition";
  readonly version: string;
  readonly from: CanaryState["phase"];
  readonly to: CanaryState["phase"];
  readonly at: number;
  readonly reason: string;
  readonly totals?: CanaryTotals;
}

export interface Step {
  readonly state: CanaryState;
  /** One audit event per transition; empty when the state did not change. */
  readonly audit: readonly AuditEvent[];
  /** Why an event was refused (final state, time going backwards, bad counts). */
  readonly refused?: string;
}

/** Windows of too little traffic after which the candidate is rolled back. */
export const MAX_WINDOWS = 4;

export function initialState(version: string): CanaryState {
  return { phase: "candidate", version };
}

function transition(from: CanaryState, to: CanaryState, at: number, reason: string): Step {
  const totals = to.phase === "candidate" ? undefined : to.totals;
  return {
    state: to,
    audit: [
      {
        type: "flywheel.canary.transition",
        version: from.version,
        from: from.phase,
        to: to.phase,
        at,
        reason,
        ...(totals ? { totals } : {}),
      },
    ],
  };
}

function refuse(state: CanaryState, why: string): Step {
  return { state, audit: [], refused: why };
}

const ZERO: CanaryTotals = { requests: 0, errors: 0, guardFlags: 0 };

/** The limit the totals (and this interval's latency) cross, if any, in a fixed order. */
export function crossedLimit(
  totals: CanaryTotals,
  limits: CanaryLimits,
  latency?: { readonly p95: number; readonly stableP95: number },
): Exclude<RollbackReason, "insufficient_traffic" | "aborted"> | undefined {
  if (totals.requests > 0 && totals.errors / totals.requests > limits.maxErrorRate) return "error_rate";
  if (totals.requests > 0 && totals.guardFlags / totals.requests > limits.maxGuardFlagRate)
    return "guard_flag_rate";
  if (latency && latency.stableP95 > 0 && latency.p95 / latency.stableP95 > limits.maxLatencyRatio)
    return "latency";
  return undefined;
}

export function step(state: CanaryState, event: CanaryEvent, limits: CanaryLimits): Step {
  if (state.phase === "promoted" || state.phase === "rolled_back")
    return refuse(state, `version ${state.version} is ${state.phase}: no further transitions`);
  if (!Number.isFinite(event.at)) return refuse(state, `expected a finite event time, found ${event.at}`);
  if (event.kind === "abort") {
    const totals = state.phase === "canary" ? state.totals : ZERO;
    return transition(
      state,
      { phase: "rolled_back", version: state.version, at: event.at, reason: "aborted", totals },
      event.at,
      `aborted by ${event.by}`,
    );
  }
  if (state.phase === "candidate") {
    if (event.kind !== "start")
      return refuse(state, "a candidate takes no observations before its canary starts");
    return transition(
      state,
      {
        phase: "canary",
        version: state.version,
        share: limits.share,
        since: event.at,
        totals: ZERO,
        lastAt: event.at,
      },
      event.at,
      `canary at ${limits.share} of the traffic`,
    );
  }
  // canary
  if (event.kind === "start") return refuse(state, "the canary has started already");
  if (event.at < state.lastAt)
    return refuse(state, `expected observations in time order, found ${event.at} < ${state.lastAt}`);
  const counts = [event.requests, event.errors, event.guardFlags];
  if (
    counts.some((n) => !Number.isInteger(n) || n < 0) ||
    event.errors > event.requests ||
    event.guardFlags > event.requests
  )
    return refuse(
      state,
      `expected whole, non-negative counts with errors and flags <= requests, found ${counts.join("/")}`,
    );
  const totals: CanaryTotals = {
    requests: state.totals.requests + event.requests,
    errors: state.totals.errors + event.errors,
    guardFlags: state.totals.guardFlags + event.guardFlags,
  };
  const latency =
    event.p95LatencyMs !== undefined && event.stableP95LatencyMs !== undefined && event.requests > 0
      ? { p95: event.p95LatencyMs, stableP95: event.stableP95LatencyMs }
      : undefined;
  const crossed = crossedLimit(totals, limits, latency);
  if (crossed)
    return transition(
      state,
      { phase: "rolled_back", version: state.version, at: event.at, reason: crossed, totals },
      event.at,
      crossed,
    );
  const windowMs = limits.windowMinutes * 60_000;
  const elapsed = event.at - state.since;
  if (elapsed >= windowMs && totals.requests >= limits.minRequests)
    return transition(
      state,
      { phase: "promoted", version: state.version, at: event.at, totals },
      event.at,
      `window of ${limits.windowMinutes} min over with ${totals.requests} requests within every limit`,
    );
  if (elapsed >= MAX_WINDOWS * windowMs)
    return transition(
      state,
      {
        phase: "rolled_back",
        version: state.version,
        at: event.at,
        reason: "insufficient_traffic",
        totals,
      },
      event.at,
      `insufficient_traffic: ${totals.requests} < ${limits.minRequests} requests in ${MAX_WINDOWS} windows`,
    );
  return { state: { ...state, totals, lastAt: event.at }, audit: [] };
}

/** Folds events over a state; the audit trail of every transition, in order. */
export function run(
  state: CanaryState,
  events: readonly CanaryEvent[],
  limits: CanaryLimits,
): { state: CanaryState; audit: AuditEvent[]; refused: string[] } {
  const audit: AuditEvent[] = [];
  const refused: string[] = [];
  for (const e of events) {
    const s = step(state, e, limits);
    state = s.state;
    audit.push(...s.audit);
    if (s.refused) refused.push(s.refused);
  }
  return { state, audit, refused };
}
