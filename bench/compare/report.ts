/**
 * Pure helpers of `npm run bench:gateway -- --compare ...`: the command line, vegeta's JSON
 * report, CPU time from /proc/<pid>/stat snapshots, and the printed table. No I/O here, so the
 * unit test (test/gateway/bench-compare.test.ts) runs them on fixed inputs.
 */

/** The proxies the comparison can add next to `direct` and `sovereign`. */
export const COMPETITORS = ["nginx", "litellm", "node"] as const;
export type Competitor = (typeof COMPETITORS)[number];

/**
 * `--compare litellm,nginx` or `--compare=litellm,nginx` → the competitors, in the canonical
 * order; `undefined` when the flag is absent. An empty or unknown name is an error naming it.
 */
export function parseCompareArg(argv: readonly string[]): Competitor[] | undefined {
  const i = argv.findIndex((a) => a === "--compare" || a.startsWith("--compare="));
  if (i < 0) return undefined;
  const value = argv[i].includes("=") ? argv[i].slice(argv[i].indexOf("=") + 1) : argv[i + 1];
  if (value === undefined || value === "" || value.startsWith("--")) {
    throw new Error(`--compare needs a list of proxies, one or more of: ${COMPETITORS.join(", ")}`);
  }
  const names = value.split(",").map((s) => s.trim().toLowerCase());
  for (const n of names) {
    if (!(COMPETITORS as readonly string[]).includes(n)) {
      throw new Error(`--compare: unknown proxy ${JSON.stringify(n)}; known: ${COMPETITORS.join(", ")}`);
    }
  }
  return COMPETITORS.filter((c) => names.includes(c));
}

/**
 * LiteLLM releases that were published by an attacker (a supply-chain compromise of the PyPI
 * package); the registry no longer serves them, and the bench refuses them by name.
 */
export const COMPROMISED_LITELLM = ["1.82.7", "1.82.8"] as const;

export function checkLitellmVersion(v: string): string {
  if (!/^\d+\.\d+\.\d+(\.post\d+)?$/.test(v)) {
    throw new Error(`BENCH_LITELLM_VERSION: ${JSON.stringify(v)} is not a release version like 1.108.7`);
  }
  if ((COMPROMISED_LITELLM as readonly string[]).includes(v)) {
    throw new Error(`BENCH_LITELLM_VERSION: litellm ${v} is a known-compromised release; pick another`);
  }
  return v;
}

/** One open-loop (or closed-loop) point, as vegeta reported it. Latencies in ms. */
export interface Point {
  requests: number;
  /** Responses with status 200. */
  ok: number;
  /** Requests that did not get a 200 (status ≠ 200, timeouts, connection errors). */
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** Requests per second actually sent. */
  rate: number;
  /** Successful requests per second (vegeta's `throughput`). */
  served: number;
  /** Distinct error strings vegeta saw. */
  errorKinds: string[];
}

/** `vegeta report -type=json` → a Point. A missing or mistyped field is an error naming it. */
export function parseVegetaReport(json: string): Point {
  let r: unknown;
  try {
    r = JSON.parse(json);
  } catch (e) {
    throw new Error(`vegeta report: not JSON (${(e as Error).message}): ${json.slice(0, 200)}`);
  }
  const num = (obj: unknown, pathStr: string): number => {
    let v: unknown = obj;
    for (const k of pathStr.split(".")) v = (v as Record<string, unknown> | null)?.[k];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`vegeta report: field ${pathStr} is missing or not a number`);
    }
    return v;
  };
  const requests = num(r, "requests");
  const codes = (r as { status_codes?: unknown }).status_codes;
  if (codes === null || typeof codes !== "object") {
    throw new Error("vegeta report: field status_codes is missing or not an object");
  }
  const ok = Number((codes as Record<string, unknown>)["200"] ?? 0);
  const errs = (r as { errors?: unknown }).errors;
  return {
    requests,
    ok,
    errors: requests - ok,
    p50: num(r, "latencies.50th") / 1e6,
    p99: num(r, "latencies.99th") / 1e6,
    max: num(r, "latencies.max") / 1e6,
    rate: num(r, "rate"),
    served: num(r, "throughput"),
    errorKinds: Array.isArray(errs) ? errs.map(String) : [],
  };
}

/** The fields of /proc/<pid>/stat the bench needs; CPU times in clock ticks. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime: this process's own CPU. */
  self: number;
  /** cutime + cstime: CPU of its children that exited and were waited for. */
  reaped: number;
}

