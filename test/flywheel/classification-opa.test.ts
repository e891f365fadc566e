/**
 * An adapter's classification reaches the gateway's decision: the registry's serving rows become
 * `data.sovereign.models` entries (opaModelEntries), and the REAL authorization policy
 * (policies/authz, pinned OPA) then refuses the adapter to a team not cleared for the data it was
 * trained on — while a canary trained on more sensitive data raises the adapter's level.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { opaModelEntries, type ServingRow } from "../../gateway/src/flywheel/registry";
import { opa } from "../policies/opa";

const data = (models: Record<string, unknown>) => ({
  sovereign: {
    teams: {
      demo: {
        oidcGroup: "g-demo",
        clearance: "internal",
        allowedModels: ["tiny-chat", "demo-assistant"],
        budgets: { tokensPerDay: 100000, requestsPerMinute: 100 },
        allowCapture: true,
        trainableClassifications: ["public", "internal"],
      },
    },
    models: { "tiny-chat": { role: "chat", dataClassification: "public" }, ...models },
    guard: { enabled: false, url: "", model: "", timeoutMs: 100, failClosed: true },
    redactPatterns: [],
  },
});

const input = {
  subject: { sub: "alice", groups: ["g-demo"], team: "demo" },
  request: {
    model: "demo-assistant",
    endpoint: "/v1/chat/completions",
    messages: [{ role: "user", content: "hello" }],
    estimatedTokens: 10,
  },
  context: {
    time: "2026-12-05T10:00:00Z",
    clientAddress: "10.0.0.1",
    usage: { tokensToday: 0, requestsThisMinute: 0 },
  },
};

function decide(rows: ServingRow[]): { allow: boolean; reasons: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-authz-"));
  fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify(data(opaModelEntries(rows))));
  fs.writeFileSync(path.join(dir, "input.json"), JSON.stringify(input));
  const r = opa([
    "eval",
    "-f",
    "json",
    "-d",
    "policies/authz",
    "-d",
    path.join(dir, "data.json"),
    "-i",
    path.join(dir, "input.json"),
    "data.sovereign.authz.decision",
  ]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout).result[0].expressions[0].value;
}

const row = (
  version: string,
  phase: ServingRow["phase"],
  classification: ServingRow["classification"],
): ServingRow => ({
  team: "demo",
  adapter: "demo-assistant",
  version,
  phase,
  share: phase === "canary" ? 0.1 : 1,
  since: "2026-12-05T00:00:00.000Z",
  uri: `s3://m/${version}/`,
  classification,
  baseModel: "tiny-chat",
});

describe("adapter classification -> OPA authorization", () => {
  it("GIVEN an adapter trained on internal data WHEN an internal-cleared team calls it THEN it is allowed", () => {
    expect(decide([row("v1", "promoted", "internal")])).toMatchObject({ allow: true });
  });

  it("GIVEN a canary trained on confidential data WHEN the same team calls the adapter THEN it is refused for clearance", () => {
    const d = decide([row("v1", "promoted", "internal"), row("v2", "canary", "confidential")]);
    expect(d.allow).toBe(false);
    expect(d.reasons).toContain("clearance_insufficient");
  });

  it("GIVEN only an unreleased candidate WHEN the adapter is called THEN OPA does not know it", () => {
    const d = decide([row("v0", "candidate", "public")]);
    expect(d.allow).toBe(false);
    expect(d.reasons).toContain("model_unknown");
  });
});
