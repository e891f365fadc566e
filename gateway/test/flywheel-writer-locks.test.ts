/**
 * A team's registry writer (`fw-<team>`) is a login of the gateway's database. Whatever it does
 * there must not keep the gateway itself from starting: a gateway pod that restarts (a rollout, a
 * drained node) runs its migrations and the registry's, and grants the writers, before it
 * listens, under advisory locks whose keys are constants in the source, and `pg_advisory_lock`
 * is executable by every role. Real PostgreSQL, the real gateway (in process), the writer
 * holding both keys in its own session. With nothing to migrate the gateway takes no lock; with
 * migrations pending it waits for each lock at most GATEWAY_MIGRATION_LOCK_WAIT_MS, logs who
 * holds it, listens not ready and tries again (one wait at a time) until the writer lets go.
 */
import { Client, Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { MIGRATION_LOCK_KEY, MigrationLockTimeout } from "../src/db";
import { FLYWHEEL_MIGRATION_LOCK_KEY, FLYWHEEL_MIGRATIONS, migrateFlywheel } from "../src/flywheel/registry";
import { World } from "./helpers/world";

const world = new World();
const WRITER = flywheelRoleOf("demo");
let writer: Client;
let observer: Client;

function gatewayConfig() {
  return world.flywheelGateway({ demo: "tiny-chat-support" });
}

beforeAll(async () => {
  await world.start();
  await world.gatewayOwnsItsDatabase([WRITER]);
  // the gateway's first start: everything migrated, the team's writer granted
  const { gw, lines } = await world.gateway(gatewayConfig());
  await world.until(() => lines.some((l) => l.includes("flywheel registry writer granted")), "the grant");
  await gw.stop();
  writer = new Client({ host: "127.0.0.1", port: world.pg.port, user: WRITER, database: "gateway" });
  await writer.connect();
  observer = new Client({ host: "127.0.0.1", port: world.pg.port, user: "postgres", database: "postgres" });
  await observer.connect();
});

afterAll(async () => {
  await writer?.end().catch(() => undefined);
  await observer?.end().catch(() => undefined);
  await world.stop();
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
  it("WHEN a gateway pod restarts with nothing to migrate THEN it starts listening instead of waiting on the team's lock forever", async () => {
    for (const key of [MIGRATION_LOCK_KEY, FLYWHEEL_MIGRATION_LOCK_KEY])
      await writer.query("SELECT pg_advisory_lock($1)", [key]);
    const restart = world.gateway(gatewayConfig()).then(() => "started" as const);
    const watch = gatewayWaitsForLock();
    const outcome = await Promise.race([restart, watch]);
    watching = false;
    await watch;
    // release the keys so that a blocked restart (the failure) ends with the test
    await writer.query("SELECT pg_advisory_unlock_all()");
    await restart;
    expect(outcome).toBe("started");
  });
});

describe("GIVEN a team's writer that holds the migration lock keys of a database with migrations pending", () => {
  const FRESH = "gateway_fresh";
  const WAIT_MS = 500;
  type Line = { level: string; msg: string; error?: string; lockKey?: string; holders?: string[] };
  const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);
  const lockErrors = (lines: string[]) =>
    parsed(lines).filter((l) => l.msg === "migrations not applied yet: their lock is held");
  /** A database the gateway owns and has never migrated; the team's writer may connect to it. */
  async function freshDatabase(name: string): Promise<void> {
    await world.query(`CREATE DATABASE ${name} OWNER gateway`);
    await world.query(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
    await world.query(`GRANT CONNECT ON DATABASE ${name} TO "${WRITER}"`);
  }

  it("WHEN a gateway starts there THEN each wait ends after its bound with an error naming the lock and the writer's session, the gateway listens not ready, and it migrates once the writer lets go", async () => {
    await freshDatabase(FRESH);
    const holder = new Client({ host: "127.0.0.1", port: world.pg.port, user: WRITER, database: FRESH });
    await holder.connect();
    try {
      const pid = (await holder.query<{ p: number }>("SELECT pg_backend_pid() AS p")).rows[0].p;
      for (const key of [MIGRATION_LOCK_KEY, FLYWHEEL_MIGRATION_LOCK_KEY])
        await holder.query("SELECT pg_advisory_lock($1)", [key]);

      const { url, lines } = await world.gateway({
        ...gatewayConfig(),
        postgres: { ...world.gatewayPostgres(), database: FRESH },
        migrationLockWaitMs: WAIT_MS,
      });
      // started (listening), not ready: the gateway's own migrations gave up on their lock
      const ready = async () => (await fetch(`${url}/readyz`)).status;
      expect(await ready()).toBe(503);
      const first = await world.until(() => lockErrors(lines)[0], "the gateway's lock error");
      expect(first).toMatchObject({
        level: "error",
        lockKey: String(MIGRATION_LOCK_KEY),
        holders: [`${pid}:${WRITER}`],
      });
      expect(first.error).toBe(
        `the gateway's migrations not applied: their advisory lock (key ${MIGRATION_LOCK_KEY}) is held by ` +
          `pid ${pid} (role "${WRITER}") and was not released within ${WAIT_MS} ms (any login of the ` +
          `database, a team's registry writer among them, may take it); tried again later; if it stays, ` +
          `end it as the master user: SELECT pg_terminate_backend(${pid})`,
      );

      // The writer lets go of the gateway's key only: the retry migrates the gateway's tables and
      // then waits, bounded, for the registry's key.
      await holder.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
      const registry = await world.until(
        () => lockErrors(lines).find((l) => l.lockKey === String(FLYWHEEL_MIGRATION_LOCK_KEY)),
        "the registry's lock error",
      );
      expect(registry.error).toContain(
        `the flywheel registry's migrations not applied: their advisory lock (key ${FLYWHEEL_MIGRATION_LOCK_KEY}) is held by pid ${pid} (role "${WRITER}")`,
      );
      expect(await ready()).toBe(503);

      // Released: a following retry applies every registry migration and the gateway is ready.
      await holder.query("SELECT pg_advisory_unlock_all()");
      await world.until(async () => (await ready()) === 200, "the gateway to be ready");
      const c = new Client({ host: "127.0.0.1", port: world.pg.port, user: "postgres", database: FRESH });
      await c.connect();
      try {
        const versions = await c.query<{ version: number }>(
          "SELECT version FROM flywheel.schema_migrations ORDER BY version",
        );
        expect(versions.rows.map((r) => r.version)).toEqual(FLYWHEEL_MIGRATIONS.map((m) => m.version));
      } finally {
        await c.end();
      }
    } finally {
      await holder.end();
    }
  }, 60_000);

  it("WHEN the bound is longer than the retry interval THEN a retry joins the wait in progress: one session waits, one pool connection", async () => {
    const db = `${FRESH}_3`;
    await freshDatabase(db);
    const holder = new Client({ host: "127.0.0.1", port: world.pg.port, user: WRITER, database: db });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [FLYWHEEL_MIGRATION_LOCK_KEY]);
      // 2.5 s: longer than the 2 s between retries, so a retry comes while a wait is in progress.
      const { lines } = await world.gateway({
        ...gatewayConfig(),
        postgres: { ...world.gatewayPostgres(), database: db },
        migrationLockWaitMs: 2500,
      });
      let most = 0;
      // until two more waits have ended (a retry fell inside each), sample who waits for the lock
      await world.until(
        async () => {
          const r = await observer.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND NOT l.granted AND a.usename = 'gateway' AND a.datname = $1`,
            [db],
          );
          most = Math.max(most, r.rows[0].n);
          return lockErrors(lines).length >= 3;
        },
        "three bounded waits",
        400,
      );
      expect(most).toBe(1);
    } finally {
      await holder.end();
    }
  }, 60_000);

  it("WHEN the pool's client-side query timeout is shorter than the lock's bound THEN the wait still ends with the lock's error, not the client's", async () => {
    await freshDatabase(`${FRESH}_2`);
    const holder = new Client({
      host: "127.0.0.1",
      port: world.pg.port,
      user: WRITER,
      database: `${FRESH}_2`,
    });
    await holder.connect();
    const pool = new Pool({
      host: "127.0.0.1",
      port: world.pg.port,
      user: "gateway",
      database: `${FRESH}_2`,
      max: 1,
      query_timeout: WAIT_MS / 5,
    });
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [FLYWHEEL_MIGRATION_LOCK_KEY]);
      const err = await migrateFlywheel(pool, WAIT_MS).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MigrationLockTimeout);
    } finally {
      await pool.end();
      await holder.end();
    }
  });
});
