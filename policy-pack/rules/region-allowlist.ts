/**
 * region-allowlist: AWS providers and resources stay in the regions allowed for data residency.
 */
import { packConfig, quote, resourceRule, violation } from "../lib";

export const RULE = "region-allowlist";

export const regionAllowlist = resourceRule({
  name: RULE,
  description: "AWS providers and resources are in an allowed region (data residency).",
  configKeys: ["allowedRegions"],
  appliesTo: (type) => type === "pulumi:providers:aws" || type.startsWith("aws:"),
  check: (args, reportViolation) => {
    const isProvider = args.type === "pulumi:providers:aws";
    const { allowedRegions } = packConfig(args);
    // A provider's own region; a resource's per-resource region override, else its provider's.
    const region: unknown = isProvider
      ? args.props.region
      : (args.props.region ?? args.provider?.props?.region);
    if (region === undefined) return;
    if (allowedRegions.length === 0) {
      reportViolation(
        violation(
          RULE,
          `${args.type} ${quote(args.name)} is in ${quote(region)} but no regions are allowed`,
          "set allowedRegions in the pack config (policy-pack/config/<stack>.json, from policy.allowedRegions)",
        ),
      );
    } else if (!allowedRegions.includes(String(region))) {
      reportViolation(
        violation(
          RULE,
          `${args.type} ${quote(args.name)} is in region ${quote(region)}, outside ${quote(allowedRegions)}`,
          "deploy to an allowed region, or extend policy.allowedRegions if data residency permits",
        ),
      );
    }
  },
});
