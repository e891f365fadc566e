/**
 * A team's registry writer (`fw-<team>`) is a login of the gateway's database. Whatever it does
 * there must not keep the gateway itself from starting: a gateway pod that restarts (a rollout, a
 * drained node) runs its migrations and the registry's before it turns ready, under advisory
 * locks whose keys are constants in the source, and `pg_advisory_lock` is executable by every
 * role. Real PostgreSQL, the gateway's own migration code, the writer holding both keys.
 */
import { Client, Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { MIGRATION_LOCK_KEY, migrate } from "../src/db";
import { FLYWHEEL_MIGRATION_LOCK_KEY, grantFlywheelWriter, migrateFlywheel } from "../src/flywheel/registry";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";

const WRITER = flywheelRoleOf("demo");
let pg: PostgresInstance;
let gateway: Pool;
let writer: Client;
let observer: Client;

beforeAll(async () => {
  pg = await startPostgres();
  const admin = new Client({ connectionString: pg.url });
  await admin.connect();
  await admin.query("CREATE ROLE gateway LOGIN");
  await admin.query("CREATE DATABASE gateway OWNER gateway");
  await admin.query("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
  await admin.query(`CREATE ROLE "${WRITER}" LOGIN`);
  await admin.end();
  gateway = new Pool({ host: "127.0.0.1", port: pg.port, user: "gateway", database: "gateway", max: 4 });
  // the gateway's first start: everything migrated, the team's writer granted
  await migrate(gateway);
  await migrateFlywheel(gateway);
  expect(await grantFlywheelWriter(gateway, { role: WRITER, team: "demo", adapter: "demo-chat" })).toBe(true);
  writer = new Client({ host: "127.0.0.1", port: pg.port, user: WRITER, database: "gateway" });
  await writer.connect();
  observer = new Client({ connectionString: pg.url });
  await observer.connect();
});

afterAll(async () => {
  await writer?.end().catch(() => undefined);
  await observer?.end().catch(() => undefined);
  await gateway?.end().catch(() => undefined);
  pg?.destroy();
});

let watching = true;
/** Resolves once a session of the gateway's role waits for an advisory lock (or `watching` ends). */
async function gatewayWaitsForLock(): Promise<"blocked" | "not blocked"> {
  while (watching) {
    const r = await observer.query(
      `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND NOT l.granted AND a.usename = 'gateway'`,
    );
    if (r.rowCount) return "blocked";
    await new Promise((res) => setTimeout(res, 50));
  }
  return "not blocked";
}

describe("GIVEN a team's writer that holds the gateway's migration lock keys in its own session", () => {
  it("WHEN a gateway pod restarts with nothing to migrate THEN its migrations finish (it turns ready) instead of waiting on the team's lock forever", async () => {
    for (const key of [MIGRATION_LOCK_KEY, FLYWHEEL_MIGRATION_LOCK_KEY])
      await writer.query("SELECT pg_advisory_lock($1)", [key]);
    const restart = (async () => {
      await migrate(gateway);
      await migrateFlywheel(gateway);
      return "migrated" as const;
    })();
    const watch = gatewayWaitsForLock();
    const outcome = await Promise.race([restart, watch]);
    watching = false;
    await watch;
    // release the keys so that a blocked restart (the failure) ends with the test
    await writer.query("SELECT pg_advisory_unlock_all()");
    await restart;
    expect(outcome).toBe("migrated");
  });
});
