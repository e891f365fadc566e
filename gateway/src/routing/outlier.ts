/**
 * Outlier detection of one replica, as a pure state machine. A replica that fails
 * `consecutiveFailures` times in a row (a connection that fails or breaks before the answer, a
 * timeout, a 5xx answer) is ejected for `baseEjectMs` times 2^(ejections so far), at most
 * `maxEjectMs`; once that time has passed it gets requests again. A success resets the count of
 * failures, and a success after an ejection forgets one earlier ejection, so a replica that
 * recovered is ejected for the base time again the next time it fails.
 */
export interface OutlierOptions {
  /** Failures in a row that eject a replica. @default 3 */
  readonly consecutiveFailures: number;
  /** First ejection, ms. @default 10000 */
  readonly baseEjectMs: number;
  /** Longest ejection, ms. @default 300000 */
  readonly maxEjectMs: number;
}

export const DEFAULT_OUTLIER: OutlierOptions = {
  consecutiveFailures: 3,
  baseEjectMs: 10_000,
  maxEjectMs: 300_000,
};

export interface OutlierState {
  /** Failures in a row since the last success or ejection. */
  readonly failures: number;
  /** Ejections not yet forgotten (each doubles the next ejection's time). */
  readonly ejections: number;
  /** Ejected until this time (ms); 0 when never ejected. */
  readonly ejectedUntil: number;
}

export const HEALTHY: OutlierState = { failures: 0, ejections: 0, ejectedUntil: 0 };

export function isEjected(s: OutlierState, now: number): boolean {
  return now < s.ejectedUntil;
}

/** The ejection time after `ejections` earlier ones. */
export function ejectionMs(ejections: number, o: OutlierOptions): number {
  return Math.min(o.maxEjectMs, o.baseEjectMs * 2 ** Math.min(ejections, 30));
}

/** The state after one request's outcome at `now`. */
export function record(s: OutlierState, ok: boolean, now: number, o: OutlierOptions): OutlierState {
  if (ok)
    return {
      failures: 0,
      ejections: s.ejections > 0 && !isEjected(s, now) ? s.ejections - 1 : s.ejections,
      ejectedUntil: s.ejectedUntil,
    };
  // Failures of requests sent before the ejection (still in flight) do not extend it.
  if (isEjected(s, now)) return s;
  const failures = s.failures + 1;
  if (failures < o.consecutiveFailures) return { ...s, failures };
  return { failures: 0, ejections: s.ejections + 1, ejectedUntil: now + ejectionMs(s.ejections, o) };
}
