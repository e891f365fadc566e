/**
 * `npm run bench:gateway -- --compare litellm,nginx`: the gateway side by side with other
 * proxies, in one run, against the same fake upstream (bench/gateway-upstream.ts), at the same
 * fixed rates, with one open-loop load generator (vegeta), on loopback only:
 *   direct     the load generator calls the upstream
 *   nginx      a bare nginx reverse-proxy hop (kept-alive upstream pool, no buffering)
 *   node hop   a bare node:http reverse proxy (keep-alive agent, bodies piped): Node's own floor
 *   sovereign  the gateway as bench/gateway.ts sets it up: OIDC (RS256), real OPA with the
 *              project's policy (one decision per request), real PostgreSQL (one audit row)
 *   litellm    LiteLLM's proxy, two workers, master key only (no database, no callbacks)
 * For every rate: p50/p99 latency (to the last byte), added over direct at the same percentile,
 * errors, served rate, and CPU seconds per 1,000 requests of every server process and its
 * children (from /proc/<pid>/stat before and after). Then a closed-loop maximum-throughput line
 * (32 concurrent callers, vegeta -rate=0) and streaming time to first byte at 100 req/s (vegeta
 * only times the whole response, so TTFB comes from a small open-loop Node client).
 *
 * Env: BENCH_RATES (default 100,250,500,1000), BENCH_SECONDS per point (default 5),
 * BENCH_TIMEOUT_S per request (default 10: a saturated proxy cannot stretch a point for longer),
 * BENCH_LITELLM_VERSION (default 1.108.7), SOVEREIGN_TOOLS_CACHE (where vegeta and the LiteLLM
 * venv are installed; default ~/.cache/sovereign). Every process this starts is killed (with its
 * process group) however the run ends.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { TestIdp } from "../../gateway/test/helpers/oidc";
import { catalogOf, testOpaData } from "../../gateway/test/helpers/world";
import { freePort, startPostgres } from "../../test/helpers/postgres";
import { benchPolicyEnv } from "../gateway-policy";
import { toolPath } from "../../test/helpers/tools";
import { ensureLitellm, ensureNginx, ensureVegeta, litellmVersion, VEGETA_VERSION } from "./install";
import {
  cpuCell,
  cpuSecondsPer1k,
  fmt,
  markdownTable,
  parseProcStat,
  parseVegetaReport,
  targetLines,
  treeTicks,
  type Competitor,
  type Point,
  type ProcStat,
} from "./report";

const REPO = path.resolve(__dirname, "../..");
const RATES = (process.env.BENCH_RATES ?? "100,250,500,1000").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_S ?? 10);
const CLOSED_LOOP_S = 3;
const TTFB_RATE = 100;
const LITELLM_KEY = "sk-bench-master-key";

// ---- processes: everything started here dies with the bench -------------------------------

const procs: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
function killAll(): void {
  for (const p of procs) {
    if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) continue;
    try {
      process.kill(-p.pid, "SIGKILL"); // its process group: nginx and LiteLLM workers too
    } catch {
      try {
        p.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      // best effort: the process is exiting
    }
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => process.exit(130));

/** A server in its own process group (so its workers can be killed with it). */
function start(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ChildProcess {
  const p = spawn(cmd, args, {
    cwd: opts.cwd ?? REPO,
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  procs.push(p);
  let err = "";
  p.stderr.on("data", (c) => {
    err = (err + String(c)).slice(-4000);
  });
  (p as ChildProcess & { lastStderr: () => string }).lastStderr = () => err;
  return p;
}
const stderrOf = (p: ChildProcess) =>
  (p as ChildProcess & { lastStderr?: () => string }).lastStderr?.() ?? "";

function waitLine(p: ChildProcess, re: RegExp, what: string): Promise<RegExpExecArray> {
  let out = "";
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out}${stderrOf(p)}`)), 60_000);
    p.stdout!.on("data", (c) => {
      out += String(c);
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        p.stdout!.removeAllListeners("data");
        p.stdout!.resume();
        resolve(m);
      }
    });
    p.once("exit", (code) => reject(new Error(`${what} exited ${code}: ${out}${stderrOf(p)}`)));
  });
}

async function waitHttp(
  url: string,
  what: string,
  p: ChildProcess,
  timeoutS: number,
  headers = {},
): Promise<void> {
  const until = Date.now() + timeoutS * 1000;
  while (Date.now() < until) {
    if (p.exitCode !== null) throw new Error(`${what} exited ${p.exitCode}: ${stderrOf(p)}`);
    const ok = await fetch(url, { headers }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not ready at ${url} after ${timeoutS} s: ${stderrOf(p)}`);
}

// ---- CPU from /proc ------------------------------------------------------------------------

function snapshot(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      out.push(parseProcStat(fs.readFileSync(`/proc/${d}/stat`, "utf8")));
    } catch {
      // exited while we read
    }
  }
  return out;
}
const HZ = 100; // USER_HZ on Linux

