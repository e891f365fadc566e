/**
 * The canary split in the gateway's route stage (docs/flywheel.md), through the running gateway
 * with real OPA, PostgreSQL (the flywheel registry in its own schema) and the test upstream:
 * clients call the stable adapter name; the gateway sends the canary's share of requests to the
 * candidate's served name and the rest to the promoted version's, and follows the registry's
 * transitions (rollback, promotion) driven by the canary state machine.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initialState, step, type CanaryLimits } from "../../components/lib/flywheel-canary";
import {
  migrateFlywheel,
  recordTransition,
  registerDataset,
  registerModelVersion,
} from "../src/flywheel/registry";
import { World } from "./helpers/world";

const world = new World();
const ADAPTER = "tiny-chat-support"; // an adapter of tiny-chat in the test catalog
const LIMITS: CanaryLimits = {
  share: 0.3,
  windowMinutes: 1,
  minRequests: 10,
  maxErrorRate: 0.05,
  maxLatencyRatio: 2,
  maxGuardFlagRate: 0.01,
};
let url = "";
let pool: Pool;

beforeAll(async () => {
  await world.start();
  pool = new Pool({ host: "127.0.0.1", port: world.pg.port, user: "postgres", database: "postgres", max: 2 });
  await migrateFlywheel(pool);
  await registerDataset(pool, {
    version: "d1",
    team: "demo",
    adapter: ADAPTER,
    uri: "s3://ds/teams/demo/flywheel/d1/",
    content_sha256: "d".repeat(64),
    classification: "internal",
    counts: { kept: 10 },
  });
  for (const v of ["v1", "v2", "v3"])
    await registerModelVersion(pool, {
      id: v,
      kind: "adapter",
      baseModel: "tiny-chat",
      uri: `s3://m/teams/demo/${v}/`,
      contentSha256: "a".repeat(64),
      datasetVersion: "d1",
    });
  ({ url } = await world.gateway({ flywheelSyncMs: 100 }));
});
afterAll(async () => {
  await pool?.end();
  await world.stop();
});

/** Drives one version through the state machine and stores each step, as the controller does. */
async function drive(version: string, events: Parameters<typeof step>[1][]) {
  let s = initialState(version);
  for (const e of events) {
    const r = step(s, e, LIMITS);
    expect(r.refused).toBeUndefined();
    s = r.state;
    await recordTransition(pool, "demo", ADAPTER, s, r.audit);
  }
  return s;
}

/** Sends n chat requests for the stable adapter name; returns the model names the upstream saw. */
async function send(n: number): Promise<string[]> {
  const token = await world.idp.token();
  const before = world.chat.seen.length;
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: ADAPTER, messages: [{ role: "user", content: `q${i}` }] }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { model: string };
    // The client never sees a version name it did not ask for in the request.
    expect(typeof body.model).toBe("string");
  }
  return world.chat.seen.slice(before).map((s) => String(s.body.model));
}

const share = (models: string[], name: string) => models.filter((m) => m === name).length / models.length;

/** Waits until the gateway's routes show `served` for the adapter (the registry sync). */
async function routed(served: string) {
  await world.until(async () => (await send(1))[0] === served, `requests routed to ${served}`);
}

