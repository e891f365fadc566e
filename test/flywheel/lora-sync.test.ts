/**
 * Flywheel adapter versions onto every model-server replica (issue 14, item 7; docs/flywheel.md
 * "Decisions"), with real parts at every seam: the model-server chart rendered by helm with the
 * kit's values for a base model of a flywheel adapter; its lora-sync sidecar (the script from the
 * rendered ConfigMap, with the rendered environment, run by Python with boto3); two replicas of
 * the vLLM-compatible test server (test/flywheel/fake-vllm.ts, reading `lora_path` as vLLM does,
 * started with the rendered `--max-lora-rank` and runtime-loading switch); the S3 test store; the
 * registry in PostgreSQL; the controller (`runCanary` with the CLI's sidecar loading); and the
 * running gateway with replica routing on (EndpointSlices from a Kubernetes API double, adapters
 * read from each replica's /v1/models).
 *
 *   1. a version written to the store and registered: the controller publishes serving.json and
 *      declares it loaded only after the replica lists it; the sidecar put its files under the
 *      rendered root and loaded them; the canary runs and promotes;
 *   2. a replica that starts later loads the promoted version by itself, and the gateway sends
 *      the adapter's requests only to replicas that list it;
 *   3. the next version is promoted on both, and the retired one is unloaded and its files removed;
 *   4. a version of a rank above the rendered --max-lora-rank never loads: the canary is rolled
 *      back; the trainer's LoRA rank fits the rendered flag; files that are not the registered
 *      bytes are refused.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLYWHEEL_MAX_LORA_RANK, modelServerValues } from "../../components/platform/model-server";
import { flywheelAdapterPrefix } from "../../components/lib/scopes";
import { parseLimits, parseRunRecord, registerRun, runCanary } from "../../gateway/src/flywheel/controller";
import { sidecarServing } from "../../gateway/src/flywheel/controller-cli";
import { migrateFlywheel } from "../../gateway/src/flywheel/registry";
import { DEFAULT_ROUTING, type Router } from "../../gateway/src/routing/router";
import { FakeKubeApi, sliceOf } from "../../gateway/test/helpers/kube-api";
import { World } from "../../gateway/test/helpers/world";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { modelSchema } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { gatewayCatalog } from "../../stacks/wiring/gateway";
import { helmTemplate } from "../serving/helpers";
import { startFakeVllm, type FakeVllm } from "./fake-vllm";
import * as https from "node:https";
import * as tls from "node:tls";
import { modelServerUrl } from "../../components/lib/endpoints";
import { modelServerCertificate, modelServerDnsNames } from "../../components/lib/model-tls";
import { TestCa } from "../helpers/pki";

const ROOT = path.resolve(__dirname, "../..");
const TEAM = "demo";
const ADAPTER = "tiny-chat-support"; // an adapter of tiny-chat the demo team may call (gateway tests' catalog)
const BASE = "tiny-chat";
const MODELS = "sovereign-test-models";
const PREFIX = flywheelAdapterPrefix(TEAM, ADAPTER);
const NS = "sovereign-serving";
const SERVICE = `model-${BASE}`;
/** Its route as the platform writes it (HTTPS, its Service's name, which does not resolve here). */
const ROUTE = modelServerUrl(BASE);
/** The model CA and the base model's certificate, with the names the kit's Certificate gives it. */
const MODEL_CA = new TestCa("lora-sync test model CA");
const SERVER_PEM = MODEL_CA.issue(
  SERVICE,
  modelServerDnsNames(BASE).map((n) => `DNS:${n}`),
);
const TLS = { cert: fs.readFileSync(SERVER_PEM.cert, "utf8"), key: fs.readFileSync(SERVER_PEM.key, "utf8") };
const CA_PEM = fs.readFileSync(MODEL_CA.cert, "utf8");
/** The base model server's API key, as its Secret in the serving namespace holds it. */
const KEY = `key-${process.pid}-${Date.now()}`;
const SECRETS: Record<string, Record<string, string>> = { [`${SERVICE}-api-key`]: { "api-key": KEY } };
const LIMITS = parseLimits({
  share: 0.5,
  windowMinutes: 0.02,
  minRequests: 4,
  maxErrorRate: 0.5,
  maxLatencyRatio: 1000,
  maxGuardFlagRate: 1,
});

