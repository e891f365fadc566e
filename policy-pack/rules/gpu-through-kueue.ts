/**
 * gpu-through-kueue: a workload that asks for GPUs is admitted through Kueue, so team quotas
 * and fair sharing apply: it carries the `kueue.x-k8s.io/queue-name` label.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { GPU_RESOURCE, containersOf, quote, requestsGpu, violation, workloadOf } from "../lib";

export const RULE = "gpu-through-kueue";

export const QUEUE_LABEL = "kueue.x-k8s.io/queue-name";

export const gpuThroughKueue: ResourceValidationPolicy = {
  name: RULE,
  description: "Pods and jobs requesting nvidia.com/gpu carry the Kueue queue-name label.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const w = workloadOf(args.type, args.props);
    if (!w) return;
    const gpu = containersOf(w.podSpec).find(requestsGpu);
    if (!gpu) return;
    const queue = w.labels[QUEUE_LABEL] ?? w.podLabels[QUEUE_LABEL];
    if (typeof queue !== "string" || queue === "")
      reportViolation(
        violation(
          RULE,
          `${w.kind} ${quote(args.name)} requests ${GPU_RESOURCE} (container ${quote(gpu.name)}) without the ${QUEUE_LABEL} label`,
          `label it ${QUEUE_LABEL}: <the team's LocalQueue> so Kueue admits it against the team's GPU quota`,
        ),
      );
  },
};
