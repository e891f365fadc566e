/**
 * The canary state machine, property-tested: final states absorb every event, a candidate is
 * promoted only after its window with enough traffic inside every limit, a crossed limit always
 * rolls it back, and every transition leaves exactly one audit event forming one chain.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  crossedLimit,
  initialState,
  MAX_WINDOWS,
  run,
  step,
  type CanaryEvent,
  type CanaryLimits,
  type CanaryTotals,
} from "../../components/lib/flywheel-canary";

const MIN = 60_000;

const limitsArb: fc.Arbitrary<CanaryLimits> = fc.record({
  share: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
  windowMinutes: fc.integer({ min: 1, max: 120 }),
  minRequests: fc.integer({ min: 1, max: 500 }),
  maxErrorRate: fc.double({ min: 0, max: 0.2, noNaN: true }),
  maxLatencyRatio: fc.double({ min: 1, max: 3, noNaN: true }),
  maxGuardFlagRate: fc.double({ min: 0, max: 0.2, noNaN: true }),
});

/** Observations at increasing times with plausible counts (errors and flags mostly rare). */
const observationsArb = fc.array(
  fc
    .record({
      dt: fc.integer({ min: 0, max: 90 * MIN }),
      requests: fc.integer({ min: 0, max: 200 }),
      errPermille: fc.integer({ min: 0, max: 60 }),
      flagPermille: fc.integer({ min: 0, max: 60 }),
      latencyRatio: fc.option(fc.double({ min: 0.5, max: 4, noNaN: true })),
    })
    .map((o) => ({
      ...o,
      errors: Math.floor((o.requests * o.errPermille) / 1000),
      guardFlags: Math.floor((o.requests * o.flagPermille) / 1000),
    })),
  { maxLength: 25 },
);

type Obs = {
  dt: number;
  requests: number;
  errors: number;
  guardFlags: number;
  latencyRatio: number | null;
};

function toEvents(start: number, obs: readonly Obs[]): CanaryEvent[] {
  let t = start;
  return obs.map((o) => {
    t += o.dt;
    return {
      kind: "observe" as const,
      at: t,
      requests: o.requests,
      errors: o.errors,
      guardFlags: o.guardFlags,
      ...(o.latencyRatio !== null ? { p95LatencyMs: 100 * o.latencyRatio, stableP95LatencyMs: 100 } : {}),
    };
  });
}

