/**
 * The platform layer, in dependency order. Each area maps the config to its components' typed
 * args in its own file; all of them see only the `Substrate` interface.
 */
import type * as pulumi from "@pulumi/pulumi";
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
  const serving: {
    servingNamespace?: pulumi.Output<string>;
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
  } = {};
  return {
    ...wireObservability(config, ctx, substrate),
    ...wirePolicy(config, ctx, substrate),
    ...wireServing(config, ctx, substrate, serving),
    ...wireTenancy(config, ctx, substrate, serving),
    // The gateway's discovery Role lives in the serving namespace: created after it.
    ...wireGateway(config, ctx, substrate, serving),
  };
}
