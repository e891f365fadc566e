/**
 * The clearance claim (issue 15, docs/authorization.md): a `clearance` claim in the caller's
 * token lowers the clearance its team gives it, never raises it, and a claim that is not a
 * classification denies. The gateway's real Authenticator verifies a token from a test identity
 * provider; the principal goes to the real OPA with the prod stack's data, as the gateway's
 * policy input subject (sub, groups, team, clearance).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthzDecision, AuthzInput, OpaData } from "../../components/lib/contracts";
import { Authenticator, CLEARANCE_CLAIM } from "../../gateway/src/auth";
import type { Catalog } from "../../gateway/src/config";
import { TestIdp } from "../../gateway/test/helpers/oidc";
import { OpaServer, loadStackConfig, opaDataForTest } from "./opa";

const config = loadStackConfig("aws-prod");
const base = opaDataForTest(config);
// The guard is out of this test's way; engineering (internal) is given a confidential adapter
// so that a claim trying to raise clearance has something to reach for.
const data: OpaData = {
  ...base,
  guard: { ...base.guard, enabled: false },
  teams: {
    ...base.teams,
    engineering: {
      ...base.teams.engineering,
      allowedModels: [...base.teams.engineering.allowedModels, "legal-lora"],
    },
  },
};

describe("a clearance claim in the token (gateway authentication → OPA)", () => {
  const idp = new TestIdp();
  const opa = new OpaServer();
  let auth: Authenticator;

  beforeAll(async () => {
    expect(data.teams.legal.clearance).toBe("confidential");
    expect(data.models["legal-lora"].dataClassification).toBe("confidential");
    expect(data.models["llama-3-3-70b-instruct"].dataClassification).toBe("internal");
    await Promise.all([idp.start(), opa.start(data)]);
    await idp.addKey("ES256");
    const catalog: Catalog = {
      teams: Object.fromEntries(
        Object.entries(data.teams).map(([n, t]) => [
          n,
          { oidcGroup: t.oidcGroup, clearance: t.clearance, budgets: t.budgets },
        ]),
      ),
      models: Object.fromEntries(
        Object.entries(data.models).map(([n, m]) => [n, { role: m.role, baseModel: m.baseModel }]),
      ),
      routes: {},
      redactPatterns: [],
    };
    auth = new Authenticator({
      oidc: { issuer: idp.issuer, audience: idp.audience, groupsClaim: "groups", clockToleranceSec: 5 },
      catalog,
    });
  });
  afterAll(async () => {
    await opa.stop();
    await idp.stop();
  });

  /** Authenticates a token with the claim (absent when `undefined`) and decides a chat request. */
  async function decide(team: string, model: string, claim?: unknown): Promise<AuthzDecision> {
    const token = await idp.token({
      sub: `user-of-${team}`,
      groups: [data.teams[team].oidcGroup],
      extra: claim === undefined ? {} : { [CLEARANCE_CLAIM]: claim },
    });
    const p = await auth.authenticate(`Bearer ${token}`, team);
    const input: AuthzInput = {
      subject: {
        sub: p.sub,
        groups: p.groups,
        team: p.team,
        ...(p.clearance ? { clearance: p.clearance } : {}),
      },
      request: {
        model,
        endpoint: "/v1/chat/completions",
        messages: [{ role: "user", content: "hello" }],
        estimatedTokens: 10,
      },
      context: {
        time: "2026-12-05T10:00:00Z",
        clientAddress: "10.0.0.9",
        usage: { tokensToday: 0, requestsThisMinute: 0 },
      },
    };
    return opa.query<AuthzDecision>("sovereign/authz/decision", input);
  }

  it("GIVEN no claim or a claim equal to the team's clearance WHEN deciding THEN the team's clearance applies", async () => {
    expect(await decide("legal", "legal-lora")).toMatchObject({ allow: true, reasons: [] });
    expect(await decide("legal", "legal-lora", "confidential")).toMatchObject({ allow: true, reasons: [] });
  });

  it("GIVEN a lower claim WHEN the model is classified above it THEN clearance_insufficient", async () => {
    for (const claim of ["internal", "public"])
      expect(await decide("legal", "legal-lora", claim), claim).toMatchObject({
        allow: false,
        reasons: ["clearance_insufficient"],
      });
    expect(await decide("legal", "llama-3-3-70b-instruct", "internal")).toMatchObject({ allow: true });
    expect(await decide("legal", "llama-3-3-70b-instruct", "public")).toMatchObject({
      allow: false,
      reasons: ["clearance_insufficient"],
    });
  });

  it("GIVEN a higher claim WHEN the model is above the team's clearance THEN it stays denied (a claim never raises)", async () => {
    expect(await decide("engineering", "legal-lora")).toMatchObject({ reasons: ["clearance_insufficient"] });
    for (const claim of ["confidential", "restricted"])
      expect(await decide("engineering", "legal-lora", claim), claim).toMatchObject({
        allow: false,
        reasons: ["clearance_insufficient"],
      });
  });

  it("GIVEN a claim that is not a classification WHEN deciding THEN clearance_invalid (never the team's clearance)", async () => {
    for (const claim of [
      "top-secret",
      "Confidential",
      " internal",
      "",
      null,
      3,
      ["public"],
      { level: "public" },
    ])
      expect(await decide("legal", "llama-3-3-70b-instruct", claim), JSON.stringify(claim)).toMatchObject({
        allow: false,
        reasons: ["clearance_invalid"],
      });
  });
});
