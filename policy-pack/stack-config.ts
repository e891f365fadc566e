/**
 * The pack's config (`--policy-pack-config`) for a sovereign stack config. Used by the kit's
 * `scripts/gen-pack-config.ts` to write config/<stack>.json and by the tests; the pack itself
 * never imports it.
 */
import type { PolicyConfigSchema } from "@pulumi/policy";
import { type PackConfig, type Suppression, reasonProblem } from "./lib";
import { POLICIES, RULES } from "./policies";

/** The parts of the stack config the pack needs (structurally typed; see stacks/config/schema.ts). */
export interface StackSettings {
  readonly profile: "dev" | "prod";
  readonly substrate: { readonly kind: string; readonly region?: string };
  readonly network?: { readonly publicLoadBalancer?: boolean };
  readonly policy: {
    readonly allowedRegistries: readonly string[];
    readonly allowedRegions?: readonly string[];
    readonly suppressions?: readonly Suppression[];
  };
}

/** A config mistake the pack config cannot be written from (names the config path). */
export class PackConfigError extends Error {}

export function packConfigFor(s: StackSettings): PackConfig {
  const suppressions = s.policy.suppressions ?? [];
  suppressions.forEach((x, i) => {
    const at = `policy.suppressions[${i}]`;
    if (!RULES.some((r) => r.name === x.rule))
      throw new PackConfigError(
        `${at}.rule: ${JSON.stringify(x.rule)} is not a rule of the pack (${RULES.map((r) => r.name).join(", ")})`,
      );
    const bad = reasonProblem(x.reason);
    if (bad) throw new PackConfigError(`${at}.reason: the suppression is refused: ${bad}`);
  });
  return {
    profile: s.profile,
    allowedRegions: s.policy.allowedRegions ?? (s.substrate.region ? [s.substrate.region] : []),
    allowedRegistries: [...s.policy.allowedRegistries],
    publicLoadBalancer: s.network?.publicLoadBalancer ?? false,
    suppressions: suppressions.map((x) => ({ rule: x.rule, resource: x.resource, reason: x.reason })),
  };
}

/** The JSON file the CLI reads: every policy mandatory, each configurable one with its keys. */
export function packConfigFile(s: StackSettings): Record<string, unknown> {
  const cfg = packConfigFor(s) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { all: "mandatory" };
  for (const p of POLICIES) {
    const schema = (p as { configSchema?: PolicyConfigSchema }).configSchema;
    if (!schema) continue;
    const keys = Object.fromEntries(Object.keys(schema.properties).map((k) => [k, cfg[k]]));
    // `all` would make the suppression report mandatory; it stays what the pack declares.
    out[p.name] =
      p.enforcementLevel === "mandatory" ? keys : { enforcementLevel: p.enforcementLevel, ...keys };
  }
  return out;
}
