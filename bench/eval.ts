/**
 * `npm run bench:eval`: for each shipped stack, the wall time and peak memory (max RSS) of
 * evaluating the whole program under mocks, each in a fresh process. Budget: < 5 s, < 600 MiB.
 * `eval wall` covers loading the program's modules, validating the config and registering every
 * resource until the mock engine has seen them all; `process wall` adds Node and tsx start-up.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { shippedStacks } from "../stacks/config/load";

const BUDGET_MS = 5000;
const BUDGET_MIB = 600;
const runs = Number(process.env.BENCH_RUNS ?? 3);

const rows: string[][] = [];
let failed = false;
for (const stack of shippedStacks()) {
  const samples: { ms: number; wall: number; rssMiB: number; resources: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "eval-one.ts"), stack], {
      encoding: "utf8",
    });
    const wall = Date.now() - t0;
    if (r.status !== 0) {
      console.error(`${stack}: failed\n${r.stderr}`);
      process.exit(1);
    }
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
    samples.push({ ms: j.ms, wall, rssMiB: j.rssMiB, resources: j.resources });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ms = median(samples.map((s) => s.ms));
  const wall = median(samples.map((s) => s.wall));
  const rss = Math.max(...samples.map((s) => s.rssMiB));
  const ok = ms < BUDGET_MS && rss < BUDGET_MIB;
  failed ||= !ok;
  rows.push([
    stack,
    String(samples[0].resources),
    `${(ms / 1000).toFixed(2)} s`,
    `${(wall / 1000).toFixed(2)} s`,
    `${rss.toFixed(0)} MiB`,
    ok ? "ok" : "OVER BUDGET",
  ]);
}
const header = [
  "stack",
  "resources",
  "eval wall (median)",
  "process wall (median)",
  "peak RSS",
  `budget (<${BUDGET_MS / 1000} s, <${BUDGET_MIB} MiB)`,
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
console.log(line(header));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
rows.forEach((r) => console.log(line(r)));
console.log(`(${runs} runs per stack)`);
process.exit(failed ? 1 : 0);
