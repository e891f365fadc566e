/** Rules for the in-cluster substrate. */
import type { ConfigIssue } from "../errors";
import { issue, profileOf, section, substrateKind, type Rule } from "./helpers";

export const clusterOnlyKeys: Rule = (raw) => {
  if (substrateKind(raw) !== "cluster") return [];
  const out: ConfigIssue[] = [];
  if (section(raw, "network").publicLoadBalancer === true) {
    out.push(
      issue(
        "network.publicLoadBalancer",
        "expected no AWS network settings on the cluster substrate, found true",
      ),
    );
  }
  if (
    profileOf(raw) === "prod" &&
    typeof section(raw, "database").instances === "number" &&
    (section(raw, "database").instances as number) < 3
  ) {
    out.push(
      issue(
        "database.instances",
        `expected 3 Postgres instances for an on-prem prod cluster, found ${String(section(raw, "database").instances)}`,
      ),
    );
  }
  return out;
};

export const CLUSTER_RULES: Rule[] = [clusterOnlyKeys];
