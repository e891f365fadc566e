/** A shipped stack's config as the arguments of the component package's facades. */
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
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