// ---- the systems under test ----------------------------------------------------------------

interface System {
  name: string;
  url: string;
  /** Authorization header value. */
  auth: string;
  /** Named process trees whose CPU is charged to this system's requests. */
  roots: [string, number][];
}

async function startSovereign(upstreamUrl: string, tmp: string): Promise<System> {
  const data = testOpaData();
  const pg = await startPostgres();
  cleanups.push(() => pg.destroy());
  const dataFile = path.join(tmp, "data.json");
  fs.writeFileSync(dataFile, JSON.stringify({ sovereign: data }));
  const opaPort = await freePort();
  const opa = start(toolPath("opa"), [
    "run",
    "--server",
    "--skip-version-check",
    "--log-level",
    "error",
    "--addr",
    `127.0.0.1:${opaPort}`,
    "policies/authz",
    "policies/data",
    dataFile,
  ]);
  opa.stdout!.resume();
  await waitHttp(`http://127.0.0.1:${opaPort}/health`, "OPA", opa, 30);
  const idp = new TestIdp();
  await idp.start();
  cleanups.push(() => void idp.stop());
  await idp.addKey("RS256");
  const token = await idp.token({ sub: "bench", groups: ["sovereign-nocap"], exp: 3600 });
  const catalog = catalogOf(
    data,
    { "tiny-chat": upstreamUrl, "tiny-embed": upstreamUrl, "secret-chat": upstreamUrl },
    [],
  );
  const build = spawnSync(
    process.execPath,
    [require.resolve("typescript/bin/tsc"), "-p", "gateway/tsconfig.build.json"],
    { cwd: REPO, stdio: "inherit" },
  );
  if (build.status !== 0) throw new Error("gateway build failed");
  const gw = start(process.execPath, ["dist/gateway-build/gateway/src/main.js"], {
    env: {
      ...process.env,
      // The compiled gateway finds its dependencies in its own package (gateway/node_modules),
      // as it does in its image.
      NODE_PATH: path.join(REPO, "gateway", "node_modules"),
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_OPA_URL: `http://127.0.0.1:${opaPort}`,
      GATEWAY_OPA_TIMEOUT_MS: process.env.BENCH_OPA_TIMEOUT_MS ?? "250",
      GATEWAY_OIDC_ISSUER: idp.issuer,
      GATEWAY_OIDC_AUDIENCE: idp.audience,
      PGHOST: "127.0.0.1",
      PGPORT: String(pg.port),
      PGUSER: "postgres",
      PGDATABASE: "postgres",
      GATEWAY_CATALOG: JSON.stringify(catalog),
      GATEWAY_SPILL_DIR: tmp,
      ...benchPolicyEnv(tmp, data),
    },
  });
  const port = (await waitLine(gw, /"msg":"gateway listening","port":(\d+)/, "gateway"))[1];
  gw.stdout!.resume(); // the access log is written (and discarded), as in production
  const postmaster = Number(fs.readFileSync(path.join(pg.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  return {
    name: "sovereign",
    url: `http://127.0.0.1:${port}`,
    auth: `Bearer ${token}`,
    roots: [
      ["gateway", gw.pid!],
      ["OPA", opa.pid!],
      ["PostgreSQL", postmaster],
    ],
  };
}

async function startNginx(upstreamUrl: string, tmp: string): Promise<System> {
  const bin = ensureNginx();
  const dir = path.join(tmp, "nginx");
  fs.mkdirSync(dir);
  const port = await freePort();
  const up = new URL(upstreamUrl);
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes auto;
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections 8192; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream model { server ${up.host}; keepalive 256; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  );
  const p = start(bin, ["-p", dir, "-c", conf, "-e", "stderr"]);
  p.stdout!.resume();
  await waitHttp(`http://127.0.0.1:${port}/health`, "nginx", p, 30); // the fake upstream answers any path
  return { name: "nginx", url: `http://127.0.0.1:${port}`, auth: "Bearer none", roots: [["nginx", p.pid!]] };
}

/** A bare node:http reverse proxy (bench/compare/node-hop.ts): the runtime's own floor. */
async function startNodeHop(upstreamUrl: string): Promise<System> {
  const p = start(process.execPath, ["--import", "tsx", "bench/compare/node-hop.ts", upstreamUrl]);
  const url = (await waitLine(p, /(http:\/\/\S+)\n/, "node hop"))[1];
  return { name: "node hop", url, auth: "Bearer none", roots: [["node hop", p.pid!]] };
}

async function startLitellm(upstreamUrl: string, tmp: string): Promise<System> {
  const venv = ensureLitellm();
  const port = await freePort();
  const conf = path.join(tmp, "litellm.yaml");
  fs.writeFileSync(
    conf,
    `model_list:
  - model_name: tiny-chat
    litellm_params:
      model: openai/tiny-chat
      api_base: ${upstreamUrl}/v1
      api_key: sk-upstream-unused
general_settings:
  master_key: ${LITELLM_KEY}
litellm_settings:
  drop_params: true
`,
  );
  const p = start(
    path.join(venv, "bin", "litellm"),
    [
      "--config",
      conf,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--num_workers",
      "2",
      // uvicorn kills a worker that does not answer its supervisor within 5 s; importing
      // LiteLLM takes longer than that on a busy 2-core machine, and the workers never come up.
      "--timeout_worker_healthcheck",
      "300",
    ],
    {
      cwd: tmp,
      env: {
        ...process.env,
        LITELLM_LOCAL_MODEL_COST_MAP: "True", // no fetch of the price list from the internet
        LITELLM_LOG: "ERROR",
        LITELLM_TELEMETRY: "False",
        DATABASE_URL: undefined, // no database: master key only
      },
    },
  );
  p.stdout!.resume();
  await waitHttp(`http://127.0.0.1:${port}/health/liveliness`, "LiteLLM", p, 300);
  return {
    name: `LiteLLM ${litellmVersion()}`,
    url: `http://127.0.0.1:${port}`,
    auth: `Bearer ${LITELLM_KEY}`,
    roots: [["LiteLLM", p.pid!]],
  };
}

// ---- load ----------------------------------------------------------------------------------

const BODY = JSON.stringify({
  model: "tiny-chat",
  messages: [
    { role: "user", content: "Summarize the quarterly report in three short bullet points please." },
  ],
  max_tokens: 64,
});

function targetsFile(tmp: string, s: System, body = BODY): string {
  const f = path.join(tmp, `targets-${s.name.replace(/\W+/g, "_")}-${body.length}.json`);
  fs.writeFileSync(
    f,
    JSON.stringify({
      method: "POST",
      url: `${s.url}/v1/chat/completions`,
      body: Buffer.from(body).toString("base64"),
      header: { "Content-Type": ["application/json"], Authorization: [s.auth] },
    }) + "\n",
  );
  return f;
}

function runVegeta(vegeta: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(vegeta, args, { stdio: ["ignore", "ignore", "pipe"] });
    procs.push(p);
    let err = "";
    p.stderr.on("data", (c) => (err += String(c)));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`vegeta exited ${code}: ${err}`))));
  });
}

