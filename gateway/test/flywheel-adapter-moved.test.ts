/**
 * An adapter the configuration gives to another team (a team renamed, or one team's flywheel
 * turned off and its adapter name given to another): from the gateway's start with the new
 * catalog, the adapter is the new team's (docs/flywheel.md). The former team's open deployment
 * rows (its promoted version, a canary) are closed then: they would go on serving a model trained
 * on the former team's captures under the new team's adapter, and the new team's writer, which
 * row-level security does not let see or close them, could never promote its own first version
 * (one open promoted row per adapter). Real PostgreSQL, the real gateway restarted with the new
 * catalog, each team's controller writing as its own `fw-<team>` login.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { initialState, step, type CanaryState } from "../../components/lib/flywheel-canary";
import {
  recordTransition,
  registerDataset,
  registerModelVersion,
  type Classification,
} from "../src/flywheel/registry";
import { World } from "./helpers/world";

const world = new World();
const ADAPTER = "tiny-chat-support"; // an adapter of tiny-chat, callable by team demo
const FORMER = flywheelRoleOf("demo");
const NEW = flywheelRoleOf("small");
let url = "";
let former: Pool;
let next: Pool;

function gatewayConfig(owner: "demo" | "small") {
  const catalog = world.catalog();
  const teams = { ...catalog.teams };
  teams[owner] = { ...teams[owner], flywheelAdapter: ADAPTER };
  return {
    postgres: { ...world.config().postgres, user: "gateway", database: "gateway" },
    flywheelSyncMs: 100,
    catalog: { ...catalog, teams },
  };
}

const login = (user: string) =>
  new Pool({ host: "127.0.0.1", port: world.pg.port, user, database: "gateway", max: 1 });

/** The model name the upstream got for one call of the adapter by a member of team demo. */
async function served(): Promise<string> {
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

/** What a team's controller records for a version trained on `classification` data, promoted. */
async function trainAndPromote(pool: Pool, team: string, version: string, classification: Classification) {
  await registerDataset(pool, {
    version: `d-${version}`,
    team,
    adapter: ADAPTER,
    uri: `s3://datasets/teams/${team}/flywheel/d-${version}/`,
    content_sha256: "d".repeat(64),
    classification,
    counts: { kept: 10 },
  });
  await registerModelVersion(pool, {
    id: version,
    kind: "adapter",
    baseModel: "tiny-chat",
    uri: `s3://models/flywheel/${team}/${ADAPTER}/${version}/adapter/`,
    contentSha256: "a".repeat(64),
    datasetVersion: `d-${version}`,
  });
  let s: CanaryState = initialState(version);
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
    await recordTransition(pool, team, ADAPTER, s, r.audit);
  }
  expect(s.phase).toBe("promoted");
}

beforeAll(async () => {
  await world.start();
  await world.query("CREATE ROLE gateway LOGIN");
  await world.query("CREATE DATABASE gateway OWNER gateway");
  await world.query("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
  await world.query(`CREATE ROLE "${FORMER}" LOGIN`);
  await world.query(`CREATE ROLE "${NEW}" LOGIN`);
  const first = await world.gateway(gatewayConfig("demo"));
  url = first.url;
  await world.until(
    () => first.lines.some((l) => l.includes("flywheel registry writer granted")),
    "demo's grant",
  );
  former = login(FORMER);
  next = login(NEW);
  await trainAndPromote(former, "demo", "v1", "internal");
  await world.until(async () => (await served()) === `${ADAPTER}--v1`, "demo's version to serve");
  await first.gw.stop();
  // the configuration gives the adapter to team small; the gateway rolls out with that catalog
  const second = await world.gateway(gatewayConfig("small"));
  url = second.url;
  await world.until(
    () => second.lines.some((l) => l.includes("flywheel registry writer granted") && l.includes(NEW)),
    "small's grant",
  );
});

afterAll(async () => {
  await former?.end();
  await next?.end();
  await world.stop();
});

describe("GIVEN an adapter the configuration moved from team demo to team small", () => {
  it("WHEN the gateway with the new catalog serves it THEN the former team's version no longer answers", async () => {
    // one sync after the grant: the closed rows are out of the view
    await world.until(async () => (await served()) !== `${ADAPTER}--v1`, "demo's version to stop serving");
    expect(await served()).toBe(ADAPTER);
  });

  it("WHEN the new team's controller promotes its first version THEN the registry takes it and the gateway serves it", async () => {
    await trainAndPromote(next, "small", "v2", "internal");
    await world.until(async () => (await served()) === `${ADAPTER}--v2`, "small's version to serve");
  });

  it("WHEN the registry is read back THEN the former team's rows were closed by the move, with an audit event each", async () => {
    const gw = login("gateway");
    try {
      const open = await gw.query(
        "SELECT team, model_version, phase FROM flywheel.deployments WHERE adapter = $1 AND until IS NULL ORDER BY id",
        [ADAPTER],
      );
      expect(open.rows).toEqual([{ team: "small", model_version: "v2", phase: "promoted" }]);
      const moved = await gw.query(
        "SELECT team, version, from_phase, to_phase, reason FROM flywheel.audit_events WHERE reason = 'adapter_moved'",
      );
      expect(moved.rows).toEqual([
        { team: "demo", version: "v1", from_phase: "promoted", to_phase: "retired", reason: "adapter_moved" },
      ]);
    } finally {
      await gw.end();
    }
  });
});
