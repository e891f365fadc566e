/**
 * Runs the real program (stacks/main.ts) for a shipped stack config under recording mocks.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { stackFile } from "../../stacks/config/load";
import { installMocks, settle, type MockOptions, type ResourceRecorder } from "./mocks";

export interface StackRun {
  readonly recorder: ResourceRecorder;
  readonly outputs: Record<string, unknown> | undefined;
  readonly error: unknown;
}

/** Flat Pulumi config map (`{"sovereign:teams": "<json>"}`) from a stack file, as the engine passes it. */
export function pulumiConfigFromFile(file: string): { config: Record<string, string>; secretKeys: string[] } {
  const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config ?? {}))
    config[k] = typeof v === "string" ? v : JSON.stringify(v);
  return { config, secretKeys: [] };
}

/** Runs `main()` with the given flat config under mocks and waits for every registration. */
export async function runProgram(
  stack: string,
  flat: { config: Record<string, string>; secretKeys: string[] },
  mockOpts: MockOptions = {},
): Promise<StackRun> {
  const recorder = installMocks({ stack, ...mockOpts });
  pulumi.runtime.setAllConfig(flat.config, flat.secretKeys);
  const { main } = await import("../../stacks/main");
  let outputs: Record<string, unknown> | undefined;
  let error: unknown;
  try {
    outputs = main();
  } catch (e) {
    error = e;
  }
  await settle();
  return { recorder, outputs, error };
}

/** Runs a shipped stack (`stacks/Pulumi.<stack>.yaml`). */
export function runShippedStack(stack: string, mockOpts: MockOptions = {}): Promise<StackRun> {
  return runProgram(stack, pulumiConfigFromFile(stackFile(stack)), mockOpts);
}
