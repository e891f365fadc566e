/** Rules for the aws substrate: network, cluster endpoint and version, GPU pools, registries. */
import type { ConfigIssue } from "../errors";
import { SERVICE_CIDR, PRIVATE_RANGES } from "../../../components/aws/layout";
import { PULL_THROUGH_UPSTREAMS } from "../../../components/aws/registries";
import { formatCidr, overlaps, parseCidr, type Cidr } from "../../../components/lib/cidr";
import { gpuFamily } from "../../../components/lib/gpu-catalog";
import { PROFILE_DEFAULTS } from "../../../components/lib/profile";
import { EKS_ADDON_VERSIONS } from "../../../components/lib/versions";
import { entries, int, issue, profileOf, section, str, strings, substrateKind, type Rule } from "./helpers";

const contains = (outer: Cidr, inner: Cidr) => inner.prefix >= outer.prefix && overlaps(outer, inner);

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
    else {
      if (!PRIVATE_RANGES.some((r) => contains(parseCidr(r)!, c)))
        out.push(
          issue("network.cidr", `expected a private range (${PRIVATE_RANGES.join(", ")}), found "${cidr}"`),
        );
      if (overlaps(c, parseCidr(SERVICE_CIDR)!))
        out.push(
          issue(
            "network.cidr",
            `expected a VPC that does not overlap the cluster service CIDR ${SERVICE_CIDR}, found "${cidr}"`,
          ),
        );
    }
  }
  if (net.egress === "private" && net.publicLoadBalancer === true)
    out.push(
      issue(
        "network.publicLoadBalancer",
        'expected false with egress "private" (no internet gateway at all), found true',
      ),
    );
  const creds = net.registryCredentialArns;
  if (creds !== null && typeof creds === "object" && !Array.isArray(creds)) {
    const needing = Object.entries(PULL_THROUGH_UPSTREAMS)
      .filter(([, u]) => u.needsCredential)
      .map(([r]) => r);
    for (const key of Object.keys(creds)) {
      if (!needing.includes(key))
        out.push(
          issue(
            `network.registryCredentialArns.${key}`,
            `expected a registry that needs pull-through credentials (${needing.join(", ")}), found "${key}"`,
          ),
        );
    }
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

/** The widest public endpoint range accepted in prod (anything broader is most of the internet). */
export const MIN_PROD_PUBLIC_PREFIX = 8;

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
    const parsedCidr = parseCidr(c);
    if (c === "0.0.0.0/0" && profileOf(raw) === "prod") {
      out.push(
        issue(`cluster.publicAccessCidrs[${i}]`, 'expected a narrow allowlist in prod, found "0.0.0.0/0"'),
      );
    } else if (parsedCidr && parsedCidr.prefix < MIN_PROD_PUBLIC_PREFIX && profileOf(raw) === "prod") {
      out.push(
        issue(
          `cluster.publicAccessCidrs[${i}]`,
          `expected a narrow allowlist in prod (a /${MIN_PROD_PUBLIC_PREFIX} or longer prefix), found "${c}"`,
        ),
      );
    }
  });
  const parsed = cidrs.map((c) => parseCidr(c));
  const vpc = parseCidr(str(section(raw, "network").cidr) ?? "10.40.0.0/16");
  parsed.forEach((a, i) => {
    if (!a) return;
    const j = parsed.findIndex((b, k) => k < i && b !== undefined && overlaps(a, b));
    if (j >= 0)
      out.push(
        issue(
          `cluster.publicAccessCidrs[${i}]`,
          `expected CIDRs that do not overlap, found "${cidrs[i]}" overlapping "${cidrs[j]}" (publicAccessCidrs[${j}])`,
        ),
      );
    if (vpc && a.prefix > 0 && overlaps(a, vpc))
      out.push(
        issue(
          `cluster.publicAccessCidrs[${i}]`,
          `expected public addresses outside the VPC ${formatCidr(vpc)}, found "${cidrs[i]}"`,
        ),
      );
  });
  const version = str(cl.version);
  if (version !== undefined && /^1\.\d{2}$/.test(version) && !(version in EKS_ADDON_VERSIONS))
    out.push(
      issue(
        "cluster.version",
        `expected a Kubernetes version with pinned EKS addons (${Object.keys(EKS_ADDON_VERSIONS).join(", ")}), found "${version}"`,
      ),
    );
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
  // The wiring defaults min to 3 in prod and 2 in dev; a lone max must leave room for it.
  const effectiveMin = min ?? (profileOf(raw) === "prod" ? 3 : 2);
  if (max !== undefined && max < effectiveMin)
    out.push(
      issue(
        "cluster.systemNodes.max",
        `expected >= min (${effectiveMin}${min === undefined ? `, the ${profileOf(raw) ?? "dev"} default` : ""}), found ${max}`,
      ),
    );
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

/** On aws a pool's families must share one GPU type (the NodePool carries one type label). */
export const poolOneGpuType: Rule = (raw) => {
  if (substrateKind(raw) !== "aws") return [];
  const out: ConfigIssue[] = [];
  for (const { index, value: p } of entries(raw, "gpuPools")) {
    if (str(p.gpuType) !== undefined) continue;
    const fams = strings(p.instanceFamilies);
    const types = [...new Set(fams.map((f) => gpuFamily(f)?.gpuType).filter((t) => t !== undefined))];
    if (types.length > 1)
      out.push(
        issue(
          `gpuPools[${index}].instanceFamilies`,
          `expected families with one GPU type per pool (split the pool), found [${fams.join(", ")}] with ${types.join(", ")}`,
        ),
      );
  }
  return out;
};

/** Karpenter has no minimum: a minimum on aws would be accepted and silently not kept. */
export const noMinimumGpusOnAws: Rule = (raw) => {
  if (substrateKind(raw) !== "aws") return [];
  return entries(raw, "gpuPools").flatMap(({ index, value: p }) => {
    const min = int(p.minGpus);
    return min !== undefined && min > 0
      ? [
          issue(
            `gpuPools[${index}].minGpus`,
            `expected 0 on aws (Karpenter scales GPU nodes from zero and keeps no minimum; hold capacity with a model's replicas.min), found ${min}`,
          ),
        ]
      : [];
  });
};

export const AWS_RULES: Rule[] = [
  networkValid,
  endpointAccess,
  publicGatewayNeedsPublicSubnets,
  poolOneGpuType,
  noMinimumGpusOnAws,
];
