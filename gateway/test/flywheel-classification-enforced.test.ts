/**
 * Review finding (fails on main now): docs/flywheel.md says a flywheel adapter's entry in OPA's
 * data document is the highest classification of its promoted and canary versions
 * (`opaModelEntries`), so that an adapter trained on data a caller is not cleared for is refused.
 * Nothing in the running gateway calls `opaModelEntries`: the deployed policy sees the catalog's
 * static `dataClassification` of the adapter only, and a version trained on restricted data, once
 * promoted, answers an internal-cleared member. Real gateway, real OPA, real PostgreSQL, the
 * registry written by the team's own writer role as its controller does.
 *
 * Both policy engines (OPA over HTTP, and the policy compiled to WebAssembly in process) get the
 * registry's classification, and the model listing follows the decision. A registry that cannot
 * be read keeps the last classification (it never falls back to the catalog's lower one), and a
 * gateway that starts without reading it counts the flywheel adapter as restricted.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CanaryState } from "../../components/lib/flywheel-canary";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { WASM_DATA_FILE, WASM_POLICY_FILE } from "../../components/lib/gateway-policy";
import { compileGatewayPolicy } from "../../stacks/wiring/policy-wasm";
import { recordTransition, registerDataset, registerModelVersion } from "../src/flywheel/registry";
import type { GatewayConfig } from "../src/config";
import { World } from "./helpers/world";

const world = new World();
const ADAPTER = "tiny-chat-support"; // catalog: internal, on tiny-chat; team demo is cleared for internal
const WRITER = flywheelRoleOf("demo");
const ENGINES = ["opa", "wasm"] as const;
type Engine = (typeof ENGINES)[number];
const gateways: Partial<Record<Engine, { url: string; lines: string[] }>> = {};
let writer: Pool;
let policyDir = "";

function gatewayConfig(engine: Engine): Partial<GatewayConfig> {
  const policy: GatewayConfig["policy"] =
    engine === "opa" ? { mode: "opa", dir: "", pollMs: 0 } : { mode: "wasm", dir: policyDir, pollMs: 0 };
  return { ...world.flywheelGateway({ demo: ADAPTER }), policy };
}

beforeAll(async () => {
  await world.start();
  await world.gatewayOwnsItsDatabase([WRITER]);
  // The in-process engine: the policy compiled by the pinned OPA, with the world's data document.
  policyDir = fs.mkdtempSync(path.join(world.tmp, "policy-"));
  fs.writeFileSync(path.join(policyDir, WASM_POLICY_FILE), compileGatewayPolicy());
  fs.writeFileSync(path.join(policyDir, WASM_DATA_FILE), JSON.stringify(world.data));
  for (const engine of ENGINES) {
    const { url, lines } = await world.gateway(gatewayConfig(engine));
    gateways[engine] = { url, lines };
  }
  await world.until(
    () => gateways.opa!.lines.some((l) => l.includes("flywheel registry writer granted")),
    "the grant",
  );
  writer = new Pool({ host: "127.0.0.1", port: world.pg.port, user: WRITER, database: "gateway", max: 2 });
  writer.on("error", () => undefined); // an idle connection closed by the server is replaced
}, 120_000);
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

async function register(
  version: string,
  classification: "internal" | "confidential" | "restricted",
): Promise<void> {
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

/** One chat of an internal-cleared member of demo: the status, reasons, and the model its server was asked for. */
async function send(
  url: string,
  model = ADAPTER,
): Promise<{ status: number; reasons?: string[]; model?: string }> {
  const token = await world.idp.token();
  const before = world.chat.seen.length;
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  const b = (await r.json()) as { error?: { reasons?: string[] } };
  const seen = world.chat.seen[before];
  return {
    status: r.status,
    ...(b.error?.reasons ? { reasons: b.error.reasons } : {}),
    ...(seen ? { model: String(seen.body.model) } : {}),
  };
}

/** The models the same member is listed. */
async function listed(url: string): Promise<string[]> {
  const r = await fetch(`${url}/v1/models`, {
    headers: { authorization: `Bearer ${await world.idp.token()}` },
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { data: { id: string }[] }).data.map((m) => m.id);
}

/** Refuses the gateway's connections to its database, and new ones, until the returned function runs. */
async function blockRegistry(): Promise<() => Promise<void>> {
  await world.query("ALTER DATABASE gateway ALLOW_CONNECTIONS false");
  await world.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'gateway' AND usename = 'gateway'",
  );
  return async () => void (await world.query("ALTER DATABASE gateway ALLOW_CONNECTIONS true"));
}

