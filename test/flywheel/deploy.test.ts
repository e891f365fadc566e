/**
 * The flywheel's controller as a deployed stack runs it (docs/flywheel.md, "The controller in a
 * cluster"), with real parts: PostgreSQL with the logins the AWS login Job's own script creates
 * (the gateway's, with its database, and the team's `flywheel-demo` writer's, without one, logging
 * in with a password the server checks), the gateway's own migrations and writer grants, the S3 test store
 * (signatures checked), a vLLM-compatible model server with runtime LoRA loading.
 *
 * - `from-store` (the controller CronJob's command): registers the newest run record in the
 *   store once (a second run changes nothing), skips runs in progress, failed and superseded ones,
 *   and moves the canary one step per run: loaded and started, observed, promoted.
 * - The init container's seam: the rendered init container's command writes the incumbent to the
 *   handoff file, and the loop (`real_stages`, the trainer's venv) reads exactly that file through
 *   the rendered FLYWHEEL_INCUMBENT_FILE. Before a first promotion, the manual run's pod and the
 *   scheduled one's both write no incumbent, and the loop evaluates the base model in its place.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FLYWHEEL_CONTROLLER_CLI,
  FLYWHEEL_HANDOFF_DIR,
  incumbentInitContainer,
  renderFlywheelControllerCronJob,
  renderFlywheelCronJob,
  renderFlywheelRunJob,
  type FlywheelController,
  type FlywheelTeamInput,
} from "../../components/flywheel/plan";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { main } from "../../gateway/src/flywheel/controller-cli";
import { grantFlywheelWriter, migrateFlywheel } from "../../gateway/src/flywheel/registry";
import { migrate } from "../../gateway/src/db";
import { TestS3 } from "../../gateway/test/helpers/s3-server";
import { runLoginJob } from "../helpers/login-job";
import { startPostgres, type PostgresInstance } from "../helpers/postgres";
import { startFakeVllm, type FakeVllm } from "./fake-vllm";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { configWarnings } from "../../stacks/config/warnings";
import { withFlywheelCapacity } from "../helpers/flywheel-stack";
import { modelApiKeySecretName, modelKeyRef } from "../../components/lib/model-keys";

const ROOT = path.resolve(__dirname, "../..");
const ADAPTER = "demo-chat";
const MODELS = "models";
const PREFIX = `teams/demo/flywheel/${ADAPTER}/`;
const PASSWORD = "flywheel-test-password";
const WRITER = flywheelRoleOf("demo");
// A second team with the flywheel on: its own adapter, its own writer login and password.
const TWO = { team: "two", adapter: "demo-two", role: flywheelRoleOf("two"), password: "two-test-password" };
// A third, whose base model's replicas never load a candidate (a CPU model).
const CPU = { team: "cpu", adapter: "demo-cpu", role: flywheelRoleOf("cpu"), password: "cpu-test-password" };
const SHA = (c: string) => c.repeat(64);
const OLD = "20260101T000000Z-aaaaaaaaaaaa";
const FAILED = "20260101T120000Z-dddddddddddd";
const NEWEST = "20260102T000000Z-bbbbbbbbbbbb";
const RUNNING = "20260103T000000Z-cccccccccccc";

/** The base model server's API key (its Secret in the team's namespace). */
const KEY = "deploy-test-model-key";

/**
 * The variable the rendered controller CronJob reads the base model's key into, from its Secret:
 * the CLI below gets the key under that name only.
 */
