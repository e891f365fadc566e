/**
 * The flywheel registry as a deployed stack has it (docs/flywheel.md): the gateway logs in as
 * its own non-superuser role that owns its database (as on RDS and CloudNativePG), migrates the
 * registry at start-up like its audit tables, and grants each flywheel team's writer role
 * (`fw-<team>`, one per catalog team with a `flywheelAdapter`) exactly what its controller
 * needs. Real PostgreSQL, the running gateway, real OPA: what a writer records is what the
 * gateway routes by, what a writer must not do is refused by the database, and one team's
 * writer can neither read nor write another team's rows (row-level security, migration 2).
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initialState, step, type CanaryState } from "../../components/lib/flywheel-canary";
import {
  FLYWHEEL_MIGRATIONS,
  recordEvalReport,
  recordTransition,
  registerDataset,
  registerModelVersion,
} from "../src/flywheel/registry";
import { versionCounts } from "../src/flywheel/controller";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { World } from "./helpers/world";

const world = new World();
const ADAPTER = "tiny-chat-support"; // an adapter of tiny-chat in the test catalog
// A second team with the flywheel on, its own adapter (team B of the isolation cases).
const B_ADAPTER = "small-chat";
const WRITER = flywheelRoleOf("demo");
const B_WRITER = flywheelRoleOf("small");
let url = "";
let lines: string[] = [];
let writer: Pool;
let bWriter: Pool;
let gatewayRole: Pool;

const login = (user: string) =>
  new Pool({ host: "127.0.0.1", port: world.pg.port, user, database: "gateway", max: 2 });

beforeAll(async () => {
  await world.start();
  await world.gatewayOwnsItsDatabase([WRITER, B_WRITER]);
  await world.query("CREATE ROLE stranger LOGIN");
  await world.query("GRANT CONNECT ON DATABASE gateway TO stranger");
  ({ url, lines } = await world.gateway(world.flywheelGateway({ demo: ADAPTER, small: B_ADAPTER })));
  writer = login(WRITER);
  bWriter = login(B_WRITER);
  gatewayRole = login("gateway");
});
afterAll(async () => {
  await writer?.end();
  await bWriter?.end();
  await gatewayRole?.end();
  await world.stop();
});

/** The Postgres error code of a statement run as `pool`'s role (undefined: it succeeded). */
async function codeOf(pool: Pool, sql: string): Promise<string | undefined> {
  try {
    await pool.query(sql);
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

async function send(): Promise<string> {
  const token = await world.idp.token();
  const before = world.chat.seen.length;
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: ADAPTER, messages: [{ role: "user", content: "hi" }] }),
  });
  expect(r.status).toBe(200);
  return String(world.chat.seen[before].body.model);
}