describe("GIVEN team demo (cleared for internal) and its flywheel adapter", () => {
  for (const engine of ENGINES) {
    it(`WHEN a version trained on restricted data is promoted THEN the member's call of the adapter is refused, not answered by it, and the adapter is not listed (${engine} engine); a registry that cannot be read keeps it refused`, async () => {
      const { url, lines } = gateways[engine]!;
      const internal = `i-${engine}`;
      const restricted = `r-${engine}`;
      await register(internal, "internal");
      await world.until(
        async () => (await send(url)).model === `${ADAPTER}--${internal}`,
        "the internal version to serve",
      );
      expect(await listed(url)).toContain(ADAPTER);

      await register(restricted, "restricted");
      // the gateway has taken the new promotion into account: refused, or served by the restricted version
      const r = await world.until(async () => {
        const s = await send(url);
        return s.status !== 200 || s.model === `${ADAPTER}--${restricted}` ? s : undefined;
      }, "the restricted version's promotion to reach the gateway");
      expect(r).toMatchObject({ status: 403, reasons: ["clearance_insufficient"] });
      const models = await listed(url);
      expect(models).toContain("tiny-chat");
      expect(models).not.toContain(ADAPTER);

      // The registry cannot be read: the last classification stays (not the catalog's internal).
      const unblock = await blockRegistry();
      try {
        const failed = lines.length;
        await world.until(
          () =>
            lines.slice(failed).some((l) => l.includes("flywheel routes and classifications not refreshed")),
          "a failed registry read",
        );
        expect(await send(url)).toMatchObject({ status: 403, reasons: ["clearance_insufficient"] });
        expect(await listed(url)).not.toContain(ADAPTER);

        // A gateway that starts while the registry cannot be read counts the adapter as restricted.
        const fresh = await world.gateway(gatewayConfig(engine));
        expect(fresh.lines.some((l) => l.includes("flywheel routes and classifications not refreshed"))).toBe(
          true,
        );
        expect(await send(fresh.url)).toMatchObject({ status: 403, reasons: ["clearance_insufficient"] });
        expect(await send(fresh.url, "tiny-chat")).toMatchObject({ status: 200 });
        const freshModels = await listed(fresh.url);
        expect(freshModels).toContain("tiny-chat");
        expect(freshModels).not.toContain(ADAPTER);
      } finally {
        await unblock();
      }
    });
  }

  it("WHEN a version trained on confidential data answers a member cleared for it THEN the capture record is classified confidential, not the catalog's internal", async () => {
    // demo cleared for confidential, in the data document (in-process engine) and the catalog
    const dir = fs.mkdtempSync(path.join(world.tmp, "policy-conf-"));
    fs.copyFileSync(path.join(policyDir, WASM_POLICY_FILE), path.join(dir, WASM_POLICY_FILE));
    const data = world.data;
    const demo = { ...data.teams.demo, clearance: "confidential" as const };
    fs.writeFileSync(
      path.join(dir, WASM_DATA_FILE),
      JSON.stringify({ ...data, teams: { ...data.teams, demo } }),
    );
    const base = gatewayConfig("wasm");
    const catalog = base.catalog!;
    const { url } = await world.gateway({
      ...base,
      policy: { mode: "wasm", dir, pollMs: 0 },
      catalog: {
        ...catalog,
        teams: { ...catalog.teams, demo: { ...catalog.teams.demo, clearance: "confidential" } },
      },
    });
    await register("c-1", "confidential");
    const token = await world.idp.token();
    const id = await world.until(async () => {
      const before = world.chat.seen.length;
      const r = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ model: ADAPTER, messages: [{ role: "user", content: "hi" }] }),
      });
      await r.arrayBuffer();
      const seen = world.chat.seen[before];
      return r.status === 200 && seen && String(seen.body.model) === `${ADAPTER}--c-1`
        ? r.headers.get("x-request-id")!
        : undefined;
    }, "the confidential version to serve");
    const { record } = await world.capturedRecord(id);
    expect(record).toMatchObject({ model: ADAPTER, classification: "confidential" });
  });
});
