/**
 * Reads and validates the stack config once, before any resource is registered, then builds
 * the stack. A config problem ends the run with every issue listed, a non-zero exit and no
 * stack trace (`pulumi.RunError`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, RuleCrashError } from "./config/errors";
import { rawFromPulumiConfig } from "./config/load";
import type { StackConfig } from "./config/schema";
import { parseConfig } from "./config/validate";
import { configWarnings } from "./config/warnings";
import { buildStack, type StackOutputs } from "./program";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean };

/** The validated config of the running stack, or a RunError listing every problem. */
export function loadStackConfig(): StackConfig {
  const { raw, secretKeys, awsRegion } = rawFromPulumiConfig(pulumi.runtime.allConfig(), (k) =>
    runtimeConfig.isConfigSecret(k),
  );
  try {
    return parseConfig(raw, { secretKeys, stack: pulumi.getStack(), awsRegion });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RuleCrashError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

export function main(): StackOutputs {
  const config = loadStackConfig();
  for (const w of configWarnings(config)) void pulumi.log.warn(`${w.path}: ${w.message}`);
  return buildStack(config, { stack: pulumi.getStack() });
}
