/** Picks the substrate for a config. The only branch on the substrate kind in the program. */
import type { StackConfig } from "../config/schema";
import { awsSubstrate } from "./aws";
import { existingClusterSubstrate } from "./existing-cluster";
import type { CreatedSubstrate, StackContext } from "./context";

export type { CreatedSubstrate };

export function createSubstrate(config: StackConfig, ctx: StackContext): CreatedSubstrate {
  return config.substrate.kind === "aws" ? awsSubstrate(config, ctx) : existingClusterSubstrate(config, ctx);
}
