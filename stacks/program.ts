/**
 * The whole program for one validated config: a substrate, then the platform on top of it.
 * `wiring/substrate.ts` is the only place that picks a substrate; everything in
 * `wiring/platform.ts` sees the `Substrate` interface only.
 */
import type { StackConfig } from "./config/schema";
import { wirePlatform } from "./wiring/platform";
import { createSubstrate } from "./wiring/substrate";
import type { StackContext } from "./wiring/context";

export type { StackContext } from "./wiring/context";

export interface StackOutputs {
  readonly profile: string;
  readonly substrate: string;
  readonly models: string[];
  readonly teams: string[];
  readonly [key: string]: unknown;
}

export function buildStack(config: StackConfig, ctx: StackContext): StackOutputs {
  const substrate = createSubstrate(config, ctx);
  const platform = wirePlatform(config, ctx, substrate);
  return {
    profile: config.profile,
    substrate: config.substrate.kind,
    models: config.models.map((m) => m.name),
    teams: config.teams.map((t) => t.name),
    ...substrate.outputs,
    ...platform,
  };
}
