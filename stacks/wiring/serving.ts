/** Platform wiring: serving. Maps the validated config to typed component args. */
import type { ServingArgs } from "../../components/platform/serving";
import { Serving } from "../../components/platform/serving";
import { profileDefaults } from "../../components/lib/profile";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import type { StackContext } from "./context";

/** The Serving component's args for a validated config. Pure. */
export function servingArgs(config: StackConfig, substrate: Substrate): ServingArgs {
  return {
    substrate,
    profile: config.profile,
    models: config.models,
    images: { vllm: config.images.vllm, vllmCpu: config.images.vllmCpu },
    weightLoading: "stream",
    kedaReplicas: profileDefaults(config.profile).haReplicas,
  };
}

export function wireServing(
  config: StackConfig,
  _ctx: StackContext,
  substrate: Substrate,
): Record<string, unknown> {
  const serving = new Serving("serving", servingArgs(config, substrate), {
    provider: substrate.provider,
    dependsOn: [...substrate.ready],
  });
  return { modelUrls: serving.modelUrls };
}
