/**
 * control-plane-logs: the EKS control plane ships its API, audit and authenticator logs to
 * CloudWatch.
 */
import { quote, resourceRule, violation } from "../lib";

export const RULE = "control-plane-logs";

/** Log types that must be on (controllerManager and scheduler are optional). */
export const REQUIRED_LOG_TYPES = ["api", "audit", "authenticator"];

export const controlPlaneLogs = resourceRule({
  name: RULE,
  description: "EKS control-plane logging (api, audit, authenticator) is enabled.",
  appliesTo: (type) => type === "aws:eks/cluster:Cluster",
  check: (args, reportViolation) => {
    const enabled = (args.props.enabledClusterLogTypes ?? []) as string[];
    const missing = REQUIRED_LOG_TYPES.filter((t) => !enabled.includes(t));
    if (missing.length > 0)
      reportViolation(
        violation(
          RULE,
          `EKS cluster ${quote(args.name)} has enabledClusterLogTypes ${quote(enabled)}, missing ${quote(missing)}`,
          `set enabledClusterLogTypes to include ${REQUIRED_LOG_TYPES.join(", ")}`,
        ),
      );
  },
});
