"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.controlPlaneLogs = exports.REQUIRED_LOG_TYPES = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "control-plane-logs";
/** Log types that must be on (controllerManager and scheduler are optional). */
exports.REQUIRED_LOG_TYPES = ["api", "audit", "authenticator"];
exports.controlPlaneLogs = {
    name: exports.RULE,
    description: "EKS control-plane logging (api, audit, authenticator) is enabled.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== "aws:eks/cluster:Cluster")
            return;
        const enabled = (args.props.enabledClusterLogTypes ?? []);
        const missing = exports.REQUIRED_LOG_TYPES.filter((t) => !enabled.includes(t));
        if (missing.length > 0)
            reportViolation((0, lib_1.violation)(exports.RULE, `EKS cluster ${(0, lib_1.quote)(args.name)} has enabledClusterLogTypes ${(0, lib_1.quote)(enabled)}, missing ${(0, lib_1.quote)(missing)}`, `set enabledClusterLogTypes to include ${exports.REQUIRED_LOG_TYPES.join(", ")}`));
    },
};
