"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.imdsv2Required = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "imdsv2-required";
const FIX = 'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 or 2 }';
exports.imdsv2Required = {
    name: exports.RULE,
    description: "EC2 instances and launch templates require IMDSv2; EKS node groups use such a launch template.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const p = args.props;
        const where = `${args.type} ${(0, lib_1.quote)(args.name)}`;
        if (args.type === "aws:ec2/launchTemplate:LaunchTemplate" || args.type === "aws:ec2/instance:Instance") {
            const m = p.metadataOptions;
            if (m?.httpEndpoint === "disabled")
                return;
            if (m?.httpTokens !== "required")
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} has metadataOptions.httpTokens ${(0, lib_1.quote)(m?.httpTokens)}`, FIX));
            else if (m.httpPutResponseHopLimit !== undefined && Number(m.httpPutResponseHopLimit) > 2)
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} has httpPutResponseHopLimit ${(0, lib_1.quote)(m.httpPutResponseHopLimit)}`, FIX));
        }
        if (args.type === "aws:eks/nodeGroup:NodeGroup" && !p.launchTemplate?.id && !p.launchTemplate?.name) {
            reportViolation((0, lib_1.violation)(exports.RULE, `${where} has no launch template, so IMDS settings are the AMI's defaults`, "give the node group a launchTemplate that sets httpTokens required"));
        }
    },
};
