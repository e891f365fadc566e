/**
 * The platform layer, in dependency order. Each area maps the config to its components' typed
 * args in its own file; all of them see only the `Substrate` interface.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";
import { type PlatformCertManager, wireCertManager } from "./cert-manager";
import { wireGateway } from "./gateway";
import { wireObservability } from "./observability";
import { wirePolicy, type AdmissionInputs } from "./policy";
import { wireServing } from "./serving";
import { wireTenancy } from "./tenancy";

export type PlatformOutputs = Record<string, unknown>;

export function wirePlatform(config: StackConfig, ctx: StackContext, substrate: Substrate): PlatformOutputs {
  const serving: {
    servingNamespace?: pulumi.Output<string>;
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
    certManager?: PlatformCertManager;
  } = {};
  // First: the model servers, their callers and the gateway ask it for certificates.
  serving.certManager = wireCertManager(config, ctx, substrate, { modelCa: true });
  const admission: AdmissionInputs = {};
  const observability = wireObservability(
    config,
    ctx,
    substrate,
    serving.certManager?.modelCaReady,
    serving.certManager?.kueueCaReady,
  );
  const servingOutputs = wireServing(config, ctx, substrate, serving);
  // Tenancy before policy: admission protects the flywheel identity the Flywheel component made.
  const tenancy = wireTenancy(config, ctx, substrate, serving, admission);
  return {
    ...observability,
    ...wirePolicy(config, ctx, substrate, admission),
    ...servingOutputs,
    ...tenancy,
    // The gateway's discovery Role lives in the serving namespace: created after it.
    ...wireGateway(config, ctx, substrate, serving),
  };
}
