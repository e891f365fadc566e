/**
 * Export and import round trip with the real PostgreSQL (pg_dump and psql) and the
 * S3-compatible test store: a gateway serves real requests (audit rows, captures) on the source,
 * `npm run -s export` writes it out, `npm run -s import` restores it into a fresh database and a
 * fresh store under another stack's bucket names; checksums, row counts, an audit query and
 * the objects match. A tampered export or a non-fresh target is refused with nothing written.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI from "openai";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../gateway/src/auth";
import { createApiKey } from "../../gateway/src/db";
import { migrateFlywheel, registerDataset } from "../../gateway/src/flywheel/registry";
import { TestS3 } from "../../gateway/test/helpers/s3-server";
import { World } from "../../gateway/test/helpers/world";
import { stackFile } from "../../stacks/config/load";
import {
  exportStack,
  type Manifest,
  readManifest,
  stackBuckets,
  verifyExport,
} from "../../scripts/migrate/bundle";
import { S3, s3Store } from "../../scripts/migrate/store";
import { loadStack } from "../../scripts/lib/cli";
import { type PostgresInstance, startPostgres } from "../helpers/postgres";
import { toolPath } from "../helpers/tools";

const ROOT = path.resolve(__dirname, "../..");
const PG_BIN = path.dirname(fs.realpathSync(toolPath("initdb")));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-migration-"));
const world = new World();
const target = new TestS3();
let targetPg: PostgresInstance;
let targetStack = "";
const source = loadStack("local").config;
const srcBuckets = stackBuckets(source);

const AUDIT_QUERY =
  "SELECT team, model, decision, status, count(*)::int AS n, sum(tokens_in + tokens_out)::int AS tokens FROM gateway_audit GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

function s3For(s: TestS3): S3 {
  return new S3({
    endpoint: s.url,
    region: s.region,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  });
}

/** Runs a script as a child process without blocking this process (the S3 test stores live here). */
function cli(
  script: string,
  args: string[],
  pgUrl: string,
  s3: TestS3,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", `scripts/${script}.ts`, ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      SOVEREIGN_DATABASE_URL: pgUrl,
      SOVEREIGN_PG_BIN: PG_BIN,
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_REGION: s3.region,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    return (await pool.query(sql)).rows as T[];
  } finally {
    await pool.end();
  }
}

beforeAll(async () => {
  await Promise.all([world.start(), target.start(), startPostgres().then((p) => (targetPg = p))]);
  // Another stack, as a customer would add it: local's config under other bucket names.
  const stacksDir = fs.mkdtempSync(path.join(tmp, "stacks-"));
  targetStack = path.join(stacksDir, "Pulumi.onprem.yaml");
  fs.writeFileSync(
    targetStack,
    fs
      .readFileSync(stackFile("local"), "utf8")
      .replace("bucketPrefix: sovereign-local", "bucketPrefix: acme-onprem"),
  );
  const { url } = await world.gateway({
    s3: { ...world.config().s3!, bucket: srcBuckets.inferenceLogs },
  });
  const pool = new Pool({ connectionString: world.pg.url, max: 1 });
  const { key } = await createApiKey(pool, "demo", "migration test", () => "0123456789abcdef", hashApiKey);
  await migrateFlywheel(pool);
  await registerDataset(pool, {
    version: "ds-1",
    team: "demo",
    adapter: "support-lora",
    uri: `s3://${srcBuckets.datasets}/teams/demo/support/train.jsonl`,
    content_sha256: "a".repeat(64),
    classification: "internal",
    counts: { kept: 1 },
  });
  await pool.end();
  const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
  for (const content of ["hello", "write to bob@example.com", "a third question"])
    await client.chat.completions.create({ model: "tiny-chat", messages: [{ role: "user", content }] });
  await world.until(
    async () => (await world.query("SELECT 1 FROM gateway_audit")).length === 3,
    "audit rows",
  );
  await world.until(() => world.s3.records(srcBuckets.inferenceLogs, "captures/").length > 0, "captures");
  const s3 = s3For(world.s3);
  await s3.put(
    srcBuckets.datasets,
    "teams/demo/support/train.jsonl",
    Buffer.from('{"prompt":"p","completion":"c"}\n'),
  );
  await s3.put(
    srcBuckets.models,
    "teams/demo/support-lora/adapter_model.safetensors",
    Buffer.from([0, 1, 2, 3, 255]),
  );
  await s3.put(srcBuckets.models, "tiny-chat/model.safetensors", Buffer.alloc(64, 7)); // base weights: not exported by default
}, 180_000);

