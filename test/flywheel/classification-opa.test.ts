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
import type { Classification } from "../../components/lib/classification";
import {
  initialView,
  maxClassification,
  modelClassificationOf,
  refreshView,
  viewFromServing,
  type AdapterView,
} from "../../gateway/src/flywheel/classification";
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

function decide(
  rows: ServingRow[],
  models: Record<string, unknown> = opaModelEntries(rows),
  inp: unknown = input,
): { allow: boolean; reasons: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-authz-"));
  fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify(data(models)));
  fs.writeFileSync(path.join(dir, "input.json"), JSON.stringify(inp));
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
  fs.rmSync(dir, { recursive: true, force: true });
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

/**
 * What the running gateway does (gateway/src/flywheel/classification.ts): the data document keeps
 * the catalog's declaration, and the gateway passes the registry's classification of the
 * requested adapter as `input.request.modelClassification`; the effective classification is the
 * higher of the two. A failed registry read keeps the last view; before the first read every
 * flywheel adapter counts as restricted.
 */
describe("the gateway's adapter view -> the policy input -> OPA", () => {
  const catalog = (declared: Classification) => ({
    teams: { demo: { flywheelAdapter: "demo-assistant" } } as never,
    models: {
      "tiny-chat": { role: "chat" as const, dataClassification: "public" as const },
      "demo-assistant": { role: "chat" as const, dataClassification: declared, baseModel: "tiny-chat" },
    },
  });
  /** The decision for demo's member calling the adapter, the catalog declaring `declared`. */
  const decideWith = (view: AdapterView, declared: Classification) => {
    const c = catalog(declared);
    const cls = modelClassificationOf(view, c, "demo-assistant");
    return decide([], c.models, {
      ...input,
      request: { ...input.request, ...(cls ? { modelClassification: cls } : {}) },
    });
  };

  it("GIVEN two classifications WHEN the higher is taken THEN it is the more sensitive, either way round", () => {
    expect(maxClassification("internal", "restricted")).toBe("restricted");
    expect(maxClassification("restricted", "internal")).toBe("restricted");
    expect(maxClassification("public", "public")).toBe("public");
  });

  it("GIVEN the registry above the catalog WHEN demo (internal) calls the adapter THEN it is refused for clearance", () => {
    const view = viewFromServing([row("v2", "promoted", "confidential")]);
    expect(modelClassificationOf(view, catalog("internal"), "demo-assistant")).toBe("confidential");
    expect(decideWith(view, "internal")).toMatchObject({ allow: false, reasons: ["clearance_insufficient"] });
  });

  it("GIVEN the registry below the catalog WHEN demo (internal) calls the adapter THEN the catalog's confidential stands (never lowered)", () => {
    const view = viewFromServing([row("v1", "promoted", "public")]);
    expect(modelClassificationOf(view, catalog("confidential"), "demo-assistant")).toBe("confidential");
    expect(decideWith(view, "confidential")).toMatchObject({
      allow: false,
      reasons: ["clearance_insufficient"],
    });
    // the registry's own value alone, passed as input, does not lower the data document's either
    expect(
      decide([], catalog("confidential").models, {
        ...input,
        request: { ...input.request, modelClassification: "public" },
      }),
    ).toMatchObject({ allow: false, reasons: ["clearance_insufficient"] });
  });

  it("GIVEN both at internal WHEN demo calls the adapter THEN it is allowed (the view refuses nothing by itself)", () => {
    const view = viewFromServing([row("v1", "promoted", "internal")]);
    expect(decideWith(view, "internal")).toMatchObject({ allow: true });
    expect(modelClassificationOf(view, catalog("internal"), "tiny-chat")).toBeUndefined();
  });

  it("GIVEN no registry read yet WHEN the gateway starts THEN each flywheel adapter counts as restricted and is refused", () => {
    const view = initialView(catalog("internal"));
    expect(view).toEqual({ routes: {}, classifications: { "demo-assistant": "restricted" }, read: false });
    expect(decideWith(view, "internal")).toMatchObject({ allow: false, reasons: ["clearance_insufficient"] });
  });

  it("GIVEN a view WHEN the registry read fails THEN the last view is kept and the error returned; WHEN it succeeds THEN its rows replace it", async () => {
    const last = viewFromServing([row("v2", "promoted", "restricted")]);
    const down = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const failed = await refreshView(last, () => Promise.reject(down));
    expect(failed.view).toBe(last);
    expect(failed.error).toBe(down);
    expect(decideWith(failed.view, "internal")).toMatchObject({ allow: false });
    // before the first read too: the initial (restricted) view stays
    const start = initialView(catalog("internal"));
    expect((await refreshView(start, () => Promise.reject(down))).view).toBe(start);
    // a read that succeeds replaces the view (a rollback lowers it again)
    const ok = await refreshView(last, () => Promise.resolve([row("v1", "promoted", "internal")]));
    expect(ok).toEqual({ view: viewFromServing([row("v1", "promoted", "internal")]) });
    expect(ok.view.classifications).toEqual({ "demo-assistant": "internal" });
  });

  it("GIVEN no registry schema (42P01, 3F000) WHEN read THEN no version exists: the view is empty and read", async () => {
    for (const code of ["42P01", "3F000"]) {
      const r = await refreshView(initialView(catalog("internal")), () =>
        Promise.reject(Object.assign(new Error("relation does not exist"), { code })),
      );
      expect(r).toEqual({ view: { routes: {}, classifications: {}, read: true } });
    }
  });
});
