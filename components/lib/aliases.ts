/**
 * Keeping URNs across a rename. Pulumi names a resource by its type, its name and the types of
 * all its parents, so renaming a component's type token without an alias would make
 * `pulumi up` on an existing stack replace the component and everything under it (the EKS
 * cluster, the databases). The engine carries a parent's alias down to every descendant.
 */
import type * as pulumi from "@pulumi/pulumi";

/** `opts` plus an alias to the type token the component had before (docs/decisions/0005). */
export function formerType(
  opts: pulumi.ComponentResourceOptions,
  type: string,
): pulumi.ComponentResourceOptions {
  return { ...opts, aliases: [...(opts.aliases ?? []), { type }] };
}
