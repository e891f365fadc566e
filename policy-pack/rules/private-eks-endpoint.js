"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.privateEksEndpoint = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "private-eks-endpoint";
exports.privateEksEndpoint = {
    name: exports.RULE,
    description: "The EKS API endpoint is private in prod, and allowlisted when public in dev.",
    enforcementLevel: "mandatory",
    configSchema: (0, lib_1.configSchema)("profile"),
    validateResource: (args, reportViolation) => {
        if (args.type !== "aws:eks/cluster:Cluster")
            return;
        const { profile } = (0, lib_1.packConfig)(args);
        const v = (args.props.vpcConfig ?? {});
        const where = `EKS cluster ${(0, lib_1.quote)(args.name)}`;
        // EKS defaults: public access on, private access off.
        const isPublic = v.endpointPublicAccess !== false;
        if (profile === "prod") {
            if (isPublic)
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} in prod has endpointPublicAccess ${(0, lib_1.quote)(v.endpointPublicAccess)}`, "set vpcConfig.endpointPublicAccess: false and endpointPrivateAccess: true (cluster.endpointPublicAccess: false)"));
            if (v.endpointPrivateAccess !== true)
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} in prod has endpointPrivateAccess ${(0, lib_1.quote)(v.endpointPrivateAccess)}`, "set vpcConfig.endpointPrivateAccess: true"));
            return;
        }
        const cidrs = (v.publicAccessCidrs ?? []);
        if (isPublic && (cidrs.length === 0 || cidrs.includes("0.0.0.0/0")))
            reportViolation((0, lib_1.violation)(exports.RULE, `${where} has a public endpoint open to ${cidrs.length === 0 ? "0.0.0.0/0 (the default)" : (0, lib_1.quote)(cidrs)}`, "set vpcConfig.publicAccessCidrs to your office/VPN CIDRs (cluster.publicAccessCidrs) or make the endpoint private"));
    },
};
