/**
 * A cross-field rule that throws is a bug in the kit's checks. It must fail the run, naming the
 * rule and the error, and never let the config pass as if the rule had found nothing.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { RuleCrashError } from "../../stacks/config/errors";
import { runShippedStack } from "../helpers/stack";

// The shipped rules plus one that crashes on every config.
vi.mock("../../stacks/config/rules/index", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../stacks/config/rules/index")>();
  const crashingRule = (): never => {
    throw new TypeError("Cannot read properties of undefined (reading 'min')");
  };
  return { ...real, ALL_RULES: [...real.ALL_RULES, crashingRule] };
});

describe("a rule that throws", () => {
  it("GIVEN a valid shipped config and a crashing rule WHEN validated THEN it fails naming the rule and the error", async () => {
    const { validateConfig } = await import("../../stacks/config/validate");
    const { raw, secretKeys } = rawFromStackFile(stackFile("local"));
    let caught: unknown;
    try {
      validateConfig(raw, { secretKeys });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RuleCrashError);
    const err = caught as RuleCrashError;
    expect(err.rule).toBe("crashingRule");
    expect(err.message).toContain('"crashingRule"');
    expect(err.message).toContain("TypeError: Cannot read properties of undefined (reading 'min')");
  });

  it("GIVEN the program WHEN a rule crashes THEN the run ends with one RunError (no stack trace) naming the rule, before any resource", async () => {
    const run = await runShippedStack("local");
    expect(run.error).toBeInstanceOf(pulumi.RunError);
    expect((run.error as Error).message).toMatch(/^the config check "crashingRule" failed \(TypeError: /);
    expect(run.recorder.resources).toEqual([]);
  });
});
