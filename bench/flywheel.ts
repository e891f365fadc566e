/**
 * `npm run bench:flywheel`: the dataset builder's wall time, peak memory (max RSS) and records
 * per second for N = 10k and 100k synthetic capture records, with the decisions of a real OPA
 * (the pinned binary serving policies/data/data_access.rego). Each build runs in a fresh Python
 * process of the trainer venv (trainer/setup-tests.sh), on one core (the builder is
 * single-threaded). Target: >= 20k records/s; peak memory should not grow with N. "build CPU s"
 * is the builder's own CPU time: on a loaded machine it, not the wall time, says what one core does.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const SIZES = (process.env.BENCH_SIZES ?? "10000,100000").split(",").map(Number);

function venvPython(): string {
  const r = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${r.stderr}`);
  return path.join(r.stdout.trim().split("\n").pop()!, "bin/python");
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function main(): Promise<void> {
  const opaBin = path.join(ROOT, ".tools/bin/opa");
  if (!fs.existsSync(opaBin))
    throw new Error(`OPA is not installed at ${opaBin}: run \`bash scripts/tools.sh\``);
  const py = venvPython();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-flywheel-"));
  const data = path.join(dir, "data.json");
  fs.writeFileSync(
    data,
    JSON.stringify({
      sovereign: {
        teams: {
          research: {
            oidcGroup: "g",
            clearance: "confidential",
            trainableClassifications: ["public", "internal", "confidential"],
          },
        },
      },
    }),
  );
  const port = await freePort();
  const opa = spawn(opaBin, [
    "run",
    "--server",
    `--addr=127.0.0.1:${port}`,
    "--log-level=error",
    path.join(ROOT, "policies/data/data_access.rego"),
    data,
  ]);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      if (i > 200) throw new Error("OPA did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const script = path.join(__dirname, "flywheel_builder.py");
  const rows: string[] = [];
  try {
    for (const n of SIZES) {
      const file = path.join(dir, `captures-${n}.jsonl`);
      const g = spawnSync(py, [script, "generate", String(n), file], { encoding: "utf8" });
      if (g.status !== 0) throw new Error(g.stderr);
      const t0 = Date.now();
      const r = spawnSync("taskset", ["-c", "0", py, script, "build", file, url], { encoding: "utf8" });
      const wall = (Date.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(r.stderr);
      const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
      rows.push(
        `| ${n} | ${(fs.statSync(file).size / 2 ** 20).toFixed(1)} | ${j.kept} | ${j.opa_decisions} | ${j.seconds.toFixed(2)} | ${j.cpu_seconds.toFixed(2)} | ${wall.toFixed(2)} | ${Math.round(j.records_per_s)} | ${Math.round(j.records_per_cpu_s)} | ${(j.max_rss_kib / 1024).toFixed(0)} |`,
      );
    }
  } finally {
    opa.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    "| records | input MiB | kept | OPA decisions | build s | build CPU s | process wall s | records/s | records/CPU-s | peak RSS MiB |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(r);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