function renderedKeyEnv(): string {
  const f = {
    team: "demo",
    costCenter: "cc",
    adapter: ADAPTER,
    baseModel: "tiny-chat",
    schedule: "0 3 * * *",
    minNewRecords: 1,
    modelClassifications: {},
    redactPatterns: [],
    canary: {
      share: 0.3,
      windowMinutes: 1,
      minRequests: 3,
      maxErrorRate: 0.5,
      maxLatencyRatio: 2,
      maxGuardFlagRate: 0.5,
    },
  } as FlywheelTeamInput;
  const ctl: FlywheelController = {
    image: "gateway:test",
    postgres: {
      host: "127.0.0.1",
      port: 5432,
      database: "gateway",
      sslMode: "disable",
      secretName: "flywheel-postgres",
      rootCert: { configMapName: "flywheel-postgres-ca", key: "ca.crt" },
    },
  };
  const cron = renderFlywheelControllerCronJob(f, {
    serviceAccountName: "sa",
    env: [],
    controller: ctl,
    apiKeys: { baseModel: modelKeyRef("tiny-chat") },
  }) as any;
  const env = cron.spec.jobTemplate.spec.template.spec.containers[0].env as any[];
  const refs = env.filter((e) => e.valueFrom?.secretKeyRef?.name === modelApiKeySecretName("tiny-chat"));
  expect(refs).toHaveLength(1);
  return refs[0].name as string;
}

let pg: PostgresInstance;
let s3: TestS3;
let vllm: FakeVllm;
let su: Pool;

/** What the chain's loop writes to CANDIDATES_URI/<version>/run.json. */
function runRecord(version: string, outcome = "candidate"): Record<string, unknown> {
  return {
    kind: "sovereign.flywheel.run/v1",
    team: "demo",
    adapter: ADAPTER,
    baseModel: "tiny-chat",
    outcome,
    dataset: {
      version,
      uri: `s3://datasets/${PREFIX}${version}/`,
      content_sha256: SHA("1"),
      classification: "internal",
      counts: { kept: 40 },
    },
    candidate: { version, uri: `s3://${MODELS}/${PREFIX}${version}/adapter/`, content_sha256: SHA("2") },
    incumbent: { version: null, uri: null },
    gate: { passed: outcome === "candidate", checks: [] },
    events: [],
  };
}

const put = (key: string, body: unknown) =>
  s3.objects.set(`${MODELS}/${key}`, Buffer.from(typeof body === "string" ? body : JSON.stringify(body)));

/** Puts another team's complete run record for `version` in the store; returns its candidates prefix. */
function putTeamRun(t: { team: string; adapter: string }, version: string): string {
  const prefix = `teams/${t.team}/flywheel/${t.adapter}/`;
  const rec = runRecord(version) as any;
  rec.team = t.team;
  rec.adapter = t.adapter;
  rec.dataset.uri = `s3://datasets/${prefix}${version}/`;
  rec.candidate.uri = `s3://${MODELS}/${prefix}${version}/adapter/`;
  put(`${prefix}${version}/run.json`, rec);
  return prefix;
}

/** Runs the psql login script of the AWS login Job for `service` (password mode). */
function loginJob(service: string, password: string, ownDatabase: boolean): void {
  const r = runLoginJob(pg, { iamAuth: false, service, password, ownDatabase });
  if (r.status !== 0) throw new Error(`login job for ${service}: ${r.stderr}`);
}

/** The controller CronJob's environment (as the flywheel login, password checked by the server). */
function controllerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PGHOST: "127.0.0.1",
    PGPORT: String(pg.port),
    PGDATABASE: "gateway",
    PGUSER: WRITER,
    PGPASSWORD: PASSWORD,
    PGSSLMODE: "disable",
    CANDIDATES_URI: `s3://${MODELS}/${PREFIX}`,
    AWS_ENDPOINT_URL_S3: s3.url,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: "true",
    FLYWHEEL_REPLICAS: vllm.url,
    FLYWHEEL_LORA_ROOT: "/adapters", // where the test server has its adapters
    FLYWHEEL_CANARY: JSON.stringify({
      share: 0.3,
      // 3 s windows: the canary is rolled back for too little traffic only after 4 (12 s), far
      // more than a loaded machine takes between two runs of this file's tests
      windowMinutes: 0.05,
      minRequests: 3,
      maxErrorRate: 0.5,
      maxLatencyRatio: 100,
      maxGuardFlagRate: 0.5,
    }),
    FLYWHEEL_CANARY_LAG_MS: "0",
    FLYWHEEL_UNLOAD_GRACE_MS: "0",
    [renderedKeyEnv()]: KEY,
    ...extra,
  };
}

