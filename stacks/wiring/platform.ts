/**
 * The platform layer, in dependency order. Each area maps the config to its components' typed
 * args in its own file; all of them see only the `Substrate` interface.
 */
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";
import { wireGateway } from "./gateway";
import { wireObservability } from "./observability";
import { wirePolicy } from "./policy";
import { wireServing } from "./serving";
import { wireTenancy } from "./tenancy";

export type PlatformOutputs = Record<string, unknown>;

export function wirePlatform(config: StackConfig, ctx: StackContext, substrate: Substrate): PlatformOutputs {
  return {
    ...wireObservability(config, ctx, substrate),
    ...wirePolicy(config, ctx, substrate),
    ...wireServing(config, ctx, substrate),
    ...wireTenancy(config, ctx, substrate),
    ...wireGateway(config, ctx, substrate),
  };
}
