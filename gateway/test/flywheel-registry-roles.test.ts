/**
 * The flywheel registry as a deployed stack has it (docs/flywheel.md): the gateway logs in as
 * its own non-superuser role that owns its database (as on RDS and CloudNativePG), migrates the
 * registry at start-up like its audit tables, and grants the `flywheel` writer role exactly what
 * the controller needs. Real PostgreSQL, the running gateway, real OPA: what the writer records
 * is what the gateway routes by, and what the writer must not do is refused by the database.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initialState, step } from "../../components/lib/flywheel-canary";
import {
  FLYWHEEL_MIGRATIONS,
  FLYWHEEL_WRITER_ROLE,
  recordTransition,
  registerDataset,
  registerModelVersion,
} from "../src/flywheel/registry";
import { versionCounts } from "../src/flywheel/controller";
import { World } from "./helpers/world";

const world = new World();
const ADAPTER = "tiny-chat-support"; // an adapter of tiny-chat in the test catalog
let url = "";
let lines: string[] = [];
let writer: Pool;
let gatewayRole: Pool;

const login = (user: string) =>
  new Pool({ host: "127.0.0.1", port: world.pg.port, user, database: "gateway", max: 2 });

beforeAll(async () => {
  await world.start();
  // What the substrates' login jobs create: a login per service, the gateway's database owned
  // by the gateway's role, CONNECT revoked from PUBLIC.
  await world.query("CREATE ROLE gateway LOGIN");
  await world.query("CREATE DATABASE gateway OWNER gateway");
  await world.query("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
  await world.query(`CREATE ROLE ${FLYWHEEL_WRITER_ROLE} LOGIN`);
  await world.query("CREATE ROLE stranger LOGIN");
  await world.query("GRANT CONNECT ON DATABASE gateway TO stranger");
  const pg = world.config().postgres;
  ({ url, lines } = await world.gateway({
    postgres: { ...pg, user: "gateway", database: "gateway" },
    flywheelSyncMs: 100,
  }));
  writer = login(FLYWHEEL_WRITER_ROLE);
  gatewayRole = login("gateway");
});
afterAll(async () => {
  await writer?.end();
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
    expect(lines.some((l) => l.includes("flywheel registry writer granted"))).toBe(true);
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