async function fromStore(): Promise<{ code: number; out: any; err: string }> {
  return cli(["from-store", ADAPTER], "");
}

async function cli(
  argv: string[],
  stdin: string,
  extra: Record<string, string> = {},
): Promise<{ code: number; out: any; err: string }> {
  const out: string[] = [];
  const errs: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (s: string) => (errs.push(String(s)), true);
  try {
    const code = await main(
      argv,
      controllerEnv(extra),
      () => Promise.resolve(stdin),
      (s) => out.push(s),
    );
    return { code, out: out.length ? JSON.parse(out.at(-1)!) : undefined, err: errs.join("") };
  } finally {
    process.stderr.write = write;
  }
}

const rows = async (sql: string, params: unknown[] = []) => (await su.query(sql, params)).rows;

/** The demo team's flywheel of `adapter`, and the identity its pods are rendered with (the controller on this file's PostgreSQL). */
function demoChain(adapter: string): {
  f: FlywheelTeamInput;
  id: { serviceAccountName: string; env: []; controller: FlywheelController };
} {
  return {
    f: {
      team: "demo",
      costCenter: "cc",
      adapter,
      baseModel: "tiny-chat",
      schedule: "0 3 * * *",
      minNewRecords: 1,
      modelClassifications: {},
      redactPatterns: [],
    },
    id: {
      serviceAccountName: "sa",
      env: [],
      controller: {
        image: "gateway:test",
        postgres: {
          host: "127.0.0.1",
          port: pg.port,
          database: "gateway",
          sslMode: "disable",
          secretName: "flywheel-postgres",
          rootCert: { configMapName: "flywheel-postgres-ca", key: "ca.crt" },
        },
      },
    },
  };
}

/**
 * A chain pod's start, here: runs its init container's `command` (the image's CLI is the source via
 * tsx, the handoff emptyDir a temporary folder) as the flywheel login, then `script` in the
 * trainer's venv with `env` and FLYWHEEL_INCUMBENT_FILE (the loop's `incumbentFile`, made local).
 * Returns the script's last line of output, parsed; `which` names the pod in failures.
 */
