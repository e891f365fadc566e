/** Rules of the gateway section: replica bounds and usable redaction patterns. */
import { gatewayReplicasProblem } from "../../../components/platform/gateway";
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

/** The resolved replica bounds pass the component's own predicate (2+ replicas in prod). */
export const gatewayReplicasRule: Rule = ({ settings }) => {
  const problem = gatewayReplicasProblem(settings.gateway.replicas, settings.gateway.highAvailability);
  return problem ? [issue(`gateway.replicas.${problem.field}`, problem.message)] : [];
};

export const gatewayRedactPatterns: Rule = ({ config }) => {
  const out: ConfigIssue[] = [];
  config.gateway.redactPatterns.forEach((x, i) => {
    try {
      new RegExp(x, "g");
    } catch {
      out.push(issue(`gateway.redactPatterns[${i}]`, `expected a regular expression, found "${x}"`));
    }
  });
  return out;
};

export const GATEWAY_RULES: readonly Rule[] = [gatewayReplicasRule, gatewayRedactPatterns];
