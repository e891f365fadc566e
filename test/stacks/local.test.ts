import { beforeAll, describe, expect, it } from "vitest";
import { runShippedStack, type StackRun } from "../helpers/stack";
import { assertStackInvariants } from "../helpers/invariants";

describe("whole program: local", () => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runShippedStack("local");
  });

  it("GIVEN the shipped local config WHEN the program runs under mocks THEN it completes", () => {
    expect(run.error).toBeUndefined();
    expect(run.outputs).toBeDefined();
  });

  it("THEN the stack-wide invariants hold", async () => {
    await assertStackInvariants(run, "local");
  });
});
