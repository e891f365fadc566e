/** Platform wiring: serving. Maps the validated config to typed component args. */
import type * as pulumi from "@pulumi/pulumi";
import type { PlatformCertManager } from "./cert-manager";
import * as path from "node:path";
import type { ServingArgs } from "../../components/platform/serving";
import { Serving } from "../../components/platform/serving";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";

/** The repository's model-server chart (the stack reads files; components get paths). */
export const MODEL_SERVER_CHART = path.resolve(__dirname, "../../charts/model-server");

/** The models the serving area serves: each with the enabled flywheels' adapters trained on it. Pure. */
export function servingModels(config: StackConfig): ServingArgs["models"] {
  // their versions load at runtime
  return config.models.map((m) => ({
    ...m,
    flywheelAdapters: config.teams.flatMap((t) =>
      t.flywheel?.enabled && t.flywheel.baseModel === m.name
        ? [{ team: t.name, adapter: t.flywheel.adapter }]
        : [],
    ),
  }));
}

/** The Serving component's args for a validated config. Pure. */
export function servingArgs(config: StackConfig, substrate: Substrate): ServingArgs {
  const s = resolveSettings(config);
  return {
    substrate,
    rollout: {
      strictSpread: s.serving.strictSpread,
      cooldownSeconds: s.serving.cooldownSeconds,
      ...(s.serving.drainSeconds !== undefined ? { drainSeconds: s.serving.drainSeconds } : {}),
    },
    models: servingModels(config),
    images: { vllm: config.images.vllm, vllmCpu: config.images.vllmCpu },
    weightLoading: "stream",
    kedaReplicas: s.keda.replicas,
    modelServerChart: MODEL_SERVER_CHART,
  };
}

export function wireServing(
  config: StackConfig,
  _ctx: StackContext,
  substrate: Substrate,
  /**
   * Receives the serving namespace (an output that waits for the Namespace object) and the model
   * servers' API keys (for their callers: the gateway, the flywheel).
   */
  sink: {
    servingNamespace?: pulumi.Output<string>;
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
    /**
     * cert-manager and the model CA (`wireCertManager`: the stack program's, or the package's
     * substrate component's, whose handle the parts wait for).
     */
    certManager?: PlatformCertManager;
  },
): Record<string, unknown> {
  // The model servers' certificates come from the model CA, which `wireCertManager` made.
  const modelCaReady = sink.certManager?.modelCaReady;
  if (!modelCaReady) throw new Error("wireServing: the model CA (wireCertManager with modelCa) is not made");
  const serving = new Serving(
    "serving",
    { ...servingArgs(config, substrate), modelCaReady },
    {
      provider: substrate.provider,
      dependsOn: [...substrate.ready],
    },
  );
  sink.servingNamespace = serving.namespace;
  sink.modelApiKeys = serving.modelApiKeys;
  return { modelUrls: serving.modelUrls };
}
