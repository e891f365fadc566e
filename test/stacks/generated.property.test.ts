/**
 * Whole-program invariants over generated configs: the shipped stacks with a generated set of
 * teams (one to four, training on or off), run under the recording mocks: no duplicate
 * Kubernetes object, default-deny on every namespace the kit creates, and exactly the flow
 * table of test/helpers/expected-flows.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rawFromPulumiConfig, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { expectedFlows } from "../helpers/expected-flows";
import { allowedFlows, createdNamespaces, defaultDenied } from "../helpers/flows";
import { duplicateObjects } from "../helpers/object-identity";
import { pulumiConfigFromFile, runProgram, type StackRun } from "../helpers/stack";

const STACKS = ["aws-dev", "aws-prod", "local"] as const;

/** A shipped stack's flat config with `teams` replaced by copies of its first team under new names. */
export function withTeams(
  stack: string,
  names: readonly string[],
  training: boolean,
): { config: Record<string, string>; secretKeys: string[] } {
  const flat = pulumiConfigFromFile(stackFile(stack));
  const teams = JSON.parse(flat.config["sovereign:teams"]) as Record<string, unknown>[];
  // A team's flywheel needs training, and its adapter is one catalog model: only the first copy
  // of a team keeps it, and only with training on. An adapter no team keeps leaves allowedModels.
  const keeps = (i: number) => training && i < teams.length;
  const adapterOf = (t: Record<string, unknown>) => (t.flywheel as { adapter?: string } | undefined)?.adapter;
  const kept = new Set(names.map((_n, i) => (keeps(i) ? adapterOf(teams[i % teams.length]) : undefined)));
  const gone = new Set(teams.map(adapterOf).filter((a) => a !== undefined && !kept.has(a)));
  flat.config["sovereign:teams"] = JSON.stringify(
    // At most one nominal GPU each: copies of a team's own quota could together exceed the
    // training pool (a config error).
    names.map((name, i) => {
      const { flywheel, ...team } = teams[i % teams.length];
      return {
        ...team,
        ...(flywheel && keeps(i) ? { flywheel } : {}),
        allowedModels: (team.allowedModels as string[]).filter((m) => !gone.has(m)),
        name,
        oidcGroup: `group-${name}`,
        ...(team.gpuQuota ? { gpuQuota: { nominal: 1, borrowingLimit: 1 } } : {}),
      };
    }),
  );
  const t = JSON.parse(flat.config["sovereign:training"] ?? "{}") as Record<string, unknown>;
  flat.config["sovereign:training"] = JSON.stringify({ ...t, enabled: training });
  return flat;
}

export const generatedStack = fc.record({
  stack: fc.constantFrom(...STACKS),
  names: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), { minLength: 1, maxLength: 4 }),
  training: fc.boolean(),
});

describe("generated stacks (property)", () => {
  it("GIVEN generated teams on every shipped stack WHEN the program runs THEN no two registrations are one Kubernetes object, every namespace is default-denied and the flows are exactly the table", async () => {
    await fc.assert(
      fc.asyncProperty(generatedStack, async ({ stack, names, training }) => {
        const flat = withTeams(stack, names, training);
        const run: StackRun = await runProgram(stack, flat);
        expect(run.error).toBeUndefined();
        expect(duplicateObjects(run.recorder)).toEqual({});
        // The flow table of test/stacks/flows.test.ts, for the generated config.
        const denied = defaultDenied(run.recorder);
        expect(createdNamespaces(run.recorder).filter((n) => !denied.has(n))).toEqual([]);
        const config = parseConfig(rawFromPulumiConfig(flat.config, (k) => flat.secretKeys.includes(k)).raw);
        const flows = allowedFlows(run.recorder).filter((f) => denied.has(f.split(" ")[0]));
        expect(flows).toEqual(expectedFlows(config));
      }),
      // Always include the shapes that broke: an AWS stack with several teams, aws-dev (whose
      // first team runs the flywheel) with training off and with more teams than it ships, and
      // local with training on.
      {
        numRuns: 6,
        examples: [
          [{ stack: "aws-prod", names: ["a", "b", "c"], training: true }],
          [{ stack: "aws-dev", names: ["a"], training: false }],
          [{ stack: "aws-dev", names: ["a", "b", "c", "d"], training: true }],
          // local with training on installs Kueue, which the shipped local stack does not.
          [{ stack: "local", names: ["a"], training: true }],
        ],
      },
    );
    // Ten whole-program runs in child processes at most: about 80 s on an idle 2-core machine (a
    // harness limit, not a timing assertion).
  }, 240_000);
});