const world = new World();
const kube = new FakeKubeApi();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lora-sync-"));
let PY = "";
let pool: Pool;
let url = "";
let router: Router;
/** What the chart renders for the base model. */
let rendered: {
  serverArgs: string[];
  serverEnv: Record<string, string>;
  serverMounts: Record<string, string>;
  sidecarEnv: Record<string, string>;
  sidecarMounts: Record<string, string>;
  volumes: Record<string, any>;
  /** The flywheel-adapters emptyDir's sizeLimit. */
  adaptersSizeLimit: string;
  script: string;
};

interface Replica {
  readonly vllm: FakeVllm;
  readonly root: string;
  sidecar?: ChildProcess;
  readonly events: Record<string, unknown>[];
}
const replicas: Replica[] = [];

beforeAll(async () => {
  const venv = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (venv.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${venv.stderr}`);
  PY = path.join(venv.stdout.trim().split("\n").pop()!, "bin/python");
  await Promise.all([world.start(), kube.start()]);
  rendered = render(world.s3.url);
  pool = new Pool({ host: "127.0.0.1", port: world.pg.port, user: "postgres", database: "postgres", max: 3 });
  await migrateFlywheel(pool);
  const cat = world.catalog();
  // The adapter as a stack's wiring declares a team's flywheel adapter (stacks/wiring/gateway.ts).
  const flywheelEntry = gatewayCatalog(parseConfig(rawFromStackFile(stackFile("aws-dev")).raw)).models[
    "research-assistant"
  ];
  expect(flywheelEntry?.flywheel).toBe(true);
  const g = await world.gateway({
    flywheelSyncMs: 100,
    catalog: {
      ...cat,
      models: { ...cat.models, [ADAPTER]: { ...cat.models[ADAPTER], flywheel: true } },
      routes: { ...cat.routes, [BASE]: ROUTE },
    },
    routing: { ...DEFAULT_ROUTING, adapterPollMs: 100, kubeApi: { url: kube.url } },
    // the base model server's key, by its route (what GATEWAY_MODEL_API_KEYS_FILE gives it)
    modelApiKeys: new Map([[ROUTE, KEY]]),
    // the model CA (what GATEWAY_MODEL_CA_FILE gives it): the replicas serve HTTPS
    modelCa: CA_PEM,
  });
  ({ url } = g);
  router = g.gw.router;
}, 600_000);

afterAll(async () => {
  for (const r of replicas) if (r.sidecar?.exitCode === null) r.sidecar.kill("SIGKILL");
  await pool?.end();
  await Promise.all(replicas.map((r) => r.vllm.close()));
  await Promise.all([world.stop(), kube.stop()]);
  fs.rmSync(tmp, { recursive: true, force: true });
  MODEL_CA.destroy();
});

/** The chart rendered with the kit's values for a GPU base model of the demo team's flywheel adapter. */
function render(endpoint: string): typeof rendered {
  const model = {
    ...modelSchema.parse({ name: BASE, role: "chat", source: `${BASE}/`, pool: "gpu" }),
    flywheelAdapters: [{ team: TEAM, adapter: ADAPTER }],
  };
  const values = modelServerValues({
    model,
    rollout: { strictSpread: true, cooldownSeconds: 600, drainSeconds: 120 },
    placement: {
      gpuType: "nvidia-l40s",
      gpusPerNode: 4,
      nodeSelector: { "sovereign.ai/gpu-pool": "gpu" },
      tolerations: [],
      capacityType: "on-demand",
    },
    bucket: MODELS,
    objectStoreEndpoint: endpoint,
    forcePathStyle: true,
    env: [],
    serviceAccountName: SERVICE,
  });
  const r = helmTemplate(values, NS);
  expect(r.status, r.output).toBe(0);
  const pod = (r.objects.find((o) => o.kind === "Deployment")!.spec as any).template.spec;
  const c = (name: string) => pod.containers.find((x: any) => x.name === name);
  // a Secret reference resolves to the Secret's value, as the kubelet does (an unknown one fails)
  const value = (e: any) => {
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) return e.value;
    const v = SECRETS[ref.name]?.[ref.key];
    if (v === undefined) throw new Error(`${e.name}: no Secret ${ref.name} with key ${ref.key}`);
    return v;
  };
  const env = (x: any) => Object.fromEntries((x.env ?? []).map((e: any) => [e.name, value(e)]));
  const mounts = (x: any) => Object.fromEntries(x.volumeMounts.map((m: any) => [m.name, m.mountPath]));
  const cm = r.objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === `${SERVICE}-lora-sync`);
  expect(cm, "the lora-sync ConfigMap").toBeDefined();
  return {
    serverArgs: c("server").args,
    serverEnv: env(c("server")),
    serverMounts: mounts(c("server")),
    sidecarEnv: env(c("lora-sync")),
    sidecarMounts: mounts(c("lora-sync")),
    volumes: Object.fromEntries(pod.volumes.map((v: any) => [v.name, v])),
    adaptersSizeLimit: pod.volumes.find((v: any) => v.name === "flywheel-adapters").emptyDir.sizeLimit,
    script: (cm as any).data["lora_sync.py"],
  };
}

const flag = (name: string) => {
  const a = rendered.serverArgs.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? undefined : Number(a.split("=")[1]);
};

/** A replica as the chart runs it: the server (with the rendered switches) and, unless told, its sidecar. */
async function startReplica(withSidecar = true): Promise<Replica> {
  const vllm = await startFakeVllm(BASE, rendered.serverEnv.VLLM_ALLOW_RUNTIME_LORA_UPDATING === "True", {
    adapterFiles: { maxLoraRank: flag("max-lora-rank") ?? 16 },
    // the key the server reads (VLLM_API_KEY, from its Secret), checked as vLLM and api_guard.py do
    apiKey: rendered.serverEnv.VLLM_API_KEY,
    // HTTPS with the certificate of its Secret, as the chart's server serves (--ssl-certfile)
    tls: TLS,
  });
  const r: Replica = { vllm, root: fs.mkdtempSync(path.join(tmp, "replica-")), events: [] };
  replicas.push(r);
  if (withSidecar) startSidecar(r);
  publishSlices();
  return r;
}

/** The sidecar: the rendered script and environment; the pod-local parts point at this replica. */
function startSidecar(r: Replica): void {
  const script = path.join(tmp, "lora_sync.py");
  fs.writeFileSync(script, rendered.script);
  const env = {
    PATH: process.env.PATH ?? "",
    ...rendered.sidecarEnv,
    // the pod's emptyDir and localhost server, here per replica
    FLYWHEEL_LORA_ROOT: r.root,
    VLLM_URL: r.vllm.url,
    // the CA the pod mounts from the server's Secret (`ca.crt`), here a file (the path is checked below)
    VLLM_CA_FILE: MODEL_CA.cert,
    LORA_SYNC_READY_FILE: path.join(r.root, ".ready"),
    LORA_SYNC_INTERVAL_SECONDS: "0.1",
    HOME: r.root,
    // the workload identity's credentials (the substrate's `bindWorkload` env)
    AWS_REGION: world.s3.region,
    AWS_DEFAULT_REGION: world.s3.region,
    ...world.s3Env(),
  };
  const c = spawn(PY, [script], { env });
  let out = "";
  c.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    const lines = out.split("\n");
    out = lines.pop()!;
    for (const l of lines) if (l.trim()) r.events.push(JSON.parse(l) as Record<string, unknown>);
  });
  c.stderr.on("data", (d: Buffer) => r.events.push({ event: "stderr", text: d.toString() }));
  r.sidecar = c;
}

function publishSlices(): void {
  replicas.forEach((r, i) =>
    kube.put(
      NS,
      sliceOf(
        SERVICE,
        `${SERVICE}-${i}`,
        [{ address: "127.0.0.1", ready: true }],
        Number(new URL(r.vllm.url).port),
      ),
    ),
  );
}

/** Adapter files of rank `r` under the version's key; returns the trainer's content hash of them. */
async function writeVersion(version: string, r: number): Promise<{ uri: string; sha: string }> {
  const key = `${PREFIX}${version}/adapter/`;
  world.s3.objects.set(
    `${MODELS}/${key}adapter_config.json`,
    Buffer.from(JSON.stringify({ peft_type: "LORA", r, lora_alpha: 2 * r, base_model_name_or_path: BASE })),
  );
  world.s3.objects.set(`${MODELS}/${key}adapter_model.safetensors`, Buffer.from(`weights of ${version}`));
  const uri = `s3://${MODELS}/${key}`;
  return { uri, sha: await trainerContentSha256(uri) };
}

/** The loop's own content hash (trainer/sovereign_train/flywheel_loop.py), which the registry records. */
async function trainerContentSha256(uri: string): Promise<string> {
  const code =
    "import os, sys\nfrom sovereign_train.flywheel_loop import content_sha256\nfrom sovereign_train.s3 import client_from_env\nprint(content_sha256(client_from_env(os.environ), sys.argv[1]))";
  // async: the S3 test store answers from this process
  return new Promise((resolve, reject) => {
    const c = spawn(PY, ["-c", code, uri], {
      cwd: path.join(ROOT, "trainer"),
      env: {
        ...process.env,
        ...world.s3Env(),
        AWS_ENDPOINT_URL_S3: world.s3.url,
        AWS_REGION: world.s3.region,
        S3_FORCE_PATH_STYLE: "true",
      },
    });
    let out = "";
    let err = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(err.slice(-2000)))));
  });
}

