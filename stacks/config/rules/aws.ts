/** Rules for the aws substrate: network and cluster endpoint. */
import type { ConfigIssue } from "../errors";
import { parseCidr } from "../../../components/lib/cidr";
import { PROFILE_DEFAULTS } from "../../../components/lib/profile";
import { int, issue, profileOf, section, str, strings, substrateKind, type Rule } from "./helpers";

export const networkValid: Rule = (raw) => {
  if (substrateKind(raw) !== "aws") return [];
  const net = section(raw, "network");
  const out: ConfigIssue[] = [];
  const cidr = str(net.cidr);
  if (cidr !== undefined) {
    const c = parseCidr(cidr);
    if (!c)
      out.push(
        issue(
          "network.cidr",
          `expected a valid IPv4 network like 10.40.0.0/16 (octets <= 255, host bits zero), found "${cidr}"`,
        ),
      );
    else if (c.prefix < 16 || c.prefix > 20)
      out.push(
        issue(
          "network.cidr",
          `expected a prefix between /16 and /20 (room for subnets in every AZ), found /${c.prefix}`,
        ),
      );
  }
  const profile = profileOf(raw);
  const az = int(net.azCount);
  if (profile && az !== undefined && az < PROFILE_DEFAULTS[profile].azCount) {
    out.push(
      issue(
        "network.azCount",
        `expected at least ${PROFILE_DEFAULTS[profile].azCount} AZs in ${profile}, found ${az}`,
      ),
    );
  }
  return out;
};

export const endpointAccess: Rule = (raw) => {
  if (substrateKind(raw) !== "aws") return [];
  const cl = section(raw, "cluster");
  const out: ConfigIssue[] = [];
  const cidrs = strings(cl.publicAccessCidrs);
  cidrs.forEach((c, i) => {
    if (!parseCidr(c))
      out.push(
        issue(
          `cluster.publicAccessCidrs[${i}]`,
          `expected a valid IPv4 CIDR with host bits zero, found "${c}"`,
        ),
      );
    if (c === "0.0.0.0/0" && profileOf(raw) === "prod") {
      out.push(
        issue(`cluster.publicAccessCidrs[${i}]`, 'expected a narrow allowlist in prod, found "0.0.0.0/0"'),
      );
    }
  });
  if (cl.endpointPublicAccess === true && cidrs.length === 0) {
    out.push(
      issue(
        "cluster.publicAccessCidrs",
        "expected an allowlist when endpointPublicAccess is true, found nothing",
      ),
    );
  }
  const sys = section(cl, "systemNodes");
  const min = int(sys.min);
  const max = int(sys.max);
  if (min !== undefined && max !== undefined && max < min)
    out.push(issue("cluster.systemNodes.max", `expected >= min (${min}), found ${max}`));
  if (profileOf(raw) === "prod" && min !== undefined && min < 2) {
    out.push(
      issue("cluster.systemNodes.min", `expected at least 2 system nodes across AZs in prod, found ${min}`),
    );
  }
  return out;
};

export const publicGatewayNeedsPublicSubnets: Rule = (raw) => {
  if (substrateKind(raw) !== "aws") return [];
  if (section(raw, "gateway").public === true && section(raw, "network").publicLoadBalancer !== true) {
    return [
      issue("gateway.public", "expected network.publicLoadBalancer: true for a public gateway, found false"),
    ];
  }
  return [];
};

export const AWS_RULES: Rule[] = [networkValid, endpointAccess, publicGatewayNeedsPublicSubnets];
