"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.allowedImages = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "allowed-images";
const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";
exports.allowedImages = {
    name: exports.RULE,
    description: "Images come from allowed registries and are pinned (never latest).",
    enforcementLevel: "mandatory",
    configSchema: (0, lib_1.configSchema)("allowedRegistries"),
    validateResource: (args, reportViolation) => {
        const allowed = (0, lib_1.packConfig)(args).allowedRegistries.map(lib_1.normalizeRegistry);
        if (args.type === HELM_RELEASE) {
            for (const i of (0, lib_1.chartValueImages)(args.props.values ?? {}))
                if (!allowed.includes((0, lib_1.normalizeRegistry)(i.registry)))
                    reportViolation((0, lib_1.violation)(exports.RULE, `Helm release ${(0, lib_1.quote)(args.name)} (chart ${(0, lib_1.quote)(args.props.chart)}) sets ${i.path} to ${(0, lib_1.quote)(i.ref)}, from registry ${(0, lib_1.quote)(i.registry)}, not in ${(0, lib_1.quote)(allowed)}`, "set registryMirrors for that registry (the kit rewrites every chart image), or allow it in policy.allowedRegistries"));
            return;
        }
        const w = (0, lib_1.workloadOf)(args.type, args.props);
        if (!w)
            return;
        for (const c of (0, lib_1.containersOf)(w.podSpec)) {
            const where = `${w.kind} ${(0, lib_1.quote)(args.name)} container ${(0, lib_1.quote)(c.name)}`;
            if (typeof c.image !== "string" || c.image === "") {
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} names no image`, "set a pinned image"));
                continue;
            }
            const ref = (0, lib_1.parseImage)(c.image);
            if (!allowed.includes((0, lib_1.normalizeRegistry)(ref.registry)))
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} pulls ${(0, lib_1.quote)(c.image)} from registry ${(0, lib_1.quote)(ref.registry)}, not in ${(0, lib_1.quote)(allowed)}`, "mirror the image into an allowed registry (policy.allowedRegistries) and reference it there"));
            if (!ref.digest && (ref.tag === undefined || ref.tag === "latest"))
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} uses ${(0, lib_1.quote)(c.image)}, which resolves to latest`, "pin a version tag or a @sha256 digest (components/lib/versions.ts)"));
        }
    },
};
