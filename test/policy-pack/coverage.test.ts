/**
 * cdk-nag's rule: no rule is dead code. Every mandatory rule of the pack runs over the resources
 * each shipped stack records under mocks (the same inputs the shipped-stack tests judge), and
 * must apply to at least one of them. "Applies" is what the rule tells the engine: a rule calls
 * args.notApplicable outside its scope, so a rule whose scope names types the kit never creates
 * (a typo, a renamed provider type) fails here. Each resource rule must also declare itself not
 * applicable somewhere, or its scope is not a scope.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runShippedStack } from "../helpers/stack";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { MANDATORY_STACK_POLICIES, RESOURCE_POLICIES, RULES } from "../../policy-pack/policies";
import { packConfigFor } from "../../policy-pack/stack-config";
import { type FakeResource, appliesTo, stackAppliesTo } from "../../policy-pack/test/harness";
import { fromRecorded } from "./stacks/shipped";

interface Tally {
  /** Rule → "<stack>: <type> <name>" of each resource it applies to. */
  readonly applied: Map<string, string[]>;
  /** Rule → number of resources it declared itself not applicable to. */
  readonly skipped: Map<string, number>;
}

async function tally(stacks: readonly string[]): Promise<Tally> {
  const applied = new Map<string, string[]>(RULES.map((r) => [r.name, []]));
  const skipped = new Map<string, number>(RULES.map((r) => [r.name, 0]));
  for (const stack of stacks) {
    const run = await runShippedStack(stack);
    expect(run.error, stack).toBeUndefined();
    const raw = rawFromStackFile(stackFile(stack));
    const config = { ...packConfigFor(parseConfig(raw.raw, { secretKeys: raw.secretKeys })) };
    const resources: FakeResource[] = fromRecorded(run.recorder.resources);
    for (const p of RESOURCE_POLICIES)
      for (const r of resources) {
        if (await appliesTo(p, r, config)) applied.get(p.name)!.push(`${stack}: ${r.type} ${r.name}`);
        else skipped.set(p.name, skipped.get(p.name)! + 1);
      }
    for (const p of MANDATORY_STACK_POLICIES)
      if (await stackAppliesTo(p, resources, config))
        applied
          .get(p.name)!
          .push(
            ...resources.filter((r) => p.appliesTo(r as never)).map((r) => `${stack}: ${r.type} ${r.name}`),
          );
  }
  return { applied, skipped };
}

describe("every rule applies to a shipped stack", () => {
  let t: Tally;
  beforeAll(async () => {
    t = await tally(shippedStacks());
  }, 600_000);

  it("GIVEN the recorded resources of every shipped stack WHEN each mandatory rule runs THEN each applies to at least one resource", () => {
    const dead = [...t.applied].filter(([, where]) => where.length === 0).map(([rule]) => rule);
    expect(dead, `rules that apply to no resource of ${shippedStacks().join(", ")}`).toEqual([]);
  });

  it("GIVEN the same resources WHEN each resource rule runs THEN each also declares itself not applicable to some (its scope is real)", () => {
    const everywhere = RESOURCE_POLICIES.filter((p) => t.skipped.get(p.name) === 0).map((p) => p.name);
    expect(everywhere).toEqual([]);
  });
});
