/**
 * allowed-images: containers run images only from the allowed registries, pinned by tag or
 * digest, never `latest` (an untagged image means `latest`).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import {
  configSchema,
  containersOf,
  normalizeRegistry,
  packConfig,
  parseImage,
  quote,
  violation,
  workloadOf,
} from "../lib";

export const RULE = "allowed-images";

export const allowedImages: ResourceValidationPolicy = {
  name: RULE,
  description: "Images come from allowed registries and are pinned (never latest).",
  enforcementLevel: "mandatory",
  configSchema: configSchema("allowedRegistries"),
  validateResource: (args, reportViolation) => {
    const w = workloadOf(args.type, args.props);
    if (!w) return;
    const allowed = packConfig(args).allowedRegistries.map(normalizeRegistry);
    for (const c of containersOf(w.podSpec)) {
      const where = `${w.kind} ${quote(args.name)} container ${quote(c.name)}`;
      if (typeof c.image !== "string" || c.image === "") {
        reportViolation(violation(RULE, `${where} names no image`, "set a pinned image"));
        continue;
      }
      const ref = parseImage(c.image);
      if (!allowed.includes(normalizeRegistry(ref.registry)))
        reportViolation(
          violation(
            RULE,
            `${where} pulls ${quote(c.image)} from registry ${quote(ref.registry)}, not in ${quote(allowed)}`,
            "mirror the image into an allowed registry (policy.allowedRegistries) and reference it there",
          ),
        );
      if (!ref.digest && (ref.tag === undefined || ref.tag === "latest"))
        reportViolation(
          violation(
            RULE,
            `${where} uses ${quote(c.image)}, which resolves to latest`,
            "pin a version tag or a @sha256 digest (components/lib/versions.ts)",
          ),
        );
    }
  },
};