describe("canary state machine", () => {
  it("GIVEN any run WHEN it reaches a final state THEN every later event is refused and nothing changes", () => {
    fc.assert(
      fc.property(limitsArb, observationsArb, observationsArb, (limits, a, b) => {
        const first = run(initialState("v1"), [{ kind: "start", at: 0 }, ...toEvents(0, a)], limits);
        fc.pre(first.state.phase === "promoted" || first.state.phase === "rolled_back");
        const more: CanaryEvent[] = [...toEvents(10_000 * MIN, b), { kind: "abort", at: 1e12, by: "ops" }];
        const second = run(first.state, more, limits);
        expect(second.state).toEqual(first.state);
        expect(second.audit).toEqual([]);
        expect(second.refused).toHaveLength(more.length);
      }),
      { numRuns: 300 },
    );
  });

  it("GIVEN any run WHEN promoted THEN the window had passed, traffic reached the minimum and no limit was ever crossed", () => {
    fc.assert(
      fc.property(limitsArb, observationsArb, (limits, obs) => {
        const events = toEvents(0, obs);
        const r = run(initialState("v1"), [{ kind: "start", at: 0 }, ...events], limits);
        if (r.state.phase !== "promoted") return;
        expect(r.state.at).toBeGreaterThanOrEqual(limits.windowMinutes * MIN);
        expect(r.state.totals.requests).toBeGreaterThanOrEqual(limits.minRequests);
        // replay: at every observation up to the promotion no limit was crossed
        const totals = { requests: 0, errors: 0, guardFlags: 0 };
        for (const e of events) {
          if (e.kind !== "observe" || e.at > r.state.at) break;
          totals.requests += e.requests;
          totals.errors += e.errors;
          totals.guardFlags += e.guardFlags;
          const lat =
            e.p95LatencyMs !== undefined && e.requests > 0
              ? { p95: e.p95LatencyMs, stableP95: e.stableP95LatencyMs! }
              : undefined;
          expect(crossedLimit(totals, limits, lat)).toBeUndefined();
        }
      }),
      { numRuns: 500 },
    );
  });

  it("GIVEN a canary WHEN an observation crosses a limit THEN it is rolled back at once with that reason", () => {
    fc.assert(
      fc.property(
        limitsArb,
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom("error_rate", "guard_flag_rate", "latency"),
        (limits, requests, which) => {
          const canary = step(initialState("v2"), { kind: "start", at: 0 }, limits).state;
          const over = (rate: number) => Math.min(requests, Math.floor(rate * requests) + 1);
          const e: CanaryEvent = {
            kind: "observe",
            at: MIN,
            requests,
            errors: which === "error_rate" ? over(limits.maxErrorRate) : 0,
            guardFlags: which === "guard_flag_rate" ? over(limits.maxGuardFlagRate) : 0,
            p95LatencyMs: which === "latency" ? 100 * limits.maxLatencyRatio + 1 : 100,
            stableP95LatencyMs: 100,
          };
          fc.pre(e.errors / requests > limits.maxErrorRate || which !== "error_rate");
          fc.pre(e.guardFlags / requests > limits.maxGuardFlagRate || which !== "guard_flag_rate");
          const s = step(canary, e, limits);
          expect(s.state.phase).toBe("rolled_back");
          expect(s.state.phase === "rolled_back" && s.state.reason).toBe(which);
          expect(s.audit).toEqual([
            expect.objectContaining({ from: "canary", to: "rolled_back", reason: which, version: "v2" }),
          ]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("GIVEN any run WHEN audited THEN there is one event per transition and they chain from candidate", () => {
    fc.assert(
      fc.property(limitsArb, observationsArb, fc.boolean(), (limits, obs, abort) => {
        const events: CanaryEvent[] = [{ kind: "start", at: 0 }, ...toEvents(0, obs)];
        if (abort) events.push({ kind: "abort", at: 1e12, by: "ops" });
        const r = run(initialState("v3"), events, limits);
        expect(r.audit[0]).toMatchObject({ from: "candidate", to: "canary", at: 0 });
        for (let i = 1; i < r.audit.length; i++) expect(r.audit[i].from).toBe(r.audit[i - 1].to);
        expect(r.audit.at(-1)!.to).toBe(r.state.phase);
        expect(r.audit.length).toBeLessThanOrEqual(2);
        if (abort) expect(["promoted", "rolled_back"]).toContain(r.state.phase);
      }),
      { numRuns: 300 },
    );
  });

  it("GIVEN a quiet canary WHEN traffic never reaches the minimum THEN it is rolled back after the last window, never promoted", () => {
    fc.assert(
      fc.property(limitsArb, (limits) => {
        const w = limits.windowMinutes * MIN;
        const events: CanaryEvent[] = [{ kind: "start", at: 0 }];
        for (let k = 1; k <= MAX_WINDOWS; k++)
          events.push({ kind: "observe", at: k * w, requests: 0, errors: 0, guardFlags: 0 });
        const r = run(initialState("v4"), events, limits);
        expect(r.state).toMatchObject({
          phase: "rolled_back",
          reason: "insufficient_traffic",
          at: MAX_WINDOWS * w,
        });
      }),
    );
  });

  it("GIVEN bad observations WHEN stepped THEN they are refused with a reason and change nothing", () => {
    const limits: CanaryLimits = {
      share: 0.1,
      windowMinutes: 10,
      minRequests: 10,
      maxErrorRate: 0.5,
      maxLatencyRatio: 2,
      maxGuardFlagRate: 0.5,
    };
    const c = step(initialState("v5"), { kind: "start", at: 1000 }, limits).state;
    const zero: CanaryTotals = { requests: 0, errors: 0, guardFlags: 0 };
    const bad: [CanaryEvent, RegExp][] = [
      [{ kind: "observe", at: 500, ...zero }, /time order/],
      [{ kind: "observe", at: 2000, requests: 1, errors: 2, guardFlags: 0 }, /errors and flags <= requests/],
      [{ kind: "observe", at: 2000, requests: -1, errors: 0, guardFlags: 0 }, /non-negative/],
      [{ kind: "start", at: 2000 }, /started already/],
      [{ kind: "observe", at: Number.NaN, ...zero }, /finite event time/],
    ];
    for (const [e, why] of bad) {
      const s = step(c, e, limits);
      expect(s.state).toBe(c);
      expect(s.refused).toMatch(why);
    }
  });
});
