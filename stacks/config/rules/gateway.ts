/** Rules of the gateway section: replica bounds per profile and usable redaction patterns. */
import type { ConfigIssue } from "../errors";
import { int, issue, profileOf, section, type Rule } from "./helpers";

export const gatewayReplicasRule: Rule = (raw) => {
  const r = section(section(raw, "gateway"), "replicas");
  const min = int(r.min);
  const max = int(r.max);
  const out: ConfigIssue[] = [];
  if (profileOf(raw) === "prod" && min !== undefined && min < 2) {
    out.push(issue("gateway.replicas.min", `expected at least 2 replicas in prod, found ${min}`));
  }
  if (min !== undefined && max !== undefined && max < min) {
    out.push(issue("gateway.replicas.max", `expected at least replicas.min (${min}), found ${max}`));
  }
  return out;
};

export const gatewayRedactPatterns: Rule = (raw) => {
  const p = section(raw, "gateway").redactPatterns;
  if (!Array.isArray(p)) return [];
  const out: ConfigIssue[] = [];
  p.forEach((x, i) => {
    if (typeof x !== "string") return;
    try {
      new RegExp(x, "g");
    } catch {
      out.push(issue(`gateway.redactPatterns[${i}]`, `expected a regular expression, found "${x}"`));
    }
  });
  return out;
};

export const GATEWAY_RULES: readonly Rule[] = [gatewayReplicasRule, gatewayRedactPatterns];
