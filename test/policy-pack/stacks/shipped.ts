/**
 * The mandatory pack over every resource a shipped stack records under mocks. Each stack has
 * its own test file (the mocks are process-wide); this module holds the shared body. It is the
 * kit's test (the kit's program and mocks on one side, the pack on the other), so it lives here
 * and the pack's own tests import nothing of the kit.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { packConfigFor } from "../../../policy-pack/stack-config";
import { type FakeResource, runPack } from "../../../policy-pack/test/harness";
import { rawFromStackFile, stackFile } from "../../../stacks/config/load";
import { parseConfig } from "../../../stacks/config/validate";
import type { RecordedResource } from "../../helpers/mocks";
import { runShippedStack, type StackRun } from "../../helpers/stack";

/** Recorded (mocked) resources → what the engine would hand the policies. */
export function fromRecorded(recorded: readonly RecordedResource[]): FakeResource[] {
  const byUrn = new Map(recorded.map((r) => [r.urn, r]));
  return recorded.map((r) => {
    // A provider reference is "<urn>::<id>".
    const providerUrn = r.provider?.replace(/::[^:]*$/, "");
    const p = providerUrn ? byUrn.get(providerUrn) : undefined;
    return {
      type: r.type,
      name: r.name,
      urn: r.urn,
      props: r.inputs,
      opts: { protect: r.protect, parent: r.parent },
      provider: p ? { type: p.type, name: p.name, urn: p.urn, props: p.inputs } : undefined,
      dependsOn: r.dependsOn,
    };
  });
}

export function describeShippedStack(stack: string): void {
  describe(`sovereign-baseline over the shipped ${stack} stack`, () => {
    let run: StackRun;
    beforeAll(async () => {
      run = await runShippedStack(stack);
    });

    it(`GIVEN the ${stack} stack under mocks WHEN every rule of the mandatory pack runs over its resources THEN there is no violation`, async () => {
      // The program must complete: until the substrates are built it throws "not built yet".
      expect(run.error).toBeUndefined();
      expect(run.recorder.resources.length).toBeGreaterThan(0);
      const raw = rawFromStackFile(stackFile(stack));
      const config = packConfigFor(parseConfig(raw.raw, { secretKeys: raw.secretKeys }));
      const violations = await runPack(fromRecorded(run.recorder.resources), { ...config });
      expect(violations.map((v) => v.message)).toEqual([]);
    });
  });
}
