/**
 * Review finding (fails on main now): a team whose flywheel the configuration turns off (its
 * `flywheelAdapter` gone from the gateway's catalog) keeps its `flywheel.writers` row, so its
 * `fw-<team>` login (which the substrate does not drop, and whose password a team member may have
 * read) still registers, promotes and moves deployments of its adapter, which the gateway routes
 * by. Real PostgreSQL, the real gateway restarted with the new catalog.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { World } from "./helpers/world";

const world = new World();
const B_WRITER = flywheelRoleOf("small");
let bWriter: Pool;

function gatewayConfig(smallOn: boolean) {
  return world.flywheelGateway(
    smallOn ? { demo: "tiny-chat-support", small: "small-chat" } : { demo: "tiny-chat-support" },
  );
}

beforeAll(async () => {
  await world.start();
  await world.gatewayOwnsItsDatabase([flywheelRoleOf("demo"), B_WRITER]);
  const first = await world.gateway(gatewayConfig(true));
  await world.until(
    () => first.lines.filter((l) => l.includes("flywheel registry writer granted")).length === 2,
    "both grants",
  );
  await first.gw.stop();
  // the configuration turns team small's flywheel off; the gateway rolls out with that catalog
  const second = await world.gateway(gatewayConfig(false));
  await world.until(
    () => second.lines.some((l) => l.includes("flywheel registry writer granted")),
    "the grant",
  );
  bWriter = new Pool({ host: "127.0.0.1", port: world.pg.port, user: B_WRITER, database: "gateway", max: 1 });
});

afterAll(async () => {
  await bWriter?.end();
  await world.stop();
});

describe("GIVEN team small's flywheel turned off in the catalog", () => {
  it("WHEN its former writer registers a dataset for its adapter THEN row-level security refuses it (no writers row left)", async () => {
    const code = await bWriter
      .query(
        `INSERT INTO flywheel.dataset_versions (id, team, adapter, uri, content_sha256, classification, records, manifest)
         VALUES ('late', 'small', 'small-chat', 's3://x/late', $1, 'public', 1, '{}')`,
        ["a".repeat(64)],
      )
      .then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
    expect(code).toBe("42501");
    const rows = await bWriter.query("SELECT * FROM flywheel.writers");
    expect(rows.rows).toEqual([]);
  });
});
