/**
 * Per-team budgets: tokens per UTC day and requests per minute (fixed windows). Each replica
 * counts locally and, every few seconds, adopts the cluster-wide totals that all replicas write
 * to Postgres with their audit rows (`gateway_usage`), so budgets hold across replicas to within
 * one sync interval.
 */
import type { CatalogTeam } from "./config";
import { errors } from "./errors";

interface TeamUsage {
  day: number;
  minute: number;
  /** Tokens of the day: at least the last synced cluster total plus what this replica counted since. */
  tokens: number;
  requests: number;
  /** Monotonic counters of what this replica counted (for syncs). */
  counted: number;
  countedRequests: number;
}

export interface UsageSnapshot {
  readonly tokensToday: number;
  readonly requestsThisMinute: number;
}

const DAY = 86_400_000;
const MINUTE = 60_000;

export class QuotaTracker {
  private readonly usage = new Map<string, TeamUsage>();

  private entry(team: string, now: number): TeamUsage {
    const day = Math.floor(now / DAY);
    const minute = Math.floor(now / MINUTE);
    let u = this.usage.get(team);
    if (!u) {
      u = { day, minute, tokens: 0, requests: 0, counted: 0, countedRequests: 0 };
      this.usage.set(team, u);
    }
    if (u.day !== day) {
      u.day = day;
      u.tokens = 0;
    }
    if (u.minute !== minute) {
      u.minute = minute;
      u.requests = 0;
    }
    return u;
  }

  snapshot(team: string, now = Date.now()): UsageSnapshot {
    const u = this.entry(team, now);
    return { tokensToday: u.tokens, requestsThisMinute: u.requests };
  }

  /** Counts one request, or throws a 429 (with Retry-After) when a budget is spent. */
  admit(team: string, budgets: CatalogTeam["budgets"], now = Date.now()): UsageSnapshot {
    const u = this.entry(team, now);
    if (u.tokens >= budgets.tokensPerDay) {
      throw errors.rateLimited(
        `team "${team}" has used its ${budgets.tokensPerDay} tokens for today`,
        "budget_tokens_exceeded",
        retryAfter("day", now),
      );
    }
    if (u.requests >= budgets.requestsPerMinute) {
      throw errors.rateLimited(
        `team "${team}" has made its ${budgets.requestsPerMinute} requests this minute`,
        "budget_requests_exceeded",
        retryAfter("minute", now),
      );
    }
    const before = { tokensToday: u.tokens, requestsThisMinute: u.requests };
    u.requests++;
    u.countedRequests++;
    return before;
  }

  /** Gives back the request `admit` counted (the request was denied or failed before the model). */
  release(team: string, now = Date.now()): void {
    const u = this.entry(team, now);
    if (u.requests > 0) u.requests--;
    if (u.countedRequests > 0) u.countedRequests--;
  }

  addTokens(team: string, n: number, now = Date.now()): void {
    if (n <= 0) return;
    const u = this.entry(team, now);
    u.tokens += n;
    u.counted += n;
  }

  /** Marks the start of a sync: what this replica counts from now on is added to the totals read. */
  beginSync(): Map<string, { tokens: number; requests: number }> {
    const mark = new Map<string, { tokens: number; requests: number }>();
    for (const [team, u] of this.usage) mark.set(team, { tokens: u.counted, requests: u.countedRequests });
    return mark;
  }

  /** Adopts cluster-wide totals of the current day and minute read from Postgres. */
  endSync(
    mark: Map<string, { tokens: number; requests: number }>,
    totals: ReadonlyMap<string, { tokens: number; requests: number }>,
    now = Date.now(),
  ): void {
    const teams = new Set([...totals.keys(), ...this.usage.keys()]);
    for (const team of teams) {
      const u = this.entry(team, now);
      const m = mark.get(team) ?? { tokens: 0, requests: 0 };
      const t = totals.get(team) ?? { tokens: 0, requests: 0 };
      // Both are lower bounds of the cluster-wide usage (the totals miss this replica's rows
      // still queued for Postgres), so the larger one is kept.
      u.tokens = Math.max(u.tokens, t.tokens + (u.counted - m.tokens));
      u.requests = Math.max(u.requests, t.requests + (u.countedRequests - m.requests));
    }
  }
}

/** Seconds until the current window ends (at least 1). */
export function retryAfter(window: "day" | "minute", now: number): number {
  const len = window === "day" ? DAY : MINUTE;
  return Math.max(1, Math.ceil((len - (now % len)) / 1000));
}

/** Reason ids that mean a budget is spent (the policy's ids, see docs/authorization.md). */
export const BUDGET_REASONS: Readonly<Record<string, "day" | "minute">> = {
  budget_tokens_exceeded: "day",
  budget_requests_exceeded: "minute",
};

/**
 * When every reason of a denial is a spent budget, the window to retry after (answered 429);
 * otherwise undefined (a 403).
 */
export function quotaReason(reasons: readonly string[]): "day" | "minute" | undefined {
  if (!reasons.length || !reasons.every((r) => r in BUDGET_REASONS)) return undefined;
  return reasons.some((r) => BUDGET_REASONS[r] === "day") ? "day" : "minute";
}
