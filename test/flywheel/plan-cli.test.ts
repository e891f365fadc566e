/**
 * The flywheel's Kubernetes objects and command line: a manual run prints a Kueue-admitted Job in
 * the team's namespace as the flywheel-builder identity whose command the REAL runner accepts;
 * the CronJob carries the team's schedule; `status` is read-only and reads the real registry.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  FLYWHEEL_CONTROLLER_CLI,
  FLYWHEEL_SERVICE_ACCOUNT,
  flywheelEnvData,
  flywheelTeams,
  renderFlywheelObjects,
  type FlywheelRunIdentity,
} from "../../components/flywheel/plan";
import { QUEUE_LABEL, TEAM_LOCAL_QUEUE } from "../../components/platform/tenancy-plan";
import {
  migrateFlywheel,
  recordTransition,
  registerDataset,
  registerModelVersion,
} from "../../gateway/src/flywheel/registry";
import { initialState, step } from "../../components/lib/flywheel-canary";
import { main, RUN_IDENTITIES_OUTPUT } from "../../scripts/flywheel";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { withFlywheelCapacity } from "../helpers/flywheel-stack";
import { startPostgres, type PostgresInstance } from "../helpers/postgres";

const ROOT = path.resolve(__dirname, "../..");
let PY = "";
let pg: PostgresInstance;

beforeAll(async () => {
  const r = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${r.stderr}`);
  PY = path.join(r.stdout.trim().split("\n").pop()!, "bin/python");
  pg = await startPostgres();
}, 3_600_000);
afterAll(() => pg?.destroy());

/** The local stack with the flywheel on for its team. */
function localWithFlywheel() {
  const raw = structuredClone(rawFromStackFile(stackFile("local")).raw) as Record<string, any>;
  raw.teams[0].allowedModels.push("demo-assistant");
  withFlywheelCapacity(raw);
  raw.teams[0].flywheel = {
    enabled: true,
    baseModel: "tiny-chat",
    adapter: "demo-assistant",
    schedule: "30 2 * * *",
  };
  return raw;
}

/** What a deployed in-cluster stack's `flywheelRunIdentities` output holds for the demo team. */
const IDENTITY: FlywheelRunIdentity = {
  serviceAccountName: FLYWHEEL_SERVICE_ACCOUNT,
  env: [
    { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "store-flywheel-demo", key: "id" } } },
  ],
  controller: {
    image: "registry.example/sovereign-gateway:1",
    postgres: {
      host: "postgres-rw.sovereign-data.svc",
      port: 5432,
      database: "gateway",
      sslMode: "verify-full",
      secretName: "flywheel-postgres",
      rootCert: { configMapName: "postgres-ca", key: "ca.crt" },
    },
  },
};

