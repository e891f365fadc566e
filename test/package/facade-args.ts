/** A shipped stack's config as the arguments of the component package's ClusterPlatform. */
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import type { ClusterPlatformArgs } from "../../component-package/platform";
import { stackFile } from "../../stacks/config/load";

/** The `sovereign:` keys of `stacks/Pulumi.<stack>.yaml`, the substrate without its `kind`. */
export function facadeArgs(stack: string): ClusterPlatformArgs {
  const doc = parseYaml(fs.readFileSync(stackFile(stack), "utf8")) as { config: Record<string, unknown> };
  const args: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc.config))
    if (k.startsWith("sovereign:")) args[k.slice("sovereign:".length)] = v;
  const { kind, ...substrate } = args.substrate as Record<string, unknown>;
  if (kind !== "existing-cluster")
    throw new Error(`${stack}: expected an existing-cluster stack, found ${String(kind)}`);
  return { ...args, substrate } as unknown as ClusterPlatformArgs;
}
