/** A shipped stack's config as the arguments of the component package's facades. */
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import type { GpuPoolPurpose } from "../../component-package/config-types";
import type { AwsPlatformArgs, ClusterPlatformArgs } from "../../component-package/platform";
import { stackFile } from "../../stacks/config/load";
import { withFlywheelCapacity } from "../helpers/flywheel-stack";

/** The `sovereign:` keys of `stacks/Pulumi.<stack>.yaml`, the substrate without its `kind`. */
function stackArgs(stack: string, want: string): Record<string, unknown> {
  const doc = parseYaml(fs.readFileSync(stackFile(stack), "utf8")) as { config: Record<string, unknown> };
  const args: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc.config))
    if (k.startsWith("sovereign:")) args[k.slice("sovereign:".length)] = v;
  const { kind, ...substrate } = args.substrate as Record<string, unknown>;
  if (kind !== want) throw new Error(`${stack}: expected substrate kind ${want}, found ${String(kind)}`);
  return { ...args, substrate };
}

/** A shipped `existing-cluster` stack as ClusterPlatform arguments. */
export function facadeArgs(stack: string): ClusterPlatformArgs {
  return stackArgs(stack, "existing-cluster") as unknown as ClusterPlatformArgs;
}

/** A shipped `aws` stack as AwsPlatform arguments. */
export function awsFacadeArgs(stack: string): AwsPlatformArgs {
  return stackArgs(stack, "aws") as unknown as AwsPlatformArgs;
}

/** The `local` stack's settings with one model and one team (the guard model goes). */
export function oneModelOneTeam(): ClusterPlatformArgs {
  const a = facadeArgs("local");
  const { guardModel: _g, guardFailOpen: _f, ...policy } = a.policy;
  return { ...a, models: [a.models[0]], teams: [a.teams[0]], policy };
}

/**
 * With training, a GPU pool and a flywheel on the team: Kueue, GPU enablement, the flywheel's
 * identity and Postgres login.
 */
export function withFlywheel(): ClusterPlatformArgs {
  const a = withFlywheelCapacity(oneModelOneTeam());
  const team = a.teams[0];
  a.teams[0] = {
    ...team,
    allowedModels: [...team.allowedModels, "demo-flywheel"],
    flywheel: { enabled: true, adapter: "demo-flywheel", baseModel: a.models[0].name },
  };
  return a as ClusterPlatformArgs;
}

/**
 * {@link withFlywheel} with both `local` models on a serving GPU pool and the guard back: every
 * model runs vLLM and has an API key, and the flywheel team holds its base model's and the
 * guard's.
 */
export function withVllmModels(): ClusterPlatformArgs {
  const local = facadeArgs("local");
  const a = withFlywheel() as ClusterPlatformArgs & Record<string, any>;
  a.gpuPools = [
    ...a.gpuPools!,
    {
      name: "serving-gpu",
      purpose: "serving" as GpuPoolPurpose,
      gpuType: "nvidia-l4",
      gpusPerNode: 1,
      nodeSelector: { "sovereign.ai/pool": "serving-gpu" },
      maxGpus: 2,
    },
  ];
  a.models = local.models.map((m) => ({ ...m, pool: "serving-gpu" }));
  a.policy = { ...a.policy, guardModel: local.policy.guardModel };
  return a;
}
