/**
 * The pure helpers of `npm run bench:gateway -- --compare ...` (bench/compare/report.ts): the
 * flag, vegeta's JSON report, /proc/<pid>/stat and CPU per 1,000 requests. No timing here: the
 * numbers live in the bench's output.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import {
  checkLitellmVersion,
  cpuCell,
  cpuSecondsPer1k,
  markdownTable,
  parseCompareArg,
  parseProcStat,
  parseVegetaReport,
  targetLines,
  treeTicks,
  type ProcStat,
} from "../../bench/compare/report";

// A report as `vegeta report -type=json` prints it (v12.13.0), from a saturated point.
const REPORT = {
  latencies: {
    total: 1_234_567_890_000,
    mean: 2_469_135_780,
    "50th": 1_450_000,
    "90th": 8_000_000,
    "95th": 12_500_000,
    "99th": 13_500_000_000,
    max: 14_000_000_000,
    min: 310_000,
  },
  bytes_in: { total: 123_000, mean: 246 },
  bytes_out: { total: 62_000, mean: 124 },
  earliest: "2026-12-05T15:20:00.000000001Z",
  latest: "2026-12-05T15:20:04.996000001Z",
  end: "2026-12-05T15:20:05.001000001Z",
  duration: 4_996_000_000,
  wait: 5_000_000,
  requests: 500,
  rate: 100.08,
  throughput: 86.5,
  success: 0.866,
  status_codes: { "0": 12, "200": 433, "503": 55 },
  errors: [
    "503 Service Unavailable",
    'Post "http://127.0.0.1:1/v1/chat/completions": context deadline exceeded',
  ],
};

describe("vegeta's JSON report", () => {
  it("gives latencies in ms, every non-200 as an error, and the served rate", () => {
    const p = parseVegetaReport(JSON.stringify(REPORT));
    expect(p).toEqual({
      requests: 500,
      ok: 433,
      errors: 67, // 12 that got no response + 55 with 503
      p50: 1.45,
      p99: 13_500,
      max: 14_000,
      rate: 100.08,
      served: 86.5,
      errorKinds: REPORT.errors,
    });
  });

  it("counts a report without a single 200 as all errors", () => {
    const p = parseVegetaReport(JSON.stringify({ ...REPORT, status_codes: { "0": 500 } }));
    expect(p.ok).toBe(0);
    expect(p.errors).toBe(500);
  });

  it("names the field that is missing, and says when it is not JSON", () => {
    const { "99th": _drop, ...lat } = REPORT.latencies;
    expect(() => parseVegetaReport(JSON.stringify({ ...REPORT, latencies: lat }))).toThrow(
      "vegeta report: field latencies.99th is missing or not a number",
    );
    expect(() => parseVegetaReport(JSON.stringify({ ...REPORT, status_codes: undefined }))).toThrow(
      "field status_codes",
    );
    expect(() => parseVegetaReport("Requests [total] 500")).toThrow("vegeta report: not JSON");
  });
});

/** A /proc/<pid>/stat line (52 fields) with the given command name and times. */
function statLine(
  pid: number,
  comm: string,
  ppid: number,
  utime: number,
  stime: number,
  cutime = 0,
  cstime = 0,
) {
  const rest = ["S", ppid, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, utime, stime, cutime, cstime];
  return `${pid} (${comm}) ${[...rest, ...Array(37).fill(0)].join(" ")}\n`;
}

describe("/proc/<pid>/stat", () => {
  it("reads the fields after the LAST parenthesis, whatever the command name holds", () => {
    expect(parseProcStat(statLine(4242, "nginx: worker (1) ) x", 4000, 120, 30, 7, 3))).toEqual({
      pid: 4242,
      ppid: 4000,
      self: 150,
      reaped: 10,
    });
  });

  it("agrees with the kernel's own line for this process", () => {
    const s = parseProcStat(fs.readFileSync("/proc/self/stat", "utf8"));
    expect(s.pid).toBe(process.pid);
    expect(s.ppid).toBe(process.ppid);
    expect(s.self).toBeGreaterThanOrEqual(0);
  });

  it("refuses a line without a command name", () => {
    expect(() => parseProcStat("garbage")).toThrow("/proc stat: no (comm)");
  });
});

