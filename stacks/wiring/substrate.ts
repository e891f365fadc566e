/** Picks the substrate for a config. The only branch on the substrate kind in the program. */
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { awsSubstrate } from "./aws";
import { clusterSubstrate } from "./cluster";
import type { StackContext } from "./context";

export interface CreatedSubstrate extends Substrate {
  /** Stack outputs the substrate contributes (endpoints, bucket names; secrets stay secret). */
  readonly outputs: Record<string, unknown>;
}

export function createSubstrate(config: StackConfig, ctx: StackContext): CreatedSubstrate {
  return config.substrate.kind === "aws" ? awsSubstrate(config, ctx) : clusterSubstrate(config, ctx);
}