/** Registers a version that passed its gate, as `controller-cli register` does. */
async function register(version: string, files: { uri: string; sha: string }): Promise<void> {
  const run = parseRunRecord({
    team: TEAM,
    adapter: ADAPTER,
    baseModel: BASE,
    outcome: "candidate",
    dataset: {
      version,
      uri: `s3://sovereign-test-datasets/${PREFIX}${version}/`,
      content_sha256: "a".repeat(64),
      classification: "internal",
      counts: { kept: 10 },
    },
    candidate: { version, uri: files.uri, content_sha256: files.sha },
    gate: { passed: true },
  });
  await registerRun(pool, run, { checks: [] });
}

/** Statuses of the chats `canary` sends for the stable name. */
const canaryStatuses: number[] = [];

/** Runs the candidate's canary with the CLI's sidecar loading, sending chats for the stable name meanwhile. */
async function canary(version: string, timeoutMs = 30_000) {
  const { serving, s3 } = sidecarServing(
    {
      CANDIDATES_URI: `s3://${MODELS}/${PREFIX}`,
      AWS_ENDPOINT_URL_S3: world.s3.url,
      AWS_REGION: world.s3.region,
      S3_FORCE_PATH_STYLE: "true",
      FLYWHEEL_LOAD_TIMEOUT_MS: String(timeoutMs),
      FLYWHEEL_LOAD_POLL_MS: "100",
      ...world.s3Env(),
    },
    pool,
    { team: TEAM, adapter: ADAPTER, baseModel: BASE },
  );
  let done = false;
  const traffic = (async () => {
    const token = await world.idp.token({});
    for (let i = 0; !done; i++) {
      canaryStatuses.push(await chat(token, `${version} ${i}`));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    return await runCanary(pool, {
      team: TEAM,
      adapter: ADAPTER,
      version,
      serving,
      replicas: replicas.map((r) => r.vllm.url),
      limits: LIMITS,
      everyMs: 200,
      lagMs: 100,
      unloadGraceMs: 300,
      // the controller's FLYWHEEL_MODEL_API_KEY: it reads the replicas' /v1/models
      // what the controller CLI makes of FLYWHEEL_MODEL_API_KEY, FLYWHEEL_MODEL_CA_FILE and the service
      lora: { apiKey: KEY, tls: { ca: CA_PEM, serverName: new URL(ROUTE).hostname } },
    });
  } finally {
    done = true;
    await traffic;
    s3.close();
  }
}

async function chat(token: string, content: string): Promise<number> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: ADAPTER, messages: [{ role: "user", content }] }),
  });
  await r.text();
  return r.status;
}