describe("GIVEN the flywheel registry and the gateway", () => {
  it("WHEN nothing of the adapter is in the registry THEN requests go upstream under the name the client sent", async () => {
    expect(await send(3)).toEqual([ADAPTER, ADAPTER, ADAPTER]);
  });

  it("WHEN v1 is promoted and v2 canaries at 0.3 THEN every request goes to a version, and the canary's share is measurable", async () => {
    await drive("v1", [
      { kind: "start", at: 0 },
      { kind: "observe", at: 60_000, requests: 20, errors: 0, guardFlags: 0 },
    ]);
    await routed(`${ADAPTER}--v1`);
    await drive("v2", [{ kind: "start", at: 100_000 }]);
    await world.until(async () => (await send(20)).includes(`${ADAPTER}--v2`), "the canary to get traffic");
    const models = await send(300);
    expect(new Set(models)).toEqual(new Set([`${ADAPTER}--v1`, `${ADAPTER}--v2`]));
    // 300 draws at p = 0.3: the standard deviation is 0.026; 0.17..0.43 is five of them.
    const s = share(models, `${ADAPTER}--v2`);
    expect(s).toBeGreaterThan(0.17);
    expect(s).toBeLessThan(0.43);
    // each request's audit row names the version that served it (the controller's counts): as
    // many v2 rows as requests the upstream got for v2's served name
    const v2 = world.chat.seen.filter((x) => x.body.model === `${ADAPTER}--v2`).length;
    const rows = await world.until(async () => {
      const r = await world.query<{ flywheel_version: string; flywheel_canary: boolean; n: number }>(
        `SELECT flywheel_version, flywheel_canary, count(*)::int AS n FROM gateway_audit
         WHERE model = $1 AND flywheel_version IN ('v1', 'v2') GROUP BY 1, 2 ORDER BY 1`,
        [ADAPTER],
      );
      return r.find((x) => x.flywheel_version === "v2")?.n === v2 ? r : undefined;
    }, "the audit rows of the canary's requests");
    expect(rows.filter((r) => r.flywheel_version === "v2")).toEqual([
      { flywheel_version: "v2", flywheel_canary: true, n: v2 },
    ]);
    // (v1 may also have canary rows: a registry sync can fall between its start and promotion)
    expect(rows.filter((r) => !r.flywheel_canary).map((r) => r.flywheel_version)).toEqual(["v1"]);
  });

  it("WHEN the canary's errors cross the limit THEN it is rolled back and every request goes to v1 again", async () => {
    // v2 is in its canary (previous test): an observation over the error limit rolls it back.
    const r = step(
      {
        phase: "canary",
        version: "v2",
        share: 0.3,
        since: 100_000,
        totals: { requests: 0, errors: 0, guardFlags: 0 },
        lastAt: 100_000,
      },
      { kind: "observe", at: 110_000, requests: 20, errors: 5, guardFlags: 0 },
      LIMITS,
    );
    expect(r.state).toMatchObject({ phase: "rolled_back", reason: "error_rate" });
    await recordTransition(pool, "demo", ADAPTER, r.state, r.audit);
    await world.until(async () => (await send(30)).every((m) => m === `${ADAPTER}--v1`), "the rollback");
    const events = await world.query<{ version: string; to_phase: string; reason: string }>(
      "SELECT version, to_phase, reason FROM flywheel.audit_events WHERE version = 'v2' ORDER BY id",
    );
    expect(events.map((e) => e.to_phase)).toEqual(["canary", "rolled_back"]);
  });

  it("WHEN v3's canary runs its window within every limit THEN it is promoted and serves everyone", async () => {
    await drive("v3", [{ kind: "start", at: 200_000 }]);
    await world.until(async () => (await send(20)).includes(`${ADAPTER}--v3`), "v3's canary");
    const s = step(
      {
        phase: "canary",
        version: "v3",
        share: 0.3,
        since: 200_000,
        totals: { requests: 0, errors: 0, guardFlags: 0 },
        lastAt: 200_000,
      },
      { kind: "observe", at: 260_000, requests: 30, errors: 0, guardFlags: 0 },
      LIMITS,
    );
    expect(s.state.phase).toBe("promoted");
    await recordTransition(pool, "demo", ADAPTER, s.state, s.audit);
    await world.until(async () => (await send(30)).every((m) => m === `${ADAPTER}--v3`), "the promotion");
    const open = await world.query<{ model_version: string; phase: string }>(
      "SELECT model_version, phase FROM flywheel.deployments WHERE until IS NULL ORDER BY model_version",
    );
    expect(open).toEqual([{ model_version: "v3", phase: "promoted" }]);
  });
});
