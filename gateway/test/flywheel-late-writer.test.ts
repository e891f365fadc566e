/**
 * The `flywheel` login is created by the substrate (the AWS login Job, a CloudNativePG managed
 * role) independently of the gateway's rollout, so it may appear after the gateway started and
 * ran its start-up grants. Real PostgreSQL and the running gateway: a writer role created later
 * gets its grants at a following registry sync, without a gateway restart.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLYWHEEL_WRITER_ROLE } from "../src/flywheel/registry";
import { World } from "./helpers/world";

const world = new World();
let lines: string[] = [];
let writer: Pool | undefined;

beforeAll(async () => {
  await world.start();
  await world.query("CREATE ROLE gateway LOGIN");
  await world.query("CREATE DATABASE gateway OWNER gateway");
  await world.query("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
  const pg = world.config().postgres;
  ({ lines } = await world.gateway({
    postgres: { ...pg, user: "gateway", database: "gateway" },
    flywheelSyncMs: 100,
  }));
});
afterAll(async () => {
  await writer?.end();
  await world.stop();
});

/** What the writer may do now: read the registry's deployments (undefined: allowed). */
async function writerCan(): Promise<string | undefined> {
  try {
    await writer!.query("SELECT count(*) FROM flywheel.deployments");
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe("GIVEN a gateway started before its database has a flywheel role", () => {
  it("WHEN the role is created afterwards THEN a later registry sync grants it, and the gateway logs it once", async () => {
    expect(lines.some((l) => l.includes("flywheel registry writer granted"))).toBe(false);
    await world.query(`CREATE ROLE ${FLYWHEEL_WRITER_ROLE} LOGIN`);
    writer = new Pool({
      host: "127.0.0.1",
      port: world.pg.port,
      user: FLYWHEEL_WRITER_ROLE,
      database: "gateway",
      max: 1,
    });
    // Polls for the grant (no time bound asserted: the sync runs every 100 ms here).
    let code: string | undefined = "not tried";
    for (let i = 0; i < 600 && code !== undefined; i++) {
      code = await writerCan();
      if (code !== undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(code).toBeUndefined();
    // the grants are the writer's, not more: it may not drop or delete
    await expect(writer.query("DELETE FROM flywheel.deployments")).rejects.toMatchObject({ code: "42501" });
    await new Promise((r) => setTimeout(r, 500)); // a few more syncs: granted once
    expect(lines.filter((l) => l.includes("flywheel registry writer granted")).length).toBe(1);
  }, 120_000);
});