const SETTLE_MAX_S = 60;

/**
 * Waits until the system's processes are idle (under 5 % of a core over half a second), at most
 * SETTLE_MAX_S: a saturated proxy keeps working on the requests the load generator already gave
 * up on, and that backlog must not spill into the next point. Returns the seconds waited.
 */
async function settle(roots: [string, number][]): Promise<number> {
  const t0 = Date.now();
  const busy = () => roots.reduce((a, [, pid]) => a + treeTicks(snapshot(), pid), 0);
  let last = busy();
  while (Date.now() - t0 < SETTLE_MAX_S * 1000) {
    await new Promise((r) => setTimeout(r, 500));
    const now = busy();
    if (now - last <= 2) break; // ≤ 2 ticks of 10 ms in 500 ms
    last = now;
  }
  return (Date.now() - t0) / 1000;
}

/** Own reaped-children CPU: vegeta's CPU once it has exited and been waited for. */
const reapedSelf = () => parseProcStat(fs.readFileSync("/proc/self/stat", "utf8")).reaped;

interface Measured {
  point: Point;
  /** CPU seconds per 1k requests, per named process tree (including "upstream" and "vegeta"). */
  cpu: [string, number][];
  /** Seconds the system took to go idle after the load generator stopped. */
  waited: number;
}