/**
 * Parses one /proc/<pid>/stat line. The command name (field 2) is in parentheses and may itself
 * contain spaces and parentheses, so the fields after it are counted from the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open)
    throw new Error(`/proc stat: no (comm) in ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  // After ") ": state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) minflt(10)
  // cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15) cutime(16) cstime(17) ...
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const at = (field: number) => {
    const v = Number(f[field - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/${pid}/stat: field ${field} is not a number`);
    return v;
  };
  return { pid, ppid: at(4), self: at(14) + at(15), reaped: at(16) + at(17) };
}

/**
 * CPU ticks of `root` and all its descendants in one snapshot, counting the children that
 * already exited (cutime + cstime), so a worker that exits between two snapshots keeps its CPU
 * in the sum through its parent. A root missing from the snapshot counts 0.
 */
export function treeTicks(snapshot: readonly ProcStat[], root: number): number {
  const kids = new Map<number, ProcStat[]>();
  for (const s of snapshot) {
    const l = kids.get(s.ppid);
    if (l) l.push(s);
    else kids.set(s.ppid, [s]);
  }
  const top = snapshot.find((s) => s.pid === root);
  if (!top) return 0;
  let total = 0;
  const todo = [top];
  const seen = new Set<number>();
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s.pid)) continue;
    seen.add(s.pid);
    total += s.self + s.reaped;
    todo.push(...(kids.get(s.pid) ?? []));
  }
  return total;
}

/** CPU seconds per 1,000 requests from a tick delta (`hz` ticks per second, 100 on Linux). */
export function cpuSecondsPer1k(ticksBefore: number, ticksAfter: number, requests: number, hz = 100): number {
  if (requests <= 0) return NaN;
  return ((ticksAfter - ticksBefore) / hz / requests) * 1000;
}

/** A number with `d` decimals, or "n/a". */
export const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : "n/a");

/** A markdown table, right-aligned, columns as wide as their widest cell. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    "| " + head.map((_, i) => (r[i] ?? "").padStart(widths[i])).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(line)].join(
    "\n",
  );
}

/** "gateway 0.85, OPA 0.66" from per-process CPU seconds per 1k requests, in the given order. */
export function cpuCell(perProcess: readonly [string, number][]): string {
  const total = perProcess.reduce((a, [, v]) => a + (Number.isFinite(v) ? v : 0), 0);
  const parts = perProcess.map(([k, v]) => `${k} ${fmt(v)}`);
  return perProcess.length > 1 ? `${fmt(total)} (${parts.join(", ")})` : parts.join("");
}

/** Issue 17's targets for the gateway on the 2-core development machine. */
export const TARGETS = {
  /** Added p99 latency, ms, by request rate. */
  addedP99Ms: { 250: 1, 1000: 2 } as Readonly<Record<number, number>>,
  /** Closed-loop throughput with everything on, req/s. */
  closedLoopRps: 4000,
  /** Streaming time to first byte, added at p50, ms. */
  ttfbAddedP50Ms: 0.5,
  /** CPU of the gateway, the policy and audit (PostgreSQL) together, ms per request. */
  cpuMsPerRequest: 0.4,
} as const;

/** What one run measured of the gateway, for {@link targetLines}. */
export interface GatewayFigures {
  /** Added p99 latency, ms, by request rate. */
  readonly addedP99Ms: ReadonlyMap<number, number>;
  /** Gateway + policy + audit CPU, ms per request (= CPU seconds per 1,000 requests), by rate. */
  readonly cpuMsPerRequest: ReadonlyMap<number, number>;
  readonly closedLoopRps: number;
  readonly ttfbAddedP50Ms: number;
}

/** One line per target: the figure, the target, and MET or MISSED (or "not measured"). */
export function targetLines(f: GatewayFigures): string[] {
  const verdict = (v: number | undefined, ok: (v: number) => boolean, unit: string, want: string, d = 2) =>
    v === undefined || !Number.isFinite(v)
      ? `not measured (target ${want})`
      : `${ok(v) ? "MET" : "MISSED"}: ${fmt(v, d)}${unit} (target ${want})`;
  const out: string[] = [];
  for (const [rate, max] of Object.entries(TARGETS.addedP99Ms))
    out.push(
      `added p99 at ${rate} req/s: ${verdict(f.addedP99Ms.get(Number(rate)), (v) => v <= max, " ms", `<= ${max} ms`)}`,
    );
  out.push(
    `closed-loop throughput: ${verdict(f.closedLoopRps, (v) => v >= TARGETS.closedLoopRps, " req/s", `>= ${TARGETS.closedLoopRps} req/s`, 0)}`,
  );
  out.push(
    `streaming TTFB added at p50: ${verdict(f.ttfbAddedP50Ms, (v) => v <= TARGETS.ttfbAddedP50Ms, " ms", `<= ${TARGETS.ttfbAddedP50Ms} ms`)}`,
  );
  for (const [rate, v] of [...f.cpuMsPerRequest].sort(([a], [b]) => a - b))
    out.push(
      `CPU of gateway + policy + audit at ${rate} req/s: ${verdict(v, (x) => x <= TARGETS.cpuMsPerRequest, " ms per request", `<= ${TARGETS.cpuMsPerRequest} ms`)}`,
    );
  return out;
}
