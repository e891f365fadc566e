/**
 * gpu-through-kueue: a workload that asks for GPUs is admitted through Kueue, so team quotas
 * and fair sharing apply: it carries the `kueue.x-k8s.io/queue-name` label, naming a queue.
 *
 * Most GPU workloads never pass through the stack (teams submit training Jobs at run time), so
 * the rule also checks the admission guard that stops them: the Gatekeeper K8sGpuThroughQueue
 * constraint must deny, and must look for this label on this GPU resource. A constraint that
 * checks another label, another resource name, or only warns would let them all through.
 */
import { GPU_RESOURCE, containersOf, quote, requestsGpu, resourceRule, violation, workloadOf } from "../lib";

export const RULE = "gpu-through-kueue";

export const QUEUE_LABEL = "kueue.x-k8s.io/queue-name";

/** A LocalQueue name: a DNS-1123 subdomain, as Kueue validates it. */
const QUEUE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The Gatekeeper constraint that holds every GPU pod created later to the same rule. */
export const CONSTRAINT_TYPE = "kubernetes:constraints.gatekeeper.sh/v1beta1:K8sGpuThroughQueue";

export const gpuThroughKueue = resourceRule({
  name: RULE,
  description:
    "Pods and jobs requesting nvidia.com/gpu carry the Kueue queue-name label; the admission constraint enforcing it denies and checks that label.",
  appliesTo: (type, props) => {
    if (type === CONSTRAINT_TYPE) return true;
    const w = workloadOf(type, props);
    return w !== undefined && containersOf(w.podSpec).some(requestsGpu);
  },
  check: (args, reportViolation) => {
    if (args.type === CONSTRAINT_TYPE) {
      const spec = args.props.spec ?? {};
      const params = spec.parameters ?? {};
      const wrong = [
        spec.enforcementAction === "deny"
          ? undefined
          : `spec.enforcementAction ${quote(spec.enforcementAction)}`,
        params.queueLabel === QUEUE_LABEL ? undefined : `parameters.queueLabel ${quote(params.queueLabel)}`,
        params.gpuResource === GPU_RESOURCE
          ? undefined
          : `parameters.gpuResource ${quote(params.gpuResource)}`,
      ].filter((x) => x !== undefined);
      if (wrong.length > 0)
        reportViolation(
          violation(
            RULE,
            `Gatekeeper constraint ${quote(args.name)} has ${wrong.join(", ")}`,
            `set enforcementAction "deny", queueLabel ${quote(QUEUE_LABEL)} and gpuResource ${quote(GPU_RESOURCE)} (components/platform/gatekeeper.ts)`,
          ),
        );
      return;
    }
    const w = workloadOf(args.type, args.props)!;
    const gpu = containersOf(w.podSpec).find(requestsGpu)!;
    // The pod's label is what Kueue reads on a Pod; a workload's own label on Jobs and the rest.
    const queue = w.labels[QUEUE_LABEL] ?? w.podLabels[QUEUE_LABEL];
    if (typeof queue === "string" && queue !== "" && (queue.length > 63 || !QUEUE_NAME.test(queue)))
      reportViolation(
        violation(
          RULE,
          `${w.kind} ${quote(args.name)} has ${QUEUE_LABEL} ${quote(queue)}, which is not a LocalQueue name`,
          "set it to the team's LocalQueue (a DNS-1123 name such as team-queue)",
        ),
      );
    else if (typeof queue !== "string" || queue === "")
      reportViolation(
        violation(
          RULE,
          `${w.kind} ${quote(args.name)} requests ${GPU_RESOURCE} (container ${quote(gpu.name)}) without the ${QUEUE_LABEL} label`,
          `label it ${QUEUE_LABEL}: <the team's LocalQueue> so Kueue admits it against the team's GPU quota`,
        ),
      );
  },
});