function handOffIncumbent(
  which: string,
  command: string[],
  incumbentFile: string,
  script: string[],
  env: Record<string, string>,
): unknown {
  const venv = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (venv.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${venv.stderr}`);
  const py = path.join(venv.stdout.trim().split("\n").pop()!, "bin/python");
  const handoff = fs.mkdtempSync(path.join(os.tmpdir(), "fw-handoff-"));
  try {
    const local = (x: string) =>
      x
        .replaceAll(
          `node ${FLYWHEEL_CONTROLLER_CLI}`,
          `${ROOT}/node_modules/.bin/tsx ${ROOT}/gateway/src/flywheel/controller-cli.ts`,
        )
        .replaceAll(FLYWHEEL_HANDOFF_DIR, handoff);
    const ran = spawnSync(command[0], command.slice(1).map(local), {
      encoding: "utf8",
      env: { PATH: process.env.PATH, ...controllerEnv() },
      timeout: 60_000,
    });
    expect(ran.status, `${which}: ${ran.stderr}`).toBe(0);
    const read = spawnSync(py, ["-c", script.join("\n")], {
      cwd: path.join(ROOT, "trainer"),
      encoding: "utf8",
      env: { PATH: process.env.PATH, ...env, FLYWHEEL_INCUMBENT_FILE: local(incumbentFile) },
      timeout: 120_000,
    });
    expect(read.status, `${which}: ${read.stderr}`).toBe(0);
    return JSON.parse(read.stdout.trim().split("\n").at(-1)!);
  } finally {
    fs.rmSync(handoff, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  [pg] = await Promise.all([startPostgres({ passwordRoles: [WRITER, TWO.role, CPU.role] })]);
  // As on RDS: the master user is not a superuser.
  pg.psql("CREATE ROLE sovereign_admin LOGIN CREATEROLE CREATEDB");
  loginJob("gateway", "gateway-password", true);
  loginJob(WRITER, PASSWORD, false);
  loginJob(TWO.role, TWO.password, false);
  loginJob(CPU.role, CPU.password, false);
  // The gateway at start-up, as its own role (owner of its database): its migrations, the
  // registry's, and the writer's grants.
  const gw = new Pool({ host: "127.0.0.1", port: pg.port, user: "gateway", database: "gateway", max: 2 });
  await migrate(gw);
  await migrateFlywheel(gw);
  expect(await grantFlywheelWriter(gw, { role: WRITER, team: "demo", adapter: ADAPTER })).toBe(true);
  expect(await grantFlywheelWriter(gw, { role: TWO.role, team: TWO.team, adapter: TWO.adapter })).toBe(true);
  expect(await grantFlywheelWriter(gw, { role: CPU.role, team: CPU.team, adapter: CPU.adapter })).toBe(true);
  await gw.end();
  su = new Pool({ host: "127.0.0.1", port: pg.port, user: "postgres", database: "gateway", max: 2 });
  s3 = new TestS3();
  await s3.start();
  // it requires its key, as vLLM with VLLM_API_KEY (and the chart's api_guard.py) does
  vllm = await startFakeVllm("tiny-chat", true, { apiKey: KEY });
  put(`${PREFIX}${OLD}/run.json`, runRecord(OLD));
  put(`${PREFIX}${FAILED}/run.json`, runRecord(FAILED, "failed"));
  put(`${PREFIX}${NEWEST}/run.json`, runRecord(NEWEST));
  put(`${PREFIX}${NEWEST}/adapter/adapter_model.safetensors`, "weights");
  put(`${PREFIX}${RUNNING}/adapter/adapter_model.safetensors`, "weights, no run.json yet");
}, 120_000);

afterAll(async () => {
  await su?.end();
  await vllm?.close();
  await s3?.stop();
  pg?.destroy();
});

describe("GIVEN run records in the store and the flywheel login the stack creates", () => {
  it("WHEN the controller CronJob runs THEN it registers the newest complete run, loads it into the replica and starts its canary", async () => {
    const r = await fromStore();
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code, r.err).toBe(0);
    expect(r.out.registered).toBe(NEWEST);
    expect(r.out.advanced).toMatchObject({ version: NEWEST, action: "started", state: { phase: "canary" } });
    expect([...vllm.loaded.keys()]).toContain(`${ADAPTER}--${NEWEST}`);
    expect(vllm.loaded.get(`${ADAPTER}--${NEWEST}`)).toBe(`/adapters/${ADAPTER}/${NEWEST}`);
    expect(await rows("SELECT id FROM flywheel.model_versions ORDER BY id")).toEqual([{ id: NEWEST }]);
  });

  it("WHEN it runs again THEN nothing is registered twice, superseded and failed runs are skipped, and the canary takes one observation", async () => {
    const r = await fromStore();
    expect(r.code, r.err).toBe(0);
    expect(r.out.registered).toBeNull();
    expect(r.out.skipped).toEqual([`${FAILED}: older than ${NEWEST}`, `${OLD}: older than ${NEWEST}`]);
    expect(r.out.advanced).toMatchObject({ version: NEWEST, action: "observed", state: { phase: "canary" } });
    const count = async (t: string) => Number((await rows(`SELECT count(*) AS n FROM flywheel.${t}`))[0].n);
    expect([
      await count("dataset_versions"),
      await count("model_versions"),
      await count("eval_reports"),
    ]).toEqual([1, 1, 1]);
  });

  it("WHEN the same run is registered again (a retried run, or the loop's own register) THEN nothing changes; the same version with other content is refused by name", async () => {
    const before = await rows("SELECT count(*) AS n FROM flywheel.audit_events");
    const again = await cli(["register"], JSON.stringify(runRecord(NEWEST)));
    expect(again.code, again.err).toBe(0);
    expect(again.out).toEqual({ registered: NEWEST, passed: true, new: false });
    expect(await rows("SELECT count(*) AS n FROM flywheel.audit_events")).toEqual(before);
    const other = runRecord(NEWEST) as any;
    other.candidate.content_sha256 = SHA("3");
    const refused = await cli(["register"], JSON.stringify(other));
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(
      new RegExp(`version ${NEWEST} is registered already as .*: versions are immutable`),
    );
  });

  it("WHEN the canary's traffic is within its limits for the window THEN the next run promotes it, and the incumbent is that version", async () => {
    // The gateway's audit rows of requests the canary served (what every gateway replica writes).
    for (let i = 0; i < 5; i++)
      await su.query(
        `INSERT INTO gateway_audit (request_id, ts, subject, auth_kind, team, model, endpoint, latency_ms,
           decision, status, instance, flywheel_version, flywheel_canary)
         VALUES ($1, now(), 'u', 'oidc', 'demo', $2, 'chat', 10, 'allow', 200, 'gw', $3, true)`,
        [`req-${i}`, ADAPTER, NEWEST],
      );
    await new Promise((r) => setTimeout(r, 3100)); // past the 3 s window
    const r = await fromStore();
    expect(r.code, r.err).toBe(0);
    expect(r.out.advanced).toMatchObject({
      version: NEWEST,
      action: "promoted",
      state: { phase: "promoted" },
    });
    const audit = await rows(
      "SELECT from_phase || '>' || to_phase AS t FROM flywheel.audit_events WHERE version = $1 ORDER BY id",
      [NEWEST],
    );
    expect(audit.map((a) => a.t)).toEqual([
      "gate>candidate",
      "candidate>candidate",
      "candidate>canary",
      "canary>promoted",
    ]);
    // Nothing left to do: a further run registers nothing and moves nothing.
    const idle = await fromStore();
    expect([idle.code, idle.out.registered, idle.out.advanced]).toEqual([0, null, null]);
  });

  it("WHEN another team's controller (its own login) runs against this team's adapter THEN it sees no version, registers nothing and moves nothing", async () => {
    const asTwo = { PGUSER: TWO.role, PGPASSWORD: TWO.password };
    const before = await rows("SELECT * FROM flywheel.deployments ORDER BY id");
    // the promoted version of demo's adapter is not team two's to see (the chain's incumbent)
    const inc = await cli(["incumbent", ADAPTER], "", asTwo);
    expect([inc.code, inc.out]).toEqual([0, { version: null, uri: null }]);
    // demo's run records (as if its store were readable): registering them is refused
    const r = await cli(["from-store", ADAPTER], "", asTwo);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/row-level security/);
    expect(r.err).not.toMatch(/\n\s+at /);
    // nor can it register its own run under demo's adapter name (adapter names are global)
    const squat = runRecord("20260105T000000Z-ffffffffffff") as any;
    squat.team = TWO.team;
    const refused = await cli(["register"], JSON.stringify(squat), asTwo);
    expect(refused.code).toBe(3);
    expect(refused.err).toMatch(/row-level security/);
    expect(await rows("SELECT * FROM flywheel.deployments ORDER BY id")).toEqual(before);
    expect(await rows("SELECT id FROM flywheel.model_versions ORDER BY id")).toEqual([{ id: NEWEST }]);
  });

  it("WHEN the CronJob runs as deployed (no FLYWHEEL_LORA_ROOT: the replicas' lora-sync sidecars load) THEN it publishes serving.json with the candidate under CANDIDATES_URI and starts the canary only once the replica lists it", async () => {
    // the second team's controller, as its own login (one adapter per team's writer)
    const adapter = TWO.adapter;
    const v = "20260104T000000Z-eeeeeeeeeeee";
    const prefix = putTeamRun(TWO, v);
    // A double of the sidecar (the real one runs in lora-sync.test.ts): it loads what serving.json lists.
    let published: any;
    let stop = false;
    const sidecar = (async () => {
      while (!stop) {
        const body = s3.objects.get(`${MODELS}/${prefix}serving.json`);
        if (body) {
          published = JSON.parse(body.toString("utf8"));
          for (const x of published.versions)
            vllm.loaded.set(`${adapter}--${x.version}`, `/adapters/${x.key}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const env = controllerEnv({
        CANDIDATES_URI: `s3://${MODELS}/${prefix}`,
        PGUSER: TWO.role,
        PGPASSWORD: TWO.password,
        FLYWHEEL_LOAD_POLL_MS: "50",
        FLYWHEEL_LOAD_TIMEOUT_MS: "30000",
      });
      delete env.FLYWHEEL_LORA_ROOT;
      const out: string[] = [];
      const code = await main(
        ["from-store", adapter],
        env,
        () => Promise.resolve(""),
        (x) => out.push(x),
      );
      expect(code).toBe(0);
      const r = JSON.parse(out.at(-1)!);
      expect(r.registered).toBe(v);
      expect(r.advanced).toMatchObject({ version: v, action: "started", state: { phase: "canary" } });
      expect(published.versions).toEqual([
        { version: v, phase: "candidate", key: `${prefix}${v}/adapter/`, contentSha256: SHA("2") },
      ]);
      const loaded = await rows(
        "SELECT detail FROM flywheel.audit_events WHERE version = $1 AND reason = 'loaded'",
        [v],
      );
      expect(loaded.map((x) => x.detail.by)).toEqual(["sidecar"]);
      // every call of the controller to the model server carried its key
      expect(vllm.calls).toContain("GET /v1/models");
      expect(vllm.unauthorized).toEqual([]);
    } finally {
      stop = true;
      await sidecar;
    }
  });

  it("WHEN the CronJob runs as deployed for a base model whose replicas never load a candidate (a CPU model: no lora-sync sidecar) THEN the canary is rolled back under the reason the config warning for such a model names", async () => {
    // The warning `check-config` and `pulumi up` give for the local stack's CPU model as a flywheel base.
    const raw = withFlywheelCapacity(structuredClone(rawFromStackFile(stackFile("local")).raw));
    raw.teams[0].allowedModels.push("demo-assistant");
    raw.teams[0].flywheel = { enabled: true, baseModel: "tiny-chat", adapter: "demo-assistant" };
    const warning = configWarnings(parseConfig(raw)).find(
      (w) => w.path === "sovereign:teams[0].flywheel.baseModel",
    );
    expect(warning).toBeDefined();
    const named = /is rolled back \(([a-z_]+)\)/.exec(warning!.message)?.[1];
    expect(named, warning!.message).toBeDefined();

    const adapter = CPU.adapter;
    const v = "20260105T000000Z-ffffffffffff";
    const prefix = putTeamRun(CPU, v);
    // No sidecar: the replica never lists the version (what a simulator replica does).
    const env = controllerEnv({
      PGUSER: CPU.role,
      PGPASSWORD: CPU.password,
      CANDIDATES_URI: `s3://${MODELS}/${prefix}`,
      FLYWHEEL_LOAD_POLL_MS: "20",
      FLYWHEEL_LOAD_TIMEOUT_MS: "300",
    });
    delete env.FLYWHEEL_LORA_ROOT;
    const out: string[] = [];
    const errs: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (x: string) => (errs.push(String(x)), true);
    try {
      await main(
        ["from-store", adapter],
        env,
        () => Promise.resolve(""),
        (x) => out.push(x),
      );
    } finally {
      process.stderr.write = write;
    }
    expect(JSON.parse(out.at(-1)!).registered, errs.join("")).toBe(v);
    const audit = await rows(
      "SELECT from_phase, to_phase, reason FROM flywheel.audit_events WHERE version = $1 ORDER BY id",
      [v],
    );
    const rollback = audit.findIndex((x) => x.from_phase === "candidate" && x.to_phase === "rolled_back");
    expect(rollback, JSON.stringify(audit)).toBeGreaterThan(0);
    // the failed load, recorded right before the rollback, under the reason the warning names
    expect(audit[rollback - 1]).toEqual({ from_phase: "candidate", to_phase: "candidate", reason: named });
  });

  it("WHEN the chain's pod starts THEN its init container's command writes the incumbent, and the loop reads that file", () => {
    const { f, id } = demoChain(ADAPTER);
    const init = incumbentInitContainer(f, id.controller) as { command: string[] };
    const pod = renderFlywheelCronJob(f, id).spec.jobTemplate.spec.template.spec;
    const loopEnv = Object.fromEntries(
      (pod.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
    );
    const read = handOffIncumbent(
      "scheduled",
      init.command,
      loopEnv.FLYWHEEL_INCUMBENT_FILE!,
      [
        "import argparse, json, os",
        "from sovereign_train.flywheel_loop import real_stages",
        "args = argparse.Namespace(adapter=os.environ['ADAPTER'], gate_thresholds='{}', base_model='tiny-chat')",
        "print(json.dumps(real_stages(args, dict(os.environ), client=object()).incumbent()))",
      ],
      {
        ADAPTER,
        BASE_MODEL_URI: `s3://${MODELS}/tiny-chat/`,
        CANDIDATES_URI: `s3://${MODELS}/${PREFIX}`,
        // a controller that would answer something else: the file must win
        FLYWHEEL_CONTROLLER: "false",
      },
    );
    expect(read).toEqual({
      version: NEWEST,
      uri: `s3://${MODELS}/${PREFIX}${NEWEST}/adapter/`,
    });
  }, 180_000);

  it("WHEN a run starts before the adapter's first promotion THEN the manual run's pod does what the scheduled one's does: its init container writes no incumbent, and the loop evaluates the base model in its place", () => {
    const first = "demo-first"; // registered nowhere: nothing promoted yet
    const { f, id } = demoChain(first);
    const pods = {
      scheduled: renderFlywheelCronJob(f, id).spec.jobTemplate.spec.template.spec,
      manual: renderFlywheelRunJob(f, "first1", id).spec.template.spec,
    };
    const seen: Record<string, unknown> = {};
    for (const [which, pod] of Object.entries(pods)) {
      expect(
        (pod.initContainers ?? []).map((x: { name: string }) => x.name),
        `${which}: init containers`,
      ).toEqual(["incumbent"]);
      const file = (pod.containers[0].env as { name: string; value?: string }[]).find(
        (e) => e.name === "FLYWHEEL_INCUMBENT_FILE",
      )?.value;
      expect(file, `${which}: FLYWHEEL_INCUMBENT_FILE`).toBeDefined();
      // The loop reads the file, then evaluates "the incumbent": which model does its eval job get?
      seen[which] = handOffIncumbent(
        which,
        pod.initContainers[0].command as string[],
        file!,
        [
          "import argparse, io, json, os",
          "import sovereign_train.cli as cli",
          "from sovereign_train.flywheel_loop import real_stages",
          "seen = []",
          "cli.main = lambda argv, env: seen.append(env['MODEL_URI']) or 0",
          "class S3:",
          "    def get_object(self, Bucket, Key):",
          "        return {'Body': io.BytesIO(json.dumps({'metrics': {}}).encode())}",
          "args = argparse.Namespace(adapter=os.environ['ADAPTER'], gate_thresholds='{}', base_model='tiny-chat')",
          "st = real_stages(args, dict(os.environ), client=S3())",
          "inc = st.incumbent()",
          "st.evaluate('incumbent', {'version': 'v', 'uri': 's3://datasets/d/', 'files': {'eval.jsonl': {'sha256': 'x'}}})",
          "print(json.dumps({'incumbent': inc, 'evaluated': seen}))",
        ],
        {
          ADAPTER: first,
          BASE_MODEL_URI: `s3://${MODELS}/tiny-chat/`,
          CANDIDATES_URI: `s3://${MODELS}/flywheel/demo/${first}/`,
        },
      );
    }
    expect(seen.scheduled).toEqual({
      incumbent: { version: null, uri: null },
      evaluated: [`s3://${MODELS}/tiny-chat/`],
    });
    expect(seen.manual).toEqual(seen.scheduled);
  }, 240_000);
});
