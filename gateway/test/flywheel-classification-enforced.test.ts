/**
 * Review finding (fails on main now): docs/flywheel.md says a flywheel adapter's entry in OPA's
 * data document is the highest classification of its promoted and canary versions
 * (`opaModelEntries`), so that an adapter trained on data a caller is not cleared for is refused.
 * Nothing in the running gateway calls `opaModelEntries`: the deployed policy sees the catalog's
 * static `dataClassification` of the adapter only, and a version trained on restricted data, once
 * promoted, answers an internal-cleared member. Real gateway, real OPA, real PostgreSQL, the
 * registry written by the team's own writer role as its controller does.
 */
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CanaryState } from "../../components/lib/flywheel-canary";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { recordTransition, registerDataset, registerModelVersion } from "../src/flywheel/registry";
import { World } from "./helpers/world";

const world = new World();
const ADAPTER = "tiny-chat-support"; // catalog: internal, on tiny-chat; team demo is cleared for internal
const WRITER = flywheelRoleOf("demo");
let url = "";
let writer: Pool;

beforeAll(async () => {
  await world.start();
  await world.query("CREATE ROLE gateway LOGIN");
  await world.query("CREATE DATABASE gateway OWNER gateway");
  await world.query("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
  await world.query(`CREATE ROLE "${WRITER}" LOGIN`);
  const catalog = world.catalog();
  let lines: string[];
  ({ url, lines } = await world.gateway({
    postgres: { ...world.config().postgres, user: "gateway", database: "gateway" },
    flywheelSyncMs: 100,
    catalog: {
      ...catalog,
      teams: { ...catalog.teams, demo: { ...catalog.teams.demo, flywheelAdapter: ADAPTER } },
    },
  }));
  await world.until(() => lines.some((l) => l.includes("flywheel registry writer granted")), "the grant");
  writer = new Pool({ host: "127.0.0.1", port: world.pg.port, user: WRITER, database: "gateway", max: 2 });
});
afterAll(async () => {
  await writer?.end();
  await world.stop();
});

const promoted = (version: string): CanaryState => ({
  phase: "promoted",
  version,
  at: 0,
  totals: { requests: 0, errors: 0, guardFlags: 0 },
});

async function register(version: string, classification: "internal" | "restricted"): Promise<void> {
  await registerDataset(writer, {
    version: `d-${version}`,
    team: "demo",
    adapter: ADAPTER,
    uri: `s3://ds/teams/demo/flywheel/d-${version}/`,
    content_sha256: "d".repeat(64),
    classification,
    counts: { kept: 10 },
  });
  await registerModelVersion(writer, {
    id: version,
    kind: "adapter",
    baseModel: "tiny-chat",
    uri: `s3://m/teams/demo/${version}/`,
    contentSha256: "a".repeat(64),
    datasetVersion: `d-${version}`,
  });
  await recordTransition(writer, "demo", ADAPTER, promoted(version), []);
}

/** One chat of an internal-cleared member of demo: the status, and the model its server was asked for. */
async function send(): Promise<{ status: number; model?: string }> {
  const token = await world.idp.token();
  const before = world.chat.seen.length;
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: ADAPTER, messages: [{ role: "user", content: "hi" }] }),
  });
  await r.arrayBuffer();
  const seen = world.chat.seen[before];
  return { status: r.status, ...(seen ? { model: String(seen.body.model) } : {}) };
}

describe("GIVEN team demo (cleared for internal) and its flywheel adapter", () => {
  it("WHEN a version trained on restricted data is promoted THEN the member's call of the adapter is refused, not answered by it", async () => {
    await register("i1", "internal");
    await world.until(async () => (await send()).model === `${ADAPTER}--i1`, "the internal version to serve");
    await register("r2", "restricted");
    // the gateway has taken the new promotion into account: refused, or served by r2
    const r = await world.until(async () => {
      const s = await send();
      return s.status !== 200 || s.model === `${ADAPTER}--r2` ? s : undefined;
    }, "the restricted version's promotion to reach the gateway");
    expect(r).toMatchObject({ status: 403 });
  });
});