describe("CPU of a process tree per 1,000 requests", () => {
  const snap = (workerTicks: number, masterReaped: number): ProcStat[] => [
    { pid: 1, ppid: 0, self: 9999, reaped: 0 }, // not in the tree
    { pid: 100, ppid: 1, self: 10, reaped: masterReaped }, // nginx master
    { pid: 101, ppid: 100, self: workerTicks, reaped: 0 }, // worker
    { pid: 102, ppid: 100, self: 5, reaped: 0 }, // worker
    { pid: 103, ppid: 101, self: 2, reaped: 0 }, // a grandchild
    { pid: 200, ppid: 1, self: 777, reaped: 0 }, // a sibling tree
  ];

  it("sums the root, its children and grandchildren, and the children that already exited", () => {
    expect(treeTicks(snap(40, 3), 100)).toBe(10 + 3 + 40 + 5 + 2);
    expect(treeTicks(snap(40, 3), 200)).toBe(777);
    expect(treeTicks(snap(40, 3), 12345)).toBe(0);
  });

  it("keeps the CPU of a worker that exited between two snapshots (through its parent)", () => {
    const before = snap(40, 0);
    const after = snap(40, 0)
      .filter((s) => s.pid !== 101 && s.pid !== 103)
      .map((s) => (s.pid === 100 ? { ...s, reaped: 40 + 30 + 2 } : s)); // 101 ran 30 more, then exited
    expect(treeTicks(after, 100) - treeTicks(before, 100)).toBe(30);
  });

  it("turns ticks into CPU seconds per 1,000 requests", () => {
    // 85 ticks of 10 ms = 0.85 s over 1,000 requests
    expect(cpuSecondsPer1k(1000, 1085, 1000)).toBeCloseTo(0.85, 10);
    expect(cpuSecondsPer1k(0, 85, 500)).toBeCloseTo(1.7, 10);
    expect(cpuSecondsPer1k(0, 85, 0)).toBeNaN();
    expect(
      cpuCell([
        ["gateway", 0.85],
        ["OPA", 0.66],
        ["PostgreSQL", 0.08],
      ]),
    ).toBe("1.59 (gateway 0.85, OPA 0.66, PostgreSQL 0.08)");
  });
});

describe("the --compare flag", () => {
  it("accepts both spellings and returns the proxies in a fixed order", () => {
    expect(parseCompareArg(["--compare", "litellm,nginx"])).toEqual(["nginx", "litellm"]);
    expect(parseCompareArg(["--compare=LiteLLM"])).toEqual(["litellm"]);
    expect(parseCompareArg(["--compare", "node,litellm,nginx"])).toEqual(["nginx", "litellm", "node"]);
    expect(parseCompareArg([])).toBeUndefined();
  });

  it("names an unknown or missing proxy", () => {
    expect(() => parseCompareArg(["--compare", "litellm,envoy"])).toThrow(
      '--compare: unknown proxy "envoy"; known: nginx, litellm, node',
    );
    expect(() => parseCompareArg(["--compare"])).toThrow("--compare needs a list of proxies");
  });

  it("refuses the LiteLLM releases that were published by an attacker", () => {
    expect(checkLitellmVersion("1.108.7")).toBe("1.108.7");
    expect(() => checkLitellmVersion("1.82.8")).toThrow("known-compromised");
    expect(() => checkLitellmVersion("latest")).toThrow("BENCH_LITELLM_VERSION");
  });
});

describe("the printed table", () => {
  it("right-aligns every column to its widest cell", () => {
    expect(markdownTable(["a", "bb"], [["100", "1"]])).toBe("|   a | bb |\n|-----|----|\n| 100 |  1 |");
  });
});

describe("the targets line", () => {
  it("says MET or MISSED per target, with the figure, and which targets a run did not measure", () => {
    const lines = targetLines({
      addedP99Ms: new Map([
        [100, 9],
        [250, 0.8],
        [1000, 2.5],
      ]),
      cpuMsPerRequest: new Map([
        [250, 0.39],
        [100, 0.41],
      ]),
      closedLoopRps: 4000,
      ttfbAddedP50Ms: 0.51,
    });
    expect(lines).toEqual([
      "added p99 at 250 req/s: MET: 0.80 ms (target <= 1 ms)",
      "added p99 at 1000 req/s: MISSED: 2.50 ms (target <= 2 ms)",
      "closed-loop throughput: MET: 4000 req/s (target >= 4000 req/s)",
      "streaming TTFB added at p50: MISSED: 0.51 ms (target <= 0.5 ms)",
      "CPU of gateway + policy + audit at 100 req/s: MISSED: 0.41 ms per request (target <= 0.4 ms)",
      "CPU of gateway + policy + audit at 250 req/s: MET: 0.39 ms per request (target <= 0.4 ms)",
    ]);
    const none = targetLines({
      addedP99Ms: new Map(),
      cpuMsPerRequest: new Map(),
      closedLoopRps: NaN,
      ttfbAddedP50Ms: NaN,
    });
    expect(none[0]).toBe("added p99 at 250 req/s: not measured (target <= 1 ms)");
    expect(none).toHaveLength(4);
  });
});
