/**
 * An existing deployment upgraded to per-team writer roles (docs/flywheel.md, "Upgrading from the
 * shared `flywheel` role"): its database has registry migration 1 and the former shared
 * `flywheel` login with the grants the gateway used to give it. Real PostgreSQL: when the gateway
 * applies migration 2, that role loses every right in the registry and on the gateway's audit
 * (and CONNECT), so a controller still running as it reads and writes nothing; the role itself
 * stays (dropping it is the operator's call).
 */
import { Client, Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../gateway/src/db";
import { FLYWHEEL_MIGRATIONS, migrateFlywheel } from "../../gateway/src/flywheel/registry";
import { startPostgres, type PostgresInstance } from "../helpers/postgres";

let pg: PostgresInstance;
let gw: Pool;

/** The grants the gateway gave the shared `flywheel` role before migration 2 (as it ran them). */
const FORMER_GRANTS = [
  "GRANT CONNECT ON DATABASE gateway TO flywheel",
  "GRANT USAGE ON SCHEMA flywheel TO flywheel",
  "GRANT SELECT ON flywheel.schema_migrations TO flywheel",
  "GRANT SELECT, INSERT ON flywheel.dataset_versions, flywheel.model_versions, flywheel.eval_reports, flywheel.audit_events, flywheel.deployments TO flywheel",
  "GRANT UPDATE (phase, share, state, until) ON flywheel.deployments TO flywheel",
  "GRANT USAGE ON ALL SEQUENCES IN SCHEMA flywheel TO flywheel",
  "GRANT SELECT (ts, model, flywheel_version, status, reasons, latency_ms) ON gateway_audit TO flywheel",
];

/** A statement as the former role, on a connection of its own (undefined: it succeeded). */
async function codeOf(sql: string): Promise<string | undefined> {
  const c = new Client({ host: "127.0.0.1", port: pg.port, user: "flywheel", database: "gateway" });
  c.on("error", () => undefined); // a late server message after the end is not this test's
  try {
    await c.connect();
    await c.query(sql);
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  } finally {
    await c.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  pg = await startPostgres();
  pg.psql("CREATE ROLE gateway LOGIN");
  pg.psql("CREATE DATABASE gateway OWNER gateway");
  pg.psql("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
  pg.psql("CREATE ROLE flywheel LOGIN");
  gw = new Pool({ host: "127.0.0.1", port: pg.port, user: "gateway", database: "gateway", max: 2 });
  // The database as the former release left it: the gateway's tables, registry migration 1 only.
  await migrate(gw);
  await gw.query("CREATE SCHEMA flywheel");
  await gw.query(
    "CREATE TABLE flywheel.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
  );
  const [first] = FLYWHEEL_MIGRATIONS;
  await gw.query(first.sql);
  await gw.query("INSERT INTO flywheel.schema_migrations (version, name) VALUES ($1, $2)", [
    first.version,
    first.name,
  ]);
  for (const g of FORMER_GRANTS) await gw.query(g);
}, 120_000);

afterAll(async () => {
  await gw?.end();
  pg?.destroy();
});

describe("GIVEN a registry at migration 1 with the former shared `flywheel` role", () => {
  it("WHEN the gateway migrates it THEN that role keeps no right in the registry or on the audit, and is not dropped", async () => {
    // before: the shared role reads every team's rows
    expect(await codeOf("SELECT count(*) FROM flywheel.deployments")).toBeUndefined();
    expect(await migrateFlywheel(gw)).toEqual(FLYWHEEL_MIGRATIONS.slice(1).map((m) => m.version));
    // after: nothing is left granted to it, and it may not even connect
    const inGateway = await gw.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'flywheel')
            + (SELECT count(*) FROM information_schema.role_column_grants WHERE grantee = 'flywheel')
            + (SELECT count(*) FROM information_schema.usage_privileges WHERE grantee = 'flywheel')
            + (CASE WHEN has_schema_privilege('flywheel', 'flywheel', 'USAGE') THEN 1 ELSE 0 END)
            + (CASE WHEN has_database_privilege('flywheel', 'gateway', 'CONNECT') THEN 1 ELSE 0 END) AS n`,
    );
    expect(Number(inGateway.rows[0].n)).toBe(0);
    expect(await codeOf("SELECT 1")).toBe("42501");
    expect(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'flywheel'").trim()).toBe("1");
  });
});
