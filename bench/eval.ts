/**
 * `npm run bench:eval`: for each shipped stack, the wall time and peak memory (max RSS) of
 * evaluating the whole program under mocks, each in a fresh process. Budget: < 5 s, < 600 MiB.
 *
 * `eval` covers loading the program's modules, validating the config and registering every
 * resource until the mock engine has seen them all; `process` adds Node and tsx start-up.
 * Pulumi records a source position for every resource by asking V8 for an unbounded stack
 * trace; with source maps on (as under tsx and vitest) each of those traces is mapped, which
 * costs seconds for a few hundred resources. Both figures are printed; the budget is checked
 * against the eval time with source maps on, the slower and more conservative one.
 */
import { spawnSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { shippedStacks } from "../stacks/config/load";

const BUDGET_MS = 5000;
const BUDGET_MIB = 600;
const runs = Number(process.env.BENCH_RUNS ?? 3);

interface Sample {
  readonly ms: number;
  readonly wall: number;
  readonly rssMiB: number;
  readonly resources: number;
}

function sample(stack: string, sourceMaps: boolean): Sample {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "eval-one.ts"), stack], {
    encoding: "utf8",
    env: { ...process.env, BENCH_SOURCE_MAPS: sourceMaps ? "on" : "off" },
  });
  const wall = Date.now() - t0;
  if (r.status !== 0) {
    console.error(`${stack}: failed\n${r.stderr}`);
    process.exit(1);
  }
  const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
  return { ms: j.ms, wall, rssMiB: j.rssMiB, resources: j.resources };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const rows: string[][] = [];
let failed = false;
for (const stack of shippedStacks()) {
  const on: Sample[] = [];
  const off: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    on.push(sample(stack, true));
    off.push(sample(stack, false));
  }
  const ms = median(on.map((s) => s.ms));
  const rss = Math.max(...on.map((s) => s.rssMiB), ...off.map((s) => s.rssMiB));
  const ok = ms < BUDGET_MS && rss < BUDGET_MIB;
  failed ||= !ok;
  rows.push([
    stack,
    String(on[0].resources),
    secs(ms),
    secs(median(off.map((s) => s.ms))),
    secs(median(on.map((s) => s.wall))),
    `${rss.toFixed(0)} MiB`,
    ok ? "ok" : "OVER BUDGET",
  ]);
}
const header = [
  "stack",
  "resources",
  "eval (source maps on)",
  "eval (source maps off)",
  "process (maps on)",
  "peak RSS",
  `budget (<${BUDGET_MS / 1000} s, <${BUDGET_MIB} MiB)`,
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
console.log(line(header));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
rows.forEach((r) => console.log(line(r)));
console.log(
  `(median of ${runs} runs per stack and mode; load average ${os.loadavg()[0].toFixed(2)} at the end)`,
);
process.exit(failed ? 1 : 0);
