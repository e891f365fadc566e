/**
 * The mandatory pack over every resource a shipped stack records under mocks. Each stack has
 * its own test file (the mocks are process-wide); this module holds the shared body.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runShippedStack, type StackRun } from "../../../test/helpers/stack";
import { rawFromStackFile, stackFile } from "../../../stacks/config/load";
import { parseConfig } from "../../../stacks/config/validate";
import { packConfigFor } from "../../stack-config";
import { fromRecorded, runPack } from "../harness";

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