async function attack(
  vegeta: string,
  tmp: string,
  s: System,
  roots: [string, number][],
  rate: number | "max",
  seconds: number,
): Promise<Measured> {
  const res = path.join(tmp, "results.bin");
  const rateArgs = rate === "max" ? ["-rate=0", "-workers=32", "-max-workers=32"] : [`-rate=${rate}/1s`];
  const before = snapshot();
  const r0 = reapedSelf();
  await runVegeta(vegeta, [
    "attack",
    "-format=json",
    `-targets=${targetsFile(tmp, s)}`,
    ...rateArgs,
    `-duration=${seconds}s`,
    `-timeout=${TIMEOUT_S}s`,
    "-keepalive=true",
    `-output=${res}`,
  ]);
  const r1 = reapedSelf();
  // The CPU of the requests the load generator gave up on counts too: measure once idle.
  const waited = await settle(s.roots);
  const after = snapshot();
  const rep = spawnSync(vegeta, ["report", "-type=json", res], { encoding: "utf8" });
  if (rep.status !== 0) throw new Error(`vegeta report failed: ${rep.stderr}`);
  const point = parseVegetaReport(rep.stdout);
  const cpu: [string, number][] = roots.map(([n, pid]) => [
    n,
    cpuSecondsPer1k(treeTicks(before, pid), treeTicks(after, pid), point.requests, HZ),
  ]);
  cpu.push(["vegeta", cpuSecondsPer1k(r0, r1, point.requests, HZ)]);
  return { point, cpu, waited };
}

