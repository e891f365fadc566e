/**
 * The pack's config (`--policy-pack-config`) for a sovereign stack config. Used by the kit's
 * `scripts/gen-pack-config.ts` to write config/<stack>.json and by the tests; the pack itself
 * never imports it.
 */
import type { PolicyConfigSchema } from "@pulumi/policy";
import type { PackConfig } from "./lib";
import { POLICIES } from "./policies";

/** The parts of the stack config the pack needs (structurally typed; see stacks/config/schema.ts). */
export interface StackSettings {
  readonly profile: "dev" | "prod";
  readonly substrate: { readonly kind: string; readonly region?: string };
  readonly network?: { readonly publicLoadBalancer?: boolean };
  readonly policy: {
    readonly allowedRegistries: readonly string[];
    readonly allowedRegions?: readonly string[];
  };
}

export function packConfigFor(s: StackSettings): PackConfig {
  return {
    profile: s.profile,
    allowedRegions: s.policy.allowedRegions ?? (s.substrate.region ? [s.substrate.region] : []),
    allowedRegistries: [...s.policy.allowedRegistries],
    publicLoadBalancer: s.network?.publicLoadBalancer ?? false,
  };
}

/** The JSON file the CLI reads: every policy mandatory, each configurable one with its keys. */
export function packConfigFile(s: StackSettings): Record<string, unknown> {
  const cfg = packConfigFor(s) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { all: "mandatory" };
  for (const p of POLICIES) {
    const schema = (p as { configSchema?: PolicyConfigSchema }).configSchema;
    if (!schema) continue;
    out[p.name] = Object.fromEntries(Object.keys(schema.properties).map((k) => [k, cfg[k]]));
  }
  return out;
}
