/**
 * Each team's `fw-<team>` login is created by the substrate (the AWS login Job, a
 * CloudNativePG managed role) independently of the gateway's rollout, so it may appear after the
 * gateway started and ran its start-up grants. Real PostgreSQL and the running gateway: writer
 * roles created later, one after the other, each get their grants (and their team's `writers`
 * row) at a following registry sync, without a gateway restart.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { World } from "./helpers/world";

const world = new World();
let lines: string[] = [];
const writers: Pool[] = [];
const TEAMS = { demo: "tiny-chat-support", small: "small-chat" } as const;

beforeAll(async () => {
  await world.start();
  await world.gatewayOwnsItsDatabase();
  ({ lines } = await world.gateway(world.flywheelGateway(TEAMS)));
});
afterAll(async () => {
  for (const w of writers) await w.end();
  await world.stop();
});

/** What the writer may do now: read its writers row (undefined: allowed). */
async function can(writer: Pool): Promise<string | undefined> {
  try {
    const r = await writer.query<{ team: string }>("SELECT team FROM flywheel.writers");
    return r.rows.length === 1 ? undefined : `${r.rows.length} writers rows`;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

async function untilGranted(writer: Pool): Promise<string | undefined> {
  // Polls for the grant (no time bound asserted: the sync runs every 100 ms here).
  let code: string | undefined = "not tried";
  for (let i = 0; i < 600 && code !== undefined; i++) {
    code = await can(writer);
    if (code !== undefined) await new Promise((r) => setTimeout(r, 100));
  }
  return code;
}

const granted = () =>
  lines
    .filter((l) => l.includes("flywheel registry writer granted"))
    .map((l) => JSON.parse(l).role as string);

describe("GIVEN a gateway started before its database has any flywheel writer role", () => {
  it("WHEN the teams' roles are created afterwards, one after the other THEN later syncs grant each, once, for its own team", async () => {
    expect(granted()).toEqual([]);
    for (const [team, adapter] of Object.entries(TEAMS)) {
      const role = flywheelRoleOf(team);
      await world.query(`CREATE ROLE "${role}" LOGIN`);
      const writer = new Pool({
        host: "127.0.0.1",
        port: world.pg.port,
        user: role,
        database: "gateway",
        max: 1,
      });
      writers.push(writer);
      expect(await untilGranted(writer)).toBeUndefined();
      expect((await writer.query("SELECT team, adapter FROM flywheel.writers")).rows).toEqual([
        { team, adapter },
      ]);
      // the grants are the writer's, not more: it may not drop or delete
      await expect(writer.query("DELETE FROM flywheel.deployments")).rejects.toMatchObject({ code: "42501" });
    }
    await new Promise((r) => setTimeout(r, 500)); // a few more syncs: each granted once
    expect(granted()).toEqual(Object.keys(TEAMS).map(flywheelRoleOf));
  }, 120_000);
});