async function auditRows(version: string): Promise<{ reason: string; to_phase: string; ts: Date }[]> {
  return (
    await pool.query<{ reason: string; to_phase: string; ts: Date }>(
      "SELECT reason, to_phase, ts FROM flywheel.audit_events WHERE adapter = $1 AND version = $2 ORDER BY id",
      [ADAPTER, version],
    )
  ).rows;
}

const listed = (r: Replica, v: string) => r.vllm.loaded.has(`${ADAPTER}--${v}`);
const servingJson = () =>
  JSON.parse(world.s3.objects.get(`${MODELS}/${PREFIX}serving.json`)!.toString()) as {
    versions: { version: string; phase: string }[];
  };

describe("flywheel adapter versions on every replica (lora-sync sidecar)", () => {
  it("GIVEN the chart for a base model of a flywheel adapter WHEN rendered THEN runtime loading is on, LoRA fits stable + canary, the trainer's rank fits, and sidecar and server agree on the folder and port", async () => {
    expect(rendered.serverEnv.VLLM_ALLOW_RUNTIME_LORA_UPDATING).toBe("True");
    expect(rendered.serverArgs).toContain("--enable-lora");
    expect(flag("max-loras")).toBeGreaterThanOrEqual(2); // the promoted version and a canary
    // the rank the flywheel's LoRA job trains at (the loop passes no --lora-r: the parser's default)
    const rank = spawnSync(
      PY,
      [
        "-c",
        "from sovereign_train.cli import build_parser; print(build_parser().parse_args(['lora']).lora_r)",
      ],
      { cwd: path.join(ROOT, "trainer"), encoding: "utf8" },
    );
    expect(rank.status, rank.stderr).toBe(0);
    expect(Number(rank.stdout.trim())).toBeLessThanOrEqual(flag("max-lora-rank")!);
    expect([1, 8, 16, 32, 64, 128, 256, 320, 512]).toContain(flag("max-lora-rank")); // vLLM's accepted values
    expect(flag("max-lora-rank")).toBe(FLYWHEEL_MAX_LORA_RANK);
    // the sidecar fills the folder the server reads, and calls the server's own port
    expect(rendered.sidecarMounts["flywheel-adapters"]).toBe(rendered.sidecarEnv.FLYWHEEL_LORA_ROOT);
    expect(rendered.serverMounts["flywheel-adapters"]).toBe(rendered.sidecarEnv.FLYWHEEL_LORA_ROOT);
    expect(rendered.sidecarEnv.VLLM_URL).toBe(
      `https://127.0.0.1:${rendered.serverArgs.find((a) => a.startsWith("--port="))!.slice(7)}`,
    );
    // over HTTPS: the server serves the Secret's certificate, the sidecar verifies it against the
    // same Secret's ca.crt and the Service's name (what the kit's Certificate names)
    expect(rendered.serverArgs).toEqual(
      expect.arrayContaining([
        `--ssl-certfile=${rendered.serverMounts["model-tls"]}/tls.crt`,
        `--ssl-keyfile=${rendered.serverMounts["model-tls"]}/tls.key`,
      ]),
    );
    expect(rendered.volumes["model-tls"].secret.secretName).toBe(
      modelServerCertificate(BASE).spec.secretName,
    );
    expect(rendered.volumes["model-tls-ca"].secret).toEqual({
      secretName: modelServerCertificate(BASE).spec.secretName,
      items: [{ key: "ca.crt", path: "ca.crt" }],
    });
    expect(rendered.sidecarEnv.VLLM_CA_FILE).toBe(`${rendered.sidecarMounts["model-tls-ca"]}/ca.crt`);
    expect(rendered.sidecarMounts["model-tls"]).toBeUndefined(); // never the server's key
    expect(rendered.sidecarEnv.VLLM_TLS_SERVER_NAME).toBe(new URL(ROUTE).hostname);
    expect(modelServerCertificate(BASE).spec.dnsNames).toContain(rendered.sidecarEnv.VLLM_TLS_SERVER_NAME);
    // one version's cap leaves room in the emptyDir for stable + canary + a download in progress
    const cap = Number(rendered.sidecarEnv.LORA_SYNC_MAX_VERSION_MIB);
    expect(Number.isInteger(cap) && cap > 0, rendered.sidecarEnv.LORA_SYNC_MAX_VERSION_MIB).toBe(true);
    expect(rendered.adaptersSizeLimit).toMatch(/^[0-9]+Gi$/);
    expect(3 * cap).toBeLessThan(parseInt(rendered.adaptersSizeLimit, 10) * 1024);
    // the server requires its key, and the sidecar sends the same one (both from the Secret)
    expect(rendered.serverEnv.VLLM_API_KEY).toBe(KEY);
    expect(rendered.sidecarEnv.VLLM_API_KEY).toBe(KEY);
    expect(rendered.serverArgs).toContain("--middleware=api_guard.RequireApiKey");
    expect(JSON.parse(rendered.sidecarEnv.LORA_SYNC_PLAN)).toEqual({
      bucket: MODELS,
      baseModel: BASE,
      adapters: [{ team: TEAM, adapter: ADAPTER, prefix: PREFIX }],
    });
  });

  it("GIVEN a version written to the store and registered WHEN its canary starts THEN the sidecar fetches and loads it, the controller declares it loaded only after, and it is promoted", async () => {
    const a = await startReplica();
    await world.until(() => router.replicas(ROUTE).length === 1, "replica A discovered");
    await register("v1", await writeVersion("v1", 16));
    const final = await canary("v1");
    expect(final.phase, JSON.stringify(a.events.slice(-5))).toBe("promoted");
    // Before the first promotion nothing serves the stable name: the requests outside the
    // canary's share went to the base model, none failed.
    expect(canaryStatuses.length).toBeGreaterThan(0);
    expect(canaryStatuses.filter((x) => x !== 200)).toEqual([]);
    expect(a.vllm.chats.some((c) => c.model === BASE && c.status === 200)).toBe(true);
    expect(a.vllm.chats.filter((c) => c.model === ADAPTER)).toEqual([]);
    // the files are in the replica's folder, and the load named that folder (lora_path contract)
    const dir = path.join(a.root, ADAPTER, "v1");
    expect(fs.readFileSync(path.join(dir, "adapter_model.safetensors"), "utf8")).toBe("weights of v1");
    expect(a.vllm.loaded.get(`${ADAPTER}--v1`)).toBe(dir);
    // "loaded" is audited only after the replica had it
    const loaded = (await auditRows("v1")).find((x) => x.reason === "loaded")!;
    expect(loaded).toBeDefined();
    expect(a.vllm.loadedAt.get(`${ADAPTER}--v1`)!).toBeLessThanOrEqual(loaded.ts.getTime());
    expect(servingJson().versions).toEqual([expect.objectContaining({ version: "v1", phase: "promoted" })]);
  }, 120_000);

  it("GIVEN a replica that starts later WHEN its sidecar runs THEN it loads the promoted version by itself, and the gateway sends the adapter's requests only to replicas that list it", async () => {
    const [a] = replicas;
    const b = await startReplica(false); // the server first, its sidecar later
    await world.until(() => router.replicas(ROUTE).length === 2, "replica B discovered");
    await new Promise((r) => setTimeout(r, 400)); // the gateway reads B's (empty) adapter list
    const token = await world.idp.token({});
    const onA = a.vllm.chats.length;
    for (let i = 0; i < 30; i++) expect(await chat(token, `before ${i}`)).toBe(200);
    expect(b.vllm.chats.length).toBe(0); // B does not have v1: nothing for it went there
    expect(
      a.vllm.chats.slice(onA).filter((c) => c.model === `${ADAPTER}--v1` && c.status === 200).length,
    ).toBe(30);

    startSidecar(b);
    await world.until(() => listed(b, "v1"), "B loads the promoted version on its own");
    expect(b.vllm.loaded.get(`${ADAPTER}--v1`)).toBe(path.join(b.root, ADAPTER, "v1"));
    await world.until(() => fs.existsSync(path.join(b.root, ".ready")), "B's sidecar reports ready");
    await new Promise((r) => setTimeout(r, 400)); // the gateway reads B's adapters again
    for (let i = 0; i < 40; i++) expect(await chat(token, `after ${i}`)).toBe(200);
    expect(
      b.vllm.chats.filter((c) => c.model === `${ADAPTER}--v1` && c.status === 200).length,
    ).toBeGreaterThan(0);
    // no request since the first was refused anywhere (none reached a replica without v1)
    expect([...a.vllm.chats.slice(onA), ...b.vllm.chats].filter((c) => c.status !== 200)).toEqual([]);
  }, 120_000);

  it("GIVEN v2 promoted over v1 WHEN the grace has passed THEN every replica serves v2, and v1 is unloaded and its files removed", async () => {
    await register("v2", await writeVersion("v2", 8));
    const final = await canary("v2");
    expect(final.phase).toBe("promoted");
    for (const r of replicas) {
      expect(listed(r, "v2")).toBe(true);
      expect(listed(r, "v1")).toBe(false);
      expect(fs.existsSync(path.join(r.root, ADAPTER, "v1"))).toBe(false);
      expect(r.vllm.calls).toContain("POST /v1/unload_lora_adapter");
    }
    expect((await auditRows("v1")).map((x) => `${x.to_phase}:${x.reason}`)).toContain("retired:unloaded");
    expect(servingJson().versions.map((v) => v.version)).toEqual(["v2"]);
  }, 120_000);

  it("GIVEN a version of a rank above --max-lora-rank WHEN canaried THEN no replica loads it, the canary is rolled back, and v2 keeps serving", async () => {
    await register("v3", await writeVersion("v3", 2 * FLYWHEEL_MAX_LORA_RANK));
    const final = await canary("v3", 2_000);
    expect(final.phase).toBe("rolled_back");
    expect((await auditRows("v3")).map((x) => x.reason)).toContain("load_failed");
    for (const r of replicas) {
      expect(listed(r, "v3")).toBe(false);
      expect(listed(r, "v2")).toBe(true);
      expect(
        r.events.some((e) => e.event === "load_failed" && String(e.error).includes("max_lora_rank")),
      ).toBe(true);
    }
    await world.until(
      () => replicas.every((r) => !fs.existsSync(path.join(r.root, ADAPTER, "v3"))),
      "the rolled-back version's files are removed",
    );
  }, 120_000);

  it("GIVEN files that are not the registered bytes WHEN canaried THEN the sidecar refuses them and nothing is loaded", async () => {
    const files = await writeVersion("v4", 8);
    await register("v4", files);
    world.s3.objects.set(`${MODELS}/${PREFIX}v4/adapter/adapter_model.safetensors`, Buffer.from("swapped"));
    const final = await canary("v4", 2_000);
    expect(final.phase).toBe("rolled_back");
    for (const r of replicas) {
      expect(listed(r, "v4")).toBe(false);
      expect(
        r.events.some((e) => e.event === "fetch_failed" && String(e.error).includes("content hash")),
      ).toBe(true);
    }
  }, 120_000);

  /** A chat for the base model sent to one replica's server directly (HTTPS, verified with the model CA). */
  function baseChat(r: Replica): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${r.vllm.url}/v1/chat/completions`,
        {
          method: "POST",
          ca: CA_PEM,
          servername: new URL(ROUTE).hostname,
          checkServerIdentity: (_h, cert) => tls.checkServerIdentity(new URL(ROUTE).hostname, cert),
          headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ model: BASE, messages: [{ role: "user", content: "hi" }] }));
    });
  }
  const events = (r: Replica, name: string) => r.events.filter((e) => e.event === name);
  /**
   * The sidecar writes its ready file, then logs `ready`: wait for both, so that every line it
   * logged before is read too (under load the file is seen before the pipe is).
   */
  const untilReady = (r: Replica, name: string) =>
    world.until(
      () => fs.existsSync(path.join(r.root, ".ready")) && events(r, "ready").length > 0,
      `${name}'s sidecar reports ready`,
    );

  it("GIVEN serving.json listing the promoted version and one whose files are not the registered bytes WHEN a new replica starts THEN its sidecar turns ready after its first pass, loads what verifies, and skips and retries the other; the base model serves", async () => {
    const raw = JSON.parse(world.s3.objects.get(`${MODELS}/${PREFIX}serving.json`)!.toString());
    const v5 = await writeVersion("v5", 8);
    raw.versions.push({
      version: "v5",
      phase: "canary",
      key: `${PREFIX}v5/adapter/`,
      contentSha256: "0".repeat(64),
    });
    expect(v5.sha).not.toBe("0".repeat(64));
    world.s3.objects.set(`${MODELS}/${PREFIX}serving.json`, Buffer.from(JSON.stringify(raw)));
    const c = await startReplica();
    await untilReady(c, "C");
    expect(events(c, "ready")).toEqual([expect.objectContaining({ complete: false })]);
    expect(listed(c, "v2")).toBe(true);
    expect(listed(c, "v5")).toBe(false);
    await world.until(() => events(c, "fetch_failed").length >= 2, "v5 is retried at the next pass");
    expect(
      events(c, "fetch_failed").every((e) => e.version === "v5" && String(e.error).includes("content hash")),
    ).toBe(true);
    expect(await baseChat(c)).toBe(200);
  }, 120_000);

  it("GIVEN a malformed serving.json WHEN a new replica starts THEN it turns ready and serves the base model, and the running replicas keep what they loaded", async () => {
    world.s3.objects.set(
      `${MODELS}/${PREFIX}serving.json`,
      Buffer.from('{"adapter": "tiny-chat-support", "versions": ['),
    );
    const d = await startReplica();
    await untilReady(d, "D");
    expect(events(d, "state_unreadable").length).toBeGreaterThan(0);
    expect(String(events(d, "state_unreadable")[0].error)).toContain(`${PREFIX}serving.json: expected JSON`);
    expect(await baseChat(d)).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // a few passes of the running sidecars
    expect(listed(replicas[0], "v2")).toBe(true);
  }, 120_000);

  it("GIVEN servers that require their key WHEN everything above ran THEN no caller was refused: the sidecars, the gateway (inference and its adapter listing) and the controller sent the key", () => {
    expect(replicas.length).toBeGreaterThan(2);
    expect(replicas.flatMap((r) => r.vllm.unauthorized)).toEqual([]);
    // and each of them was heard on a guarded path
    const calls = replicas.flatMap((r) => r.vllm.calls);
    for (const c of ["GET /v1/models", "POST /v1/load_lora_adapter", "POST /v1/chat/completions"])
      expect(calls).toContain(c);
  });
});
