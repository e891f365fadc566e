import { beforeAll, describe, expect, it } from "vitest";
import { ofKind, wireShipped, type Wired } from "./wired";
import {
  assertBuiltinsValid,
  assertChildNaming,
  assertGatekeeper,
  assertOpa,
  assertTeamNamespaces,
} from "./wiring.shared";

describe("tenancy and policy wiring: local", () => {
  let w: Wired;
  beforeAll(async () => {
    w = await wireShipped("local");
  });

  it("GIVEN training disabled WHEN wired THEN no Kueue release, flavor, ClusterQueue or LocalQueue exists", () => {
    expect(w.recorder.resources.filter((r) => r.name.startsWith("kueue"))).toEqual([]);
    for (const kind of ["ResourceFlavor", "ClusterQueue", "LocalQueue"])
      expect(ofKind(w.recorder, "kueue.x-k8s.io/v1beta2", kind)).toEqual([]);
  });
  it("THEN the team still gets its namespace, policies and binding", () => {
    assertTeamNamespaces(w);
  });
  it("THEN Gatekeeper and OPA are deployed (one replica, no PDB) with the dev guard fail-open honoured", () => {
    assertGatekeeper(w);
    assertOpa(w);
  });
  it("THEN every built-in object validates and children are named after their parent", async () => {
    await assertBuiltinsValid(w);
    assertChildNaming(w);
  });
});