/** Streaming time to the first byte, open loop at `rate` for `seconds`; ms. */
async function ttfb(s: System, rate: number, seconds: number): Promise<{ ms: number[]; errors: number }> {
  const url = new URL(`${s.url}/v1/chat/completions`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const body = Buffer.from(JSON.stringify({ ...JSON.parse(BODY), stream: true }));
  const ms: number[] = [];
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = process.hrtime.bigint();
      let first = 0;
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          agent,
          timeout: TIMEOUT_S * 1000,
          headers: {
            authorization: s.auth,
            "content-type": "application/json",
            "content-length": body.length,
          },
        },
        (res) => {
          res.on("data", () => {
            if (!first) first = Number(process.hrtime.bigint() - t0) / 1e6;
          });
          res.on("end", () => {
            if (res.statusCode === 200 && first) ms.push(first);
            else errors++;
            resolve();
          });
          res.on("error", () => {
            errors++;
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const total = rate * seconds;
  const all: Promise<void>[] = [];
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (sent < due) {
        sent++;
        all.push(one());
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(all);
  agent.destroy();
  return { ms, errors };
}

const pct = (a: number[], p: number) => {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

// ---- main ----------------------------------------------------------------------------------

export async function runCompare(competitors: Competitor[]): Promise<void> {
  const t0 = Date.now();
  const vegeta = ensureVegeta();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-compare-"));
  cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const upProc = start(process.execPath, ["--import", "tsx", "bench/gateway-upstream.ts"]);
  const upstreamUrl = (await waitLine(upProc, /(http:\/\/\S+)\n/, "upstream"))[1];
  const upstream: [string, number] = ["upstream", upProc.pid!];

  const systems: System[] = [{ name: "direct", url: upstreamUrl, auth: "Bearer none", roots: [] }];
  if (competitors.includes("nginx")) systems.push(await startNginx(upstreamUrl, tmp));
  if (competitors.includes("node")) systems.push(await startNodeHop(upstreamUrl));
  systems.push(await startSovereign(upstreamUrl, tmp));
  if (competitors.includes("litellm")) systems.push(await startLitellm(upstreamUrl, tmp));
  const setupS = (Date.now() - t0) / 1000;

  const load0 = os.loadavg();
  console.log(
    `\ngateway comparison: ${os.cpus().length} CPUs, load average ${load0.map((l) => l.toFixed(2)).join(" ")}, ` +
      `vegeta ${VEGETA_VERSION} open loop, ${SECONDS} s per point, request timeout ${TIMEOUT_S} s, loopback only ` +
      `(setup and installs took ${setupS.toFixed(0)} s)`,
  );
  console.log(`systems: ${systems.map((s) => s.name).join(", ")}; one fake upstream (${upstreamUrl})\n`);

  // Warm every path (JIT, connection pools, LiteLLM's router) before measuring.
  for (const s of systems) {
    await attack(vegeta, tmp, s, [], 50, 2);
  }

  const rows: string[][] = [];
  // The gateway's figures against issue 17's targets.
  const addedP99 = new Map<number, number>();
  const gatewayCpu = new Map<number, number>();
  const errorKinds = new Map<string, Set<string>>();
  const settled: string[] = [];
  for (const rate of RATES) {
    let direct: Point | undefined;
    for (const s of systems) {
      const m = await attack(vegeta, tmp, s, [...s.roots, upstream], rate, SECONDS);
      const p = m.point;
      if (s.name === "direct") direct = p;
      for (const e of p.errorKinds) {
        const set = errorKinds.get(s.name) ?? new Set<string>();
        if (set.size < 5) set.add(e);
        errorKinds.set(s.name, set);
      }
      const added = (q: "p50" | "p99") => (s.name === "direct" || !direct ? "" : fmt(p[q] - direct[q]));
      if (s.name === "sovereign") {
        if (direct) addedP99.set(rate, p.p99 - direct.p99);
        // Gateway, policy (OPA when it decides) and audit (PostgreSQL): everything but the upstream.
        gatewayCpu.set(
          rate,
          m.cpu.filter(([n]) => n !== "upstream" && n !== "vegeta").reduce((a, [, v]) => a + v, 0),
        );
      }
      rows.push([
        String(rate),
        s.name,
        fmt(p.p50),
        fmt(p.p99),
        added("p50"),
        added("p99"),
        p.errors ? `${p.errors} (${fmt((100 * p.errors) / p.requests, 0)}%)` : "0",
        fmt(p.served, 0),
        cpuCell(m.cpu.filter(([n]) => n !== "vegeta")),
        fmt(m.cpu.find(([n]) => n === "vegeta")![1]),
      ]);
      if (m.waited > 5) settled.push(`${s.name} at ${rate} req/s: ${fmt(m.waited, 0)} s`);
    }
  }
  console.log(
    markdownTable(
      [
        "req/s",
        "system",
        "p50 ms",
        "p99 ms",
        "added p50",
        "added p99",
        "errors",
        "served/s",
        "server CPU s per 1k req: total (per process)",
        "vegeta CPU",
      ],
      rows,
    ),
  );
  console.log(
    "\nlatency to the last byte, non-streaming; added = system minus direct at the same percentile and rate;" +
      " CPU from /proc/<pid>/stat (utime+stime, children included), 10 ms ticks, the upstream's share included in the total",
  );

  const closed: string[] = [];
  let closedLoop = NaN;
  for (const s of systems) {
    const m = await attack(vegeta, tmp, s, [], "max", CLOSED_LOOP_S);
    await settle(s.roots);
    if (s.name === "sovereign") closedLoop = m.point.served;
    closed.push(`${s.name} ${fmt(m.point.served, 0)}${m.point.errors ? ` (${m.point.errors} errors)` : ""}`);
  }
  console.log(`\nclosed loop, 32 concurrent callers, ${CLOSED_LOOP_S} s, req/s served: ${closed.join(", ")}`);

  const tt: string[] = [];
  let ttfbDirect = NaN;
  let ttfbAdded = NaN;
  for (const s of systems) {
    const r = await ttfb(s, TTFB_RATE, SECONDS);
    await settle(s.roots);
    const p50 = pct(r.ms, 50);
    if (s.name === "direct") ttfbDirect = p50;
    if (s.name === "sovereign") ttfbAdded = p50 - ttfbDirect;
    const added = s.name === "direct" ? "" : ` (added ${fmt(p50 - ttfbDirect)})`;
    tt.push(`${s.name} ${fmt(p50)}${added}${r.errors ? ` (${r.errors} errors)` : ""}`);
  }
  console.log(
    `streaming at ${TTFB_RATE} req/s, time to first byte p50, ms (Node client, open loop): ${tt.join(", ")}`,
  );
  console.log(`\nsovereign against issue 17's targets (this machine, this load):`);
  for (const l of targetLines({
    addedP99Ms: addedP99,
    cpuMsPerRequest: gatewayCpu,
    closedLoopRps: closedLoop,
    ttfbAddedP50Ms: ttfbAdded,
  }))
    console.log(`  ${l}`);
  if (settled.length) {
    console.log(
      `waited for a backlog of abandoned requests to drain (its CPU is counted): ${settled.join("; ")}`,
    );
  }
  for (const [n, set] of errorKinds) console.log(`errors seen, ${n}: ${[...set].join(" | ")}`);
  const load1 = os.loadavg();
  console.log(`load average at the end: ${load1.map((l) => l.toFixed(2)).join(" ")}`);
}
