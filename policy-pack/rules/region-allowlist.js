"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.regionAllowlist = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "region-allowlist";
exports.regionAllowlist = {
    name: exports.RULE,
    description: "AWS providers and resources are in an allowed region (data residency).",
    enforcementLevel: "mandatory",
    configSchema: (0, lib_1.configSchema)("allowedRegions"),
    validateResource: (args, reportViolation) => {
        const isProvider = args.type === "pulumi:providers:aws";
        if (!isProvider && !args.type.startsWith("aws:"))
            return;
        const { allowedRegions } = (0, lib_1.packConfig)(args);
        // A provider's own region; a resource's per-resource region override, else its provider's.
        const region = isProvider
            ? args.props.region
            : (args.props.region ?? args.provider?.props?.region);
        if (region === undefined)
            return;
        if (allowedRegions.length === 0) {
            reportViolation((0, lib_1.violation)(exports.RULE, `${args.type} ${(0, lib_1.quote)(args.name)} is in ${(0, lib_1.quote)(region)} but no regions are allowed`, "set allowedRegions in the pack config (policy-pack/config/<stack>.json, from policy.allowedRegions)"));
        }
        else if (!allowedRegions.includes(String(region))) {
            reportViolation((0, lib_1.violation)(exports.RULE, `${args.type} ${(0, lib_1.quote)(args.name)} is in region ${(0, lib_1.quote)(region)}, outside ${(0, lib_1.quote)(allowedRegions)}`, "deploy to an allowed region, or extend policy.allowedRegions if data residency permits"));
        }
    },
};
