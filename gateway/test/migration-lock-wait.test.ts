/**
 * GATEWAY_MIGRATION_LOCK_WAIT_MS against the real PostgreSQL that enforces it (`lock_timeout`)
 * and the lock query's read timeout (the wait plus 10 s, a Node timer): the largest wait the
 * config accepts takes the lock, and a larger one is refused at start, naming the variable.
 * Before, the config took any integer: from 2147473648 ms up the read timeout overflowed the
 * timer and every migration attempt failed at once ("Query read timeout"), and past 2^31 - 1
 * PostgreSQL refused the lock_timeout; neither named the variable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../src/db";
import { advisoryLockWithin, MIGRATION_LOCK_KEY } from "../src/db";
import { ConfigError, loadConfig } from "../src/config";
import { createLogger } from "../src/log";
import { startPostgres, type PostgresInstance } from "../../test/helpers/postgres";
import { MINIMAL_GATEWAY_ENV } from "./helpers/env";

let pg: PostgresInstance;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.destroy());

const configWith = (wait: string) =>
  loadConfig({
    ...MINIMAL_GATEWAY_ENV,
    PGHOST: "127.0.0.1",
    PGPORT: String(pg.port),
    PGUSER: "postgres",
    PGDATABASE: "postgres",
    GATEWAY_MIGRATION_LOCK_WAIT_MS: wait,
  });

describe("GATEWAY_MIGRATION_LOCK_WAIT_MS", () => {
  it("GIVEN the largest wait the config accepts THEN PostgreSQL takes it as the lock's bound and the lock is taken", async () => {
    // the largest: the config's limit (one past it is refused below)
    const cfg = configWith("2147473647");
    const pool = createPool(
      cfg.postgres,
      createLogger(() => undefined),
    );
    const client = await pool.connect();
    try {
      await advisoryLockWithin(client, MIGRATION_LOCK_KEY, cfg.migrationLockWaitMs!, "the test");
      const held = await client.query(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
      );
      expect(held.rowCount).toBe(1);
      await client.query("SELECT pg_advisory_unlock_all()");
    } finally {
      client.release();
      await pool.end();
    }
  });

  it.each(["2147473648", "2147483648", "1e21"])(
    "GIVEN %s THEN the config is refused, naming the variable and its limit",
    (wait) => {
      let problems: string[] = [];
      try {
        configWith(wait);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        problems = [...(e as ConfigError).problems];
      }
      expect(problems).toEqual([
        `GATEWAY_MIGRATION_LOCK_WAIT_MS: expected an integer from 1 to 2147473647 (its wait plus the lock query's 10 s must fit a timer), found "${wait}"`,
      ]);
    },
  );
});
