"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.gpuThroughKueue = exports.QUEUE_LABEL = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "gpu-through-kueue";
exports.QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
exports.gpuThroughKueue = {
    name: exports.RULE,
    description: "Pods and jobs requesting nvidia.com/gpu carry the Kueue queue-name label.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const w = (0, lib_1.workloadOf)(args.type, args.props);
        if (!w)
            return;
        const gpu = (0, lib_1.containersOf)(w.podSpec).find(lib_1.requestsGpu);
        if (!gpu)
            return;
        const queue = w.labels[exports.QUEUE_LABEL] ?? w.podLabels[exports.QUEUE_LABEL];
        if (typeof queue !== "string" || queue === "")
            reportViolation((0, lib_1.violation)(exports.RULE, `${w.kind} ${(0, lib_1.quote)(args.name)} requests ${lib_1.GPU_RESOURCE} (container ${(0, lib_1.quote)(gpu.name)}) without the ${exports.QUEUE_LABEL} label`, `label it ${exports.QUEUE_LABEL}: <the team's LocalQueue> so Kueue admits it against the team's GPU quota`));
    },
};