describe("GIVEN a gateway started against an empty database it owns", () => {
  it("WHEN it is ready THEN the registry's schema is migrated (every version) and owned by the gateway's role", async () => {
    const versions = await gatewayRole.query<{ version: number }>(
      "SELECT version FROM flywheel.schema_migrations ORDER BY version",
    );
    expect(versions.rows.map((r) => r.version)).toEqual(FLYWHEEL_MIGRATIONS.map((m) => m.version));
    const owner = await gatewayRole.query<{ o: string }>(
      "SELECT pg_get_userbyid(nspowner) AS o FROM pg_namespace WHERE nspname = 'flywheel'",
    );
    expect(owner.rows[0].o).toBe("gateway");
    const granted = lines.filter((l) => l.includes("flywheel registry writer granted"));
    expect(granted.map((l) => JSON.parse(l).role).sort()).toEqual([WRITER, B_WRITER]);
  });

  it("WHEN the writer registers a dataset and a version and promotes it THEN the gateway routes the stable name to it", async () => {
    await registerDataset(writer, {
      version: "d1",
      team: "demo",
      adapter: ADAPTER,
      uri: "s3://ds/teams/demo/flywheel/d1/",
      content_sha256: "d".repeat(64),
      classification: "internal",
      counts: { kept: 10 },
    });
    await registerModelVersion(writer, {
      id: "v1",
      kind: "adapter",
      baseModel: "tiny-chat",
      uri: "s3://m/teams/demo/v1/",
      contentSha256: "a".repeat(64),
      datasetVersion: "d1",
    });
    let s = initialState("v1");
    for (const e of [
      { kind: "start", at: 0 },
      { kind: "observe", at: 60_000, requests: 20, errors: 0, guardFlags: 0 },
    ] as const) {
      const r = step(s, e, {
        share: 0.3,
        windowMinutes: 1,
        minRequests: 10,
        maxErrorRate: 0.05,
        maxLatencyRatio: 2,
        maxGuardFlagRate: 0.01,
      });
      s = r.state;
      await recordTransition(writer, "demo", ADAPTER, s, r.audit);
    }
    expect(s.phase).toBe("promoted");
    await world.until(async () => (await send()) === `${ADAPTER}--v1`, "the promoted version to serve");
  });

  it("WHEN the controller observes the canary as the writer THEN it reads the per-version counts of the gateway's audit rows", async () => {
    // The requests the previous case sent through the gateway to the promoted v1.
    await world.until(
      async () => (await versionCounts(writer, ADAPTER, "v1", 0, Date.now() + 60_000)).requests > 0,
      "the gateway's audit rows of v1, counted as the writer",
    );
  });

  it("WHEN the writer tries what it must not THEN the database refuses it (insufficient privilege)", async () => {
    const denied = "42501";
    expect(await codeOf(writer, "DELETE FROM flywheel.deployments")).toBe(denied);
    expect(await codeOf(writer, "TRUNCATE flywheel.audit_events")).toBe(denied);
    expect(await codeOf(writer, "UPDATE flywheel.deployments SET model_version = 'v1'")).toBe(denied);
    expect(await codeOf(writer, "UPDATE flywheel.deployments SET team = 'other'")).toBe(denied);
    expect(await codeOf(writer, "DROP TABLE flywheel.audit_events")).toBe(denied);
    expect(await codeOf(writer, "CREATE TABLE flywheel.mine (x int)")).toBe(denied);
    // The gateway's own tables are not the flywheel's to read, nor who asked what in its audit.
    expect(await codeOf(writer, "SELECT * FROM gateway_schema_migrations")).toBe(denied);
    expect(await codeOf(writer, "SELECT subject, team FROM gateway_audit")).toBe(denied);
    expect(await codeOf(writer, "SELECT * FROM gateway_audit")).toBe(denied);
    // Versions stay immutable for it too (the trigger), and its allowed column update works.
    expect(await codeOf(writer, "DELETE FROM flywheel.dataset_versions")).toBe(denied);
    expect(await codeOf(writer, "UPDATE flywheel.deployments SET share = share")).toBeUndefined();
  });

  it("WHEN another login of the database reads the registry THEN it is refused (no PUBLIC grant)", async () => {
    const stranger = login("stranger");
    try {
      expect(await codeOf(stranger, "SELECT * FROM flywheel.deployments")).toBe("42501");
    } finally {
      await stranger.end();
    }
  });
});