afterAll(async () => {
  await world.stop();
  await target.stop();
  targetPg?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("export and import", () => {
  let dir = "";
  let manifest: Manifest;

  it("GIVEN a serving source stack WHEN exported to a directory THEN every file is in the manifest with its checksum, and rows and objects are counted", async () => {
    dir = path.join(tmp, "export");
    const r = await cli("export", ["--stack", "local", "--to", dir], world.pg.url, world.s3);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.status, r.stderr).toBe(0);
    manifest = await readManifest({
      where: dir,
      read: async (f) => fs.readFileSync(path.join(dir, f)),
      write: async () => undefined,
      exists: async (f) => fs.existsSync(path.join(dir, f)),
    });
    const files = Object.keys(manifest.files).sort();
    expect(files).toContain("objects/datasets/teams/demo/support/train.jsonl");
    expect(files).toContain("objects/models/teams/demo/support-lora/adapter_model.safetensors");
    expect(files.some((f) => /^objects\/inferenceLogs\/captures\/.+\.jsonl$/.test(f))).toBe(true);
    expect(files).not.toContain("objects/models/tiny-chat/model.safetensors");
    expect(files).toEqual(
      expect.arrayContaining(["models/manifest.json", "policy/data.json", "postgres/gateway.sql"]),
    );
    for (const [f, { sha256 }] of Object.entries(manifest.files)) {
      const { createHash } = await import("node:crypto");
      expect(
        createHash("sha256")
          .update(fs.readFileSync(path.join(dir, f)))
          .digest("hex"),
        f,
      ).toBe(sha256);
    }
    expect(manifest.rows).toEqual({
      gateway_api_keys: 1,
      gateway_audit: 3,
      gateway_usage: 1,
      gateway_usage_minute: 1,
      "flywheel.dataset_versions": 1,
      "flywheel.model_versions": 0,
      "flywheel.eval_reports": 0,
      "flywheel.deployments": 0,
      "flywheel.audit_events": 0,
    });
    expect(files).toContain("postgres/flywheel.sql");
  });

  it("GIVEN an export with one file changed WHEN imported THEN it is refused naming the file, and nothing is written", async () => {
    const bad = path.join(tmp, "tampered");
    fs.cpSync(dir, bad, { recursive: true });
    fs.appendFileSync(path.join(bad, "objects/datasets/teams/demo/support/train.jsonl"), "extra\n");
    const r = await cli("import", ["--stack", targetStack, "--from", bad], targetPg.url, target);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^import: the export does not match its manifest: objects\/datasets\/teams\/demo\/support\/train\.jsonl \(checksum differs\); nothing was imported/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(target.objects.size).toBe(0);
    expect(targetPg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'gateway_audit'").trim()).toBe(
      "0",
    );
  });

  it("GIVEN an export whose manifest was changed (row counts, a path out of the export, no object) WHEN imported THEN one line names the problem, nothing is restored and the target stays fresh", async () => {
    const tamper = (name: string, edit: (m: Record<string, unknown>) => unknown) => {
      const d = path.join(tmp, name);
      fs.cpSync(dir, d, { recursive: true });
      const m = JSON.parse(fs.readFileSync(path.join(d, "manifest.json"), "utf8")) as Record<string, unknown>;
      fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify(edit(m)));
      return d;
    };
    for (const [from, msg] of [
      [
        tamper("rows", (m) => ({ ...m, rows: { ...(m.rows as object), gateway_audit: 4 } })),
        /rolled back; nothing was imported\): row counts differ after the restore: gateway_audit 3 \(export 4\)$/,
      ],
      [
        tamper("escape", (m) => ({
          ...m,
          files: {
            ...(m.files as object),
            "objects/datasets/../../../../etc/hostname": { sha256: "0".repeat(64) },
          },
        })),
        /file "objects\/datasets\/\.\.\/.*" is not a path inside the export/,
      ],
      [tamper("null", () => null), /manifest\.json: not an object/],
      [tamper("nofiles", (m) => ({ ...m, files: undefined })), /manifest\.json: files is not an object/],
    ] as [string, RegExp][]) {
      const r = await cli("import", ["--stack", targetStack, "--from", from], targetPg.url, target);
      expect(r.status, from).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines.at(-1), from).toMatch(new RegExp(`^import: .*${msg.source}`));
      expect(
        lines.filter((l) => l.startsWith("import:")),
        from,
      ).toHaveLength(1);
      expect(target.objects.size, from).toBe(0);
    }
    // The restore ran and was rolled back: the schema is there, its tables are empty.
    expect(targetPg.psql("SELECT count(*) FROM gateway_audit").trim()).toBe("0");
    expect(targetPg.psql("SELECT count(*) FROM gateway_api_keys").trim()).toBe("0");
  }, 240_000);

  it("GIVEN the export WHEN imported into a fresh database and store of another stack THEN row counts, the audit query, the objects and a re-export's checksums match", async () => {
    const r = await cli("import", ["--stack", targetStack, "--from", dir], targetPg.url, target);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.status, r.stderr).toBe(0);
    const counts = (url: string) =>
      query<{ t: string; n: number }>(
        url,
        "SELECT 'gateway_api_keys' AS t, count(*)::int AS n FROM gateway_api_keys UNION ALL SELECT 'gateway_audit', count(*)::int FROM gateway_audit UNION ALL SELECT 'gateway_usage', count(*)::int FROM gateway_usage UNION ALL SELECT 'gateway_usage_minute', count(*)::int FROM gateway_usage_minute",
      );
    expect(await counts(targetPg.url)).toEqual(await counts(world.pg.url));
    const audit = await query(targetPg.url, AUDIT_QUERY);
    expect(audit).toEqual(await query(world.pg.url, AUDIT_QUERY));
    expect(audit).toEqual([
      { team: "demo", model: "tiny-chat", decision: "allow", status: 200, n: 3, tokens: expect.any(Number) },
    ]);
    const registry =
      "SELECT id, team, adapter, uri, content_sha256, classification, records, manifest, created_at FROM flywheel.dataset_versions";
    expect(await query(targetPg.url, registry)).toEqual(await query(world.pg.url, registry));
    const keyHash = "SELECT key_hash, team, created_at FROM gateway_api_keys";
    expect(await query(targetPg.url, keyHash)).toEqual(await query(world.pg.url, keyHash));
    const tb = stackBuckets(loadStack(targetStack).config);
    expect(tb.datasets).toBe("acme-onprem-datasets");
    for (const f of Object.keys(manifest.files).filter((f) => f.startsWith("objects/"))) {
      const [, role, ...key] = f.split("/");
      const body = target.objects.get(`${tb[role as keyof typeof tb]}/${key.join("/")}`);
      expect(body, f).toEqual(fs.readFileSync(path.join(dir, f)));
    }
    // The target, exported again, holds the same data.
    const again = path.join(tmp, "again");
    expect((await cli("export", ["--stack", targetStack, "--to", again], targetPg.url, target)).status).toBe(
      0,
    );
    const m2 = JSON.parse(fs.readFileSync(path.join(again, "manifest.json"), "utf8")) as Manifest;
    expect(m2.rows).toEqual(manifest.rows);
    // pg_dump writes a random \restrict key into each dump, so the SQL file is compared by its
    // restored content (row counts and the audit query above), every other file by checksum.
    const { ["postgres/gateway.sql"]: sql2, ["postgres/flywheel.sql"]: fw2, ...rest2 } = m2.files;
    const { ["postgres/gateway.sql"]: sql1, ["postgres/flywheel.sql"]: fw1, ...rest1 } = manifest.files;
    expect(sql2 && sql1 && fw1 && fw2).toBeTruthy();
    expect(rest2).toEqual(rest1);
  });

  it("GIVEN a target that already holds data WHEN imported again THEN it is refused naming the tables", async () => {
    const r = await cli("import", ["--stack", targetStack, "--from", dir], targetPg.url, target);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /(^|\n)import: the target database is not fresh: gateway_api_keys has 1 rows, .*nothing was imported/,
    );
  });

  it("GIVEN an s3:// destination WHEN exported THEN the export in the bucket verifies against its manifest", async () => {
    const s3 = s3For(world.s3);
    const store = s3Store(s3, "s3://exports/run-1");
    const m = await exportStack("local", source, { databaseUrl: world.pg.url, pgBin: PG_BIN, s3 }, store);
    const read = await readManifest(store);
    expect(read).toEqual(m);
    expect((await verifyExport(store, read)).size).toBe(Object.keys(m.files).length);
    expect(m.rows).toEqual(manifest.rows);
  });

  it("GIVEN an unreachable database, or a failure after objects were written WHEN exported THEN one line, exit 1, and the target directory is left as it was", async () => {
    const absent = path.join(tmp, "no-db");
    const empty = fs.mkdtempSync(path.join(tmp, "empty-"));
    for (const d of [absent, empty]) {
      const r = await cli(
        "export",
        ["--stack", "local", "--to", d],
        "postgres://u:p@127.0.0.1:1/gateway",
        world.s3,
      );
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^export: the database: .*ECONNREFUSED.*; nothing was written\n$/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(fs.existsSync(absent)).toBe(false);
    expect(fs.readdirSync(empty)).toEqual([]);
    // A store whose keys cannot both be files (`x` and `x/y`): the second write fails after the first.
    const clash = new TestS3();
    await clash.start();
    try {
      const s3 = s3For(clash);
      await s3.put(srcBuckets.datasets, "clash/x", Buffer.from("1"));
      await s3.put(srcBuckets.datasets, "clash/x/y", Buffer.from("2"));
      const d = path.join(tmp, "clash");
      const r = await cli("export", ["--stack", "local", "--to", d], world.pg.url, clash);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^export: .*; the partial export was removed from /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(d)).toBe(false);
    } finally {
      await clash.stop();
    }
  }, 120_000);

  it("GIVEN bad flags WHEN run THEN one clear line, exit 2, no stack trace", async () => {
    for (const [script, args, msg] of [
      ["export", ["--stack", "local"], /--to is required/],
      ["export", ["--stack", "local", "--to", ROOT], /is not empty/],
      ["export", ["--stack", "local", "--to", path.join(ROOT, "package.json")], /is not a directory/],
      ["import", ["--stack", "local", "--from", "/nonexistent"], /is not a directory/],
      ["import", ["--stack", "local", "--from", "s3://Bad_Bucket"], /expected s3:\/\/bucket/],
      ["export", ["--stack", "nope", "--to", "/tmp/x"], /no stack "nope"/],
    ] as [string, string[], RegExp][]) {
      const r = await cli(script, args, world.pg.url, world.s3);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n")[0]).toMatch(new RegExp(`^${script}: .*${msg.source}`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // five CLI starts (tsx) one after the other: on a loaded 2-core machine each takes seconds
  }, 240_000);
});
