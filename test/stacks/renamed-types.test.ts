/**
 * Renamed component types keep every URN (docs/decisions/0005-names.md). Pulumi names a
 * resource by its parents' types too, so a renamed component changes the URN of everything
 * under it: the EKS cluster, its node group, the in-cluster Postgres. For each resource of each
 * shipped stack, the URN it had before the rename must be one its aliases resolve to (resolved
 * as the engine does), so `pulumi up` on an existing stack updates in place and replaces nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ResourceRecorder } from "../helpers/mocks";
import { runShippedStack, type StackRun } from "../helpers/stack";
import { engineUrns } from "../helpers/urns";

/** Component types as released in 0.1.0 → their names now. */
const RENAMED_TYPES: Readonly<Record<string, string>> = {
  "sovereign:aws:Cluster": "sovereign:aws:Eks",
  "sovereign:cluster:ClusterSubstrate": "sovereign:existingCluster:Substrate",
  "sovereign:cluster:ObjectStore": "sovereign:existingCluster:ObjectStore",
  "sovereign:cluster:Postgres": "sovereign:existingCluster:Postgres",
  "sovereign:cluster:WorkloadCredentials": "sovereign:existingCluster:WorkloadCredentials",
};
const FORMER = new Map(Object.entries(RENAMED_TYPES).map(([from, to]) => [to, from]));

/** The URN a resource had before the renames: each renamed type in its chain spelled the old way. */
function formerUrn(urn: string): string {
  const parts = urn.split("::");
  parts[2] = parts[2]
    .split("$")
    .map((t) => FORMER.get(t) ?? t)
    .join("$");
  return parts.join("::");
}

interface Check {
  /** Resources whose URN changed with the renames. */
  readonly renamed: number;
  /** Their former URNs that no alias reaches (each would be a replacement). */
  readonly lost: string[];
}

function check(recorder: ResourceRecorder, stack: string): Check {
  const e = engineUrns(recorder, stack);
  let renamed = 0;
  const lost: string[] = [];
  for (const r of recorder.resources) {
    const urn = e.urn(r);
    const former = formerUrn(urn);
    if (former === urn) continue;
    renamed++;
    if (!e.aliases(r).includes(former)) lost.push(former);
  }
  return { renamed, lost };
}

/** The same recording with every `aliases` option dropped. */
function withoutAliases(recorder: ResourceRecorder): ResourceRecorder {
  const out = new ResourceRecorder();
  out.resources.push(...recorder.resources.map((r) => ({ ...r, aliases: [] })));
  return out;
}

const STACKS: [string, string][] = [
  ["local", "sovereign:existingCluster:Substrate"],
  ["aws-dev", "sovereign:aws:Eks"],
  ["aws-prod", "sovereign:aws:Eks"],
];

describe.each(STACKS)("renamed component types: %s", (stack, component) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runShippedStack(stack);
  });

  it("GIVEN the shipped stack WHEN its URNs are resolved THEN every former URN is an alias of the resource now", () => {
    expect(run.error).toBeUndefined();
    const c = check(run.recorder, stack);
    expect(run.recorder.ofType(component)).toHaveLength(1);
    expect(c.renamed).toBeGreaterThan(10);
    expect(c.lost).toEqual([]);
  });

  it("GIVEN the same stack without aliases THEN the former URNs are lost (the check can fail)", () => {
    const c = check(withoutAliases(run.recorder), stack);
    expect(c.lost).toHaveLength(c.renamed);
    expect(c.lost.some((u) => u.includes(FORMER.get(component)!))).toBe(true);
  });

  it("THEN no resource has a former type any more", () => {
    const types = new Set(run.recorder.resources.map((r) => r.type));
    for (const former of Object.keys(RENAMED_TYPES)) expect(types.has(former)).toBe(false);
  });
});

describe("the engine's URNs", () => {
  it("GIVEN nested components THEN a child's URN carries its parents' whole chain, unlike the mocks'", async () => {
    const run = await runShippedStack("aws-dev");
    const e = engineUrns(run.recorder, "aws-dev");
    const eks = run.recorder.one("aws:eks/cluster:Cluster");
    expect(e.urn(eks)).toBe(
      "urn:pulumi:aws-dev::sovereign::sovereign:aws:Substrate$sovereign:aws:Eks$aws:eks/cluster:Cluster::substrate-cluster-eks",
    );
    expect(e.aliases(eks)).toContain(
      "urn:pulumi:aws-dev::sovereign::sovereign:aws:Substrate$sovereign:aws:Cluster$aws:eks/cluster:Cluster::substrate-cluster-eks",
    );
  });
});