describe("GIVEN two teams with the flywheel on, each with its own writer role", () => {
  const denied = "42501"; // insufficient privilege, and a row a policy refuses
  const count = async (pool: Pool, sql: string, params: unknown[] = []) =>
    Number((await pool.query<{ n: string }>(sql, params)).rows[0].n);
  const B_DATASET = "bd1";
  const promoted = (version: string): CanaryState => ({
    phase: "promoted",
    version,
    at: 0,
    totals: { requests: 0, errors: 0, guardFlags: 0 },
  });
  const B_VERSION = "bv1";

  it("WHEN team B's writer runs its own loop THEN it registers, reports, promotes and observes its adapter", async () => {
    await registerDataset(bWriter, {
      version: B_DATASET,
      team: "small",
      adapter: B_ADAPTER,
      uri: "s3://ds/teams/small/flywheel/bd1/",
      content_sha256: "b".repeat(64),
      classification: "internal",
      counts: { kept: 5 },
    });
    await registerModelVersion(bWriter, {
      id: B_VERSION,
      kind: "adapter",
      baseModel: "tiny-chat",
      uri: "s3://m/teams/small/bv1/",
      contentSha256: "c".repeat(64),
      datasetVersion: B_DATASET,
    });
    await recordEvalReport(bWriter, B_VERSION, null, { passed: true });
    await recordTransition(bWriter, "small", B_ADAPTER, promoted(B_VERSION), []);
    await bWriter.query(
      `INSERT INTO flywheel.audit_events (team, adapter, version, from_phase, to_phase, reason)
       VALUES ('small', $1, $2, 'canary', 'promoted', 'test')`,
      [B_ADAPTER, B_VERSION],
    );
    // the gateway's audit rows of B's adapter (the gateway writes them as the table's owner)
    await gatewayRole.query(
      `INSERT INTO gateway_audit (request_id, ts, subject, auth_kind, team, model, endpoint, latency_ms,
                                  decision, status, instance, flywheel_version)
       VALUES ('b-1', now() - interval '1 minute', 'someone', 'oidc', 'small', $1, 'chat', 5, 'allow', 200, 't', $2)`,
      [B_ADAPTER, B_VERSION],
    );
    expect(await versionCounts(bWriter, B_ADAPTER, B_VERSION, 0, Date.now() + 60_000)).toMatchObject({
      requests: 1,
    });
    for (const t of ["dataset_versions", "model_versions", "deployments", "audit_events"])
      expect(await count(bWriter, `SELECT count(*) AS n FROM flywheel.${t} WHERE team = 'small'`), t).toBe(1);
    expect(await count(bWriter, "SELECT count(*) AS n FROM flywheel.eval_reports")).toBe(1);
  });

  it("WHEN team A's writer reads THEN it sees only its own team's rows in every table, and of the gateway's audit only its adapter's", async () => {
    for (const t of ["dataset_versions", "model_versions", "deployments", "audit_events"]) {
      expect(await count(writer, `SELECT count(*) AS n FROM flywheel.${t} WHERE team <> 'demo'`), t).toBe(0);
      expect(
        await count(writer, `SELECT count(*) AS n FROM flywheel.${t} WHERE team = 'demo'`),
        t,
      ).toBeGreaterThan(0);
    }
    expect(
      await count(writer, "SELECT count(*) AS n FROM flywheel.eval_reports WHERE model_version = $1", [
        B_VERSION,
      ]),
    ).toBe(0);
    // B's rows are there (the owner sees them); A's role does not.
    expect(
      await count(gatewayRole, "SELECT count(*) AS n FROM flywheel.eval_reports WHERE model_version = $1", [
        B_VERSION,
      ]),
    ).toBe(1);
    expect(await versionCounts(writer, B_ADAPTER, B_VERSION, 0, Date.now() + 60_000)).toMatchObject({
      requests: 0,
    });
    expect(await count(writer, "SELECT count(*) AS n FROM gateway_audit WHERE model <> $1", [ADAPTER])).toBe(
      0,
    );
    // and B's writer sees none of A's
    expect(
      await count(bWriter, "SELECT count(*) AS n FROM flywheel.model_versions WHERE team = 'demo'"),
    ).toBe(0);
    expect(await count(bWriter, "SELECT count(*) AS n FROM gateway_audit WHERE model = $1", [ADAPTER])).toBe(
      0,
    );
  });

  it("WHEN team A's writer inserts rows of team B, or under B's adapter, THEN each table refuses them", async () => {
    const ds = (id: string, team: string, adapter: string) =>
      codeOf(
        writer,
        `INSERT INTO flywheel.dataset_versions (id, team, adapter, uri, content_sha256, classification, records, manifest)
         VALUES ('${id}', '${team}', '${adapter}', 's3://x/${id}/', '${"e".repeat(64)}', 'internal', 1, '{}')`,
      );
    expect(await ds("x1", "small", B_ADAPTER)).toBe(denied);
    // its own team, B's adapter name: refused (adapter names are global; no squatting)
    expect(await ds("x2", "demo", B_ADAPTER)).toBe(denied);
    const mv = (id: string, team: string, adapter: string, dataset: string) =>
      codeOf(
        writer,
        `INSERT INTO flywheel.model_versions (id, team, adapter, kind, base_model, uri, content_sha256, dataset_version, classification)
         VALUES ('${id}', '${team}', '${adapter}', 'adapter', 'tiny-chat', 's3://x/${id}/', '${"e".repeat(64)}', '${dataset}', 'public')`,
      );
    expect(await mv("x3", "small", B_ADAPTER, B_DATASET)).toBe(denied);
    // its own team and adapter, trained on B's dataset (a lineage across teams): refused
    expect(await mv("x4", "demo", ADAPTER, B_DATASET)).toBe(denied);
    // registerModelVersion names the dataset only: B's is invisible, so nothing is registered
    await expect(
      registerModelVersion(writer, {
        id: "x5",
        kind: "adapter",
        baseModel: "tiny-chat",
        uri: "s3://x/x5/",
        contentSha256: "e".repeat(64),
        datasetVersion: B_DATASET,
      }),
    ).rejects.toThrow(/expected a registered dataset "bd1", found none/);
    // a report on B's version, or naming B's version as the incumbent
    expect(
      await codeOf(
        writer,
        `INSERT INTO flywheel.eval_reports (model_version, passed, report) VALUES ('${B_VERSION}', true, '{}')`,
      ),
    ).toBe(denied);
    expect(
      await codeOf(
        writer,
        `INSERT INTO flywheel.eval_reports (model_version, incumbent_version, passed, report) VALUES ('v1', '${B_VERSION}', true, '{}')`,
      ),
    ).toBe(denied);
    // a deployment of B's team or adapter (a promoted or canary row would squat B's adapter's
    // one-promoted/one-canary index), or of B's version under A's own adapter
    const dep = (team: string, adapter: string, version: string, phase: string) =>
      codeOf(
        writer,
        `INSERT INTO flywheel.deployments (team, adapter, model_version, phase, share, state)
         VALUES ('${team}', '${adapter}', '${version}', '${phase}', 0, '{}')`,
      );
    expect(await dep("small", B_ADAPTER, B_VERSION, "candidate")).toBe(denied);
    expect(await dep("demo", B_ADAPTER, "v1", "canary")).toBe(denied);
    expect(await dep("demo", ADAPTER, B_VERSION, "candidate")).toBe(denied);
    expect(
      await codeOf(
        writer,
        `INSERT INTO flywheel.audit_events (team, adapter, version, from_phase, to_phase, reason)
         VALUES ('small', '${B_ADAPTER}', '${B_VERSION}', 'promoted', 'rolled_back', 'forged')`,
      ),
    ).toBe(denied);
    expect(
      await codeOf(
        writer,
        `INSERT INTO flywheel.audit_events (team, adapter, version, from_phase, to_phase, reason)
         VALUES ('demo', '${B_ADAPTER}', '${B_VERSION}', 'promoted', 'rolled_back', 'forged')`,
      ),
    ).toBe(denied);
    // nothing of the above landed
    expect(
      await count(gatewayRole, "SELECT count(*) AS n FROM flywheel.model_versions WHERE id LIKE 'x%'"),
    ).toBe(0);
    expect(
      await count(gatewayRole, "SELECT count(*) AS n FROM flywheel.audit_events WHERE reason = 'forged'"),
    ).toBe(0);
  });

  it("WHEN team A's writer tries to move B's deployment (roll back or retire B's promoted version) THEN no row of B's changes", async () => {
    const before = await gatewayRole.query(
      "SELECT * FROM flywheel.deployments WHERE team = 'small' ORDER BY id",
    );
    const r = await writer.query(
      "UPDATE flywheel.deployments SET phase = 'rolled_back', until = now() WHERE adapter = $1",
      [B_ADAPTER],
    );
    expect(r.rowCount).toBe(0);
    // recordTransition as A for B's adapter: its first UPDATE touches nothing, its INSERT is refused
    await expect(recordTransition(writer, "small", B_ADAPTER, promoted(B_VERSION), [])).rejects.toMatchObject(
      { code: denied },
    );
    // moving one of its own rows onto B's team or adapter is refused too
    expect(
      await codeOf(writer, `UPDATE flywheel.deployments SET phase = phase WHERE team = 'demo'`),
    ).toBeUndefined();
    const after = await gatewayRole.query(
      "SELECT * FROM flywheel.deployments WHERE team = 'small' ORDER BY id",
    );
    expect(after.rows).toEqual(before.rows);
    expect(after.rows.map((x) => [x.phase, x.until])).toEqual([["promoted", null]]);
    // and the gateway still routes B's stable name to B's promoted version (its reads see all)
    const served = await gatewayRole.query(
      "SELECT model_version FROM flywheel.deployments WHERE adapter = $1 AND phase = 'promoted' AND until IS NULL",
      [B_ADAPTER],
    );
    expect(served.rows).toEqual([{ model_version: B_VERSION }]);
  });
});
