import { beforeAll, describe, expect, it } from "vitest";
import { wireShipped, type Wired } from "./wired";
import {
  assertBuiltinsValid,
  assertChildNaming,
  assertGatekeeper,
  assertKueue,
  assertOpa,
  assertTeamNamespaces,
} from "./wiring.shared";

describe("tenancy and policy wiring: aws-dev", () => {
  let w: Wired;
  beforeAll(async () => {
    w = await wireShipped("aws-dev");
  });

  it("GIVEN the shipped aws-dev config WHEN wired under mocks THEN every team gets its namespace, policies, binding and training identity", () => {
    assertTeamNamespaces(w);
  });
  it("THEN Kueue has a flavor per pool and a ClusterQueue and LocalQueue per team with the configured quota", () => {
    assertKueue(w);
  });
  it("THEN Gatekeeper has a template and a constraint for every admission rule", () => {
    assertGatekeeper(w);
  });
  it("THEN OPA is deployed with the config's data, masked logs and gateway-only ingress", () => {
    assertOpa(w);
  });
  it("THEN every built-in object validates and children are named after their parent", async () => {
    await assertBuiltinsValid(w);
    assertChildNaming(w);
  });
  it("THEN the outputs name the OPA URL and the team namespaces", async () => {
    expect(w.outputs.opaUrl).toBe("http://opa.sovereign-policy.svc.cluster.local:8181");
    expect(Object.keys(w.outputs.teamNamespaces as object).sort()).toEqual(
      w.config.teams.map((t) => t.name).sort(),
    );
  });
});
