/**
 * A team's registry writer (`fw-<team>`) is a login of the gateway's database. Whatever it does
 * there must not keep the gateway itself from starting: a gateway pod that restarts (a rollout, a
 * drained node) runs its migrations and the registry's, and grants the writers, before it
 * listens, under advisory locks whose keys are constants in the source, and `pg_advisory_lock`
 * is executable by every role. Real PostgreSQL, the real gateway (in process), the writer
 * holding both keys in its own session.
 */
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { MIGRATION_LOCK_KEY } from "../src/db";
import { FLYWHEEL_MIGRATION_LOCK_KEY } from "../src/flywheel/registry";
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
