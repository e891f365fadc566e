/** Rules of the gateway section: replica bounds and usable redaction patterns. */
import { gatewayReplicasProblem, gatewayTlsProblem } from "../../../components/platform/gateway";
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

/** The resolved replica bounds pass the component's own predicate (2+ replicas in prod). */
export const gatewayReplicasRule: Rule = ({ settings }) => {
  const problem = gatewayReplicasProblem(settings.gateway.replicas, settings.gateway.highAvailability);
  return problem ? [issue(`gateway.replicas.${problem.field}`, problem.message)] : [];
};

/** The TLS choice passes the component's own predicate (no plaintext listener in prod; each mode's field). */
export const gatewayTlsRule: Rule = ({ config, settings }) => {
  const problem = gatewayTlsProblem(config.gateway.tls, settings.gateway.requireTls);
  return problem ? [issue(`gateway.tls.${problem.field}`, problem.message)] : [];
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

export const GATEWAY_RULES: readonly Rule[] = [gatewayReplicasRule, gatewayTlsRule, gatewayRedactPatterns];