/** A folder with the local stack (flywheel on) as `Pulumi.fw-test.yaml` and a `pulumi` that prints `outputs`, logging its argv. */
function deployedStack(outputs: unknown) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-cli-"));
  const file = path.join(dir, "Pulumi.fw-test.yaml");
  const raw = localWithFlywheel();
  fs.writeFileSync(
    file,
    stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`sovereign:${k}`, v])) }),
  );
  fs.mkdirSync(path.join(dir, "bin"));
  fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs));
  fs.writeFileSync(
    path.join(dir, "bin/pulumi"),
    `#!/bin/sh\necho "$@" >> ${dir}/argv\ncat ${dir}/outputs.json\n`,
    { mode: 0o755 },
  );
  return {
    dir,
    file,
    env: { PATH: `${dir}/bin:${process.env.PATH}` },
    argv: () => fs.readFileSync(path.join(dir, "argv"), "utf8").trim().split("\n"),
    rm: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

describe("flywheel plan and CLI", () => {
  it("GIVEN a deployed stack with one enabled team WHEN run is asked THEN it prints a suspended Kueue Job in the team namespace, with the deployed pod's `incumbent` init container, that the runner accepts", async () => {
    const d = deployedStack({ [RUN_IDENTITIES_OUTPUT]: { demo: IDENTITY }, other: "[secret]" });
    const raw = localWithFlywheel();
    let r: Awaited<ReturnType<typeof main>>;
    try {
      r = await main(["run", "--stack", d.file, "--team", "demo", "--run-id", "manual1"], d.env);
      // the deployed stack's outputs, asked of pulumi by the stack's name, no secrets shown
      expect(d.argv()).toEqual(["stack output --json --stack fw-test"]);
    } finally {
      d.rm();
    }
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const job = parse(r.out);
    expect(job).toMatchObject({
      kind: "Job",
      metadata: { name: "flywheel-demo-assistant-manual1", namespace: "team-demo" },
      spec: { suspend: true, template: { spec: { serviceAccountName: FLYWHEEL_SERVICE_ACCOUNT } } },
    });
    const pod = job.spec.template.spec;
    expect(pod.initContainers).toMatchObject([
      {
        name: "incumbent",
        image: IDENTITY.controller.image,
        command: [
          "/bin/sh",
          "-c",
          expect.stringContaining(`${FLYWHEEL_CONTROLLER_CLI} incumbent demo-assistant > `),
        ],
      },
    ]);
    expect(pod.containers[0].env).toEqual(expect.arrayContaining([...IDENTITY.env]));
    expect(job.metadata.labels[QUEUE_LABEL]).toBe(TEAM_LOCAL_QUEUE);
    expect(job.metadata.labels).toMatchObject({ team: "demo", "cost-center": "cc-local" });
    // the REAL runner's parser accepts the command with the env the ConfigMap gives it
    const [exe, ...argv] = job.spec.template.spec.containers[0].command as string[];
    expect(exe).toBe("sovereign-flywheel");
    const env = flywheelEnvData(flywheelTeams(parseConfig(raw))[0], {
      buckets: { inferenceLogs: "logs", datasets: "ds" },
      opaUrl: "http://127.0.0.1:9",
      endpoint: "http://127.0.0.1:9",
      region: "us-east-1",
      forcePathStyle: true,
    });
    const p = spawnSync(
      PY,
      [
        "-c",
        "import sys,json; from sovereign_train.flywheel_cli import build_parser, _window; a=build_parser().parse_args(sys.argv[1:]); f,t=_window(a); print(json.dumps([a.adapter, a.min_new_records, a.model_classification, str(f), str(t)]))",
        ...argv,
      ],
      { cwd: path.join(ROOT, "trainer"), encoding: "utf8", env: { ...process.env, ...env } },
    );
    expect(p.status, p.stderr).toBe(0);
    const [adapter, min, classes, from, to] = JSON.parse(p.stdout);
    expect([adapter, min]).toEqual(["demo-assistant", 1000]);
    expect(classes).toEqual([["tiny-chat", "public"]]);
    expect((Date.parse(to) - Date.parse(from)) / 86_400_000).toBe(29);
    expect(env.DATASETS_URI).toBe("s3://ds/teams/demo/flywheel/demo-assistant/");
  }, 120_000);

  it("GIVEN an enabled team WHEN its objects are rendered THEN the CronJob runs on its schedule as its own identity", () => {
    const f = flywheelTeams(parseConfig(localWithFlywheel()));
    expect(f.map((x) => x.team)).toEqual(["demo"]);
    const objs = renderFlywheelObjects(f[0], {
      buckets: { inferenceLogs: "logs", datasets: "ds" },
      opaUrl: "http://opa",
      endpoint: "http://s3",
      region: "r",
      forcePathStyle: true,
    });
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      "ServiceAccount/team-demo/flywheel-builder",
      "ConfigMap/team-demo/flywheel-env",
      "CronJob/team-demo/flywheel-demo-assistant",
    ]);
    const cron = objs[2];
    expect(cron.spec.schedule).toBe("30 2 * * *");
    expect(cron.spec.concurrencyPolicy).toBe("Forbid");
    expect(cron.spec.jobTemplate.spec.suspend).toBe(true);
    expect(cron.spec.jobTemplate.metadata.labels[QUEUE_LABEL]).toBe(TEAM_LOCAL_QUEUE);
  });

  it("GIVEN the saved outputs on stdin (`--outputs -`) WHEN the command runs as a process THEN it prints the same Job", () => {
    const d = deployedStack({});
    try {
      const p = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(ROOT, "scripts/flywheel.ts"),
          "run",
          "--stack",
          d.file,
          "--team",
          "demo",
          "--run-id",
          "stdin1",
          "--outputs",
          "-",
        ],
        {
          cwd: ROOT,
          encoding: "utf8",
          input: JSON.stringify({ [RUN_IDENTITIES_OUTPUT]: { demo: IDENTITY } }),
        },
      );
      expect(p.status, p.stderr).toBe(0);
      const job = parse(p.stdout);
      expect(job.metadata.name).toBe("flywheel-demo-assistant-stdin1");
      expect(job.spec.template.spec.initContainers.map((x: { name: string }) => x.name)).toEqual([
        "incumbent",
      ]);
      expect(fs.existsSync(path.join(d.dir, "argv"))).toBe(false); // pulumi was not asked
    } finally {
      d.rm();
    }
  });

  it("GIVEN no or bad deployed outputs WHEN run is asked THEN it exits 2 naming the output or field, and prints no manifest", async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /expected the stack output flywheelRunIdentities in the outputs of stack fw-test, found none/],
      [
        { [RUN_IDENTITIES_OUTPUT]: {} },
        /expected flywheelRunIdentities\.demo in the outputs of stack fw-test/,
      ],
      [
        {
          [RUN_IDENTITIES_OUTPUT]: {
            demo: { ...IDENTITY, controller: { ...IDENTITY.controller, image: 3 } },
          },
        },
        /flywheelRunIdentities\.demo\.controller\.image: /,
      ],
      [
        { [RUN_IDENTITIES_OUTPUT]: { demo: "[secret]" } },
        /flywheelRunIdentities\.demo: .*\(a secret output\)/,
      ],
      [
        { [RUN_IDENTITIES_OUTPUT]: "[secret]" },
        /expected the stack output flywheelRunIdentities in .* to map teams to pods, found "\[secret\]" \(a secret output\)/,
      ],
    ];
    for (const [outputs, message] of cases) {
      const d = deployedStack(outputs);
      try {
        const r = await main(["run", "--stack", d.file, "--team", "demo"], d.env);
        expect([r.code, r.out]).toEqual([2, ""]);
        expect(r.err).toMatch(message);
        expect(r.err).not.toMatch(/\n\s+at /);
        // the same through --outputs (here the file pulumi would print)
        const f = await main(
          ["run", "--stack", d.file, "--team", "demo", "--outputs", `${d.dir}/outputs.json`],
          {},
        );
        expect([f.code, f.out]).toEqual([2, ""]);
        expect(f.err).toMatch(
          new RegExp(message.source.replace("the outputs of stack fw-test", ".*outputs\\.json")),
        );
      } finally {
        d.rm();
      }
    }
    // no pulumi on PATH: says what to run instead
    const d = deployedStack({});
    try {
      const r = await main(["run", "--stack", d.file, "--team", "demo"], { PATH: "/nonexistent" });
      expect(r.code).toBe(2);
      expect(r.err).toMatch(
        /expected `pulumi stack output --json --stack fw-test` to print .*--outputs <file>/,
      );
    } finally {
      d.rm();
    }
  });

  it("GIVEN bad arguments WHEN the CLI runs THEN it exits 2 naming them", async () => {
    expect((await main(["run", "--stack", "local", "--team", "demo"])).err).toMatch(
      /expected team "demo" to have teams\[\]\.flywheel\.enabled: true/,
    );
    expect((await main(["launch"])).code).toBe(2);
    const bad = await main(["status", "--stack", "nope"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/expected a stack config, found no file at/);
    for (const url of ["notaurl", "http://db:5432/gateway", ""]) {
      const r = await main(["status", "--stack", "local", `--database-url=${url}`]);
      expect(r.code, url).toBe(2);
      expect(r.err.split("\n")[0], url).toBe(
        `flywheel: --database-url: expected a postgres:// or postgresql:// URL, found ${JSON.stringify(url)}`,
      );
      expect(r.out, url).toBe("");
    }
  });

  it("GIVEN a registry WHEN status reads it THEN it lists what serves and writes nothing", async () => {
    const pool = new Pool({ connectionString: pg.url, max: 2 });
    await migrateFlywheel(pool);
    await registerDataset(pool, {
      version: "d1",
      team: "demo",
      adapter: "demo-assistant",
      uri: "s3://ds/teams/demo/flywheel/demo-assistant/d1/",
      content_sha256: "e".repeat(64),
      classification: "internal",
      counts: { kept: 3 },
    });
    await registerModelVersion(pool, {
      id: "demo-assistant-1",
      kind: "adapter",
      baseModel: "tiny-chat",
      uri: "s3://m/teams/demo/demo-assistant-1/",
      contentSha256: "f".repeat(64),
      datasetVersion: "d1",
    });
    const limits = {
      share: 0.25,
      windowMinutes: 1,
      minRequests: 1,
      maxErrorRate: 0,
      maxLatencyRatio: 2,
      maxGuardFlagRate: 0,
    };
    const s = step(initialState("demo-assistant-1"), { kind: "start", at: 0 }, limits);
    await recordTransition(pool, "demo", "demo-assistant", s.state, s.audit);
    await pool.end();
    const before = pg.psql("SELECT count(*) FROM flywheel.deployments").trim();
    const r = await main(["status", "--stack", "local", "--database-url", pg.url]);
    expect(r.err).toBe("");
    expect(r.out).toMatch(
      /\| demo \| demo-assistant \| demo-assistant-1 \| canary \| 0\.25 \| .* \| internal \|/,
    );
    expect(r.out).toMatch(/\| demo \| false \|/);
    expect(pg.psql("SELECT count(*) FROM flywheel.deployments").trim()).toBe(before);
  }, 60_000);
});
