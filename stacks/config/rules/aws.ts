/** Rules for the aws substrate: network, cluster endpoint and version, GPU pools, registries. */
import { endpointCidrProblem } from "../../../components/aws/eks";
import { RDS_CA_ROOTS } from "../../../components/aws/rds-ca-bundle";
import { SERVICE_CIDR, PRIVATE_RANGES } from "../../../components/aws/layout";
import { PULL_THROUGH_UPSTREAMS } from "../../../components/aws/registries";
import { formatCidr, overlaps, parseCidr, type Cidr } from "../../../components/lib/cidr";
import { gpuTypesOf } from "../../../components/aws/gpu-families";
import { regionAzCount } from "../catalog/aws";
import { EKS_ADDON_VERSIONS } from "../../../components/aws/versions";
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

const contains = (outer: Cidr, inner: Cidr) => inner.prefix >= outer.prefix && overlaps(outer, inner);

export const networkValid: Rule = ({ config, settings }) => {
  if (config.substrate.kind !== "aws") return [];
  const net = config.network;
  const out: ConfigIssue[] = [];
  const c = parseCidr(net.cidr);
  if (!c)
    out.push(
      issue(
        "network.cidr",
        `expected a valid IPv4 network like 10.40.0.0/16 (octets <= 255, host bits zero), found "${net.cidr}"`,
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
        issue("network.cidr", `expected a private range (${PRIVATE_RANGES.join(", ")}), found "${net.cidr}"`),
      );
    if (overlaps(c, parseCidr(SERVICE_CIDR)!))
      out.push(
        issue(
          "network.cidr",
          `expected a VPC that does not overlap the cluster service CIDR ${SERVICE_CIDR}, found "${net.cidr}"`,
        ),
      );
  }
  if (net.egress === "private" && net.publicLoadBalancer)
    out.push(
      issue(
        "network.publicLoadBalancer",
        'expected false with egress "private" (no internet gateway at all), found true',
      ),
    );
  const needing = Object.entries(PULL_THROUGH_UPSTREAMS)
    .filter(([, u]) => u.needsCredential)
    .map(([r]) => r);
  for (const key of Object.keys(net.registryCredentialArns)) {
    if (!needing.includes(key))
      out.push(
        issue(
          `network.registryCredentialArns.${key}`,
          `expected a registry that needs pull-through credentials (${needing.join(", ")}), found "${key}"`,
        ),
      );
  }
  const { azCount, minAzCount } = settings.network;
  if (azCount < minAzCount) {
    out.push(
      issue("network.azCount", `expected at least ${minAzCount} AZs in ${config.profile}, found ${azCount}`),
    );
  }
  return out;
};

export const endpointAccess: Rule = ({ config, settings }) => {
  if (config.substrate.kind !== "aws") return [];
  const cl = config.eks;
  const out: ConfigIssue[] = [];
  const cidrs = cl.publicAccessCidrs;
  cidrs.forEach((c, i) => {
    const problem = endpointCidrProblem(c, settings.eks.narrowEndpointAllowlist);
    if (problem) out.push(issue(`eks.publicAccessCidrs[${i}]`, problem));
  });
  const parsed = cidrs.map((c) => parseCidr(c));
  const vpc = parseCidr(config.network.cidr);
  parsed.forEach((a, i) => {
    if (!a) return;
    const j = parsed.findIndex((b, k) => k < i && b !== undefined && overlaps(a, b));
    if (j >= 0)
      out.push(
        issue(
          `eks.publicAccessCidrs[${i}]`,
          `expected CIDRs that do not overlap, found "${cidrs[i]}" overlapping "${cidrs[j]}" (publicAccessCidrs[${j}])`,
        ),
      );
    if (vpc && a.prefix > 0 && overlaps(a, vpc))
      out.push(
        issue(
          `eks.publicAccessCidrs[${i}]`,
          `expected public addresses outside the VPC ${formatCidr(vpc)}, found "${cidrs[i]}"`,
        ),
      );
  });
  if (!(cl.version in EKS_ADDON_VERSIONS))
    out.push(
      issue(
        "eks.version",
        `expected a Kubernetes version with pinned EKS addons (${Object.keys(EKS_ADDON_VERSIONS).join(", ")}), found "${cl.version}"`,
      ),
    );
  if (cl.endpointPublicAccess && cidrs.length === 0) {
    out.push(
      issue(
        "eks.publicAccessCidrs",
        "expected an allowlist when endpointPublicAccess is true, found nothing",
      ),
    );
  }
  const sys = settings.eks.systemNodes;
  if (sys.max < sys.min)
    out.push(
      issue(
        "eks.systemNodes.max",
        `expected >= min (${sys.min}${cl.systemNodes.min === undefined ? `, the ${config.profile} default` : ""}), found ${sys.max}`,
      ),
    );
  if (sys.min < settings.eks.minSystemNodes) {
    out.push(
      issue(
        "eks.systemNodes.min",
        `expected at least ${settings.eks.minSystemNodes} system nodes across AZs in prod, found ${sys.min}`,
      ),
    );
  }
  return out;
};

export const publicGatewayNeedsPublicSubnets: Rule = ({ config }) => {
  if (config.substrate.kind !== "aws") return [];
  if (config.gateway.public && !config.network.publicLoadBalancer) {
    return [
      issue("gateway.public", "expected network.publicLoadBalancer: true for a public gateway, found false"),
    ];
  }
  return [];
};

/** On aws a pool's families must share one GPU type (the NodePool carries one type label). */
export const poolOneGpuType: Rule = ({ config }) => {
  if (config.substrate.kind !== "aws") return [];
  const out: ConfigIssue[] = [];
  config.gpuPools.forEach((p, index) => {
    if (p.gpuType !== undefined) return;
    const fams = p.instanceFamilies ?? [];
    const types = gpuTypesOf(fams);
    if (types.length > 1)
      out.push(
        issue(
          `gpuPools[${index}].instanceFamilies`,
          `expected families with one GPU type per pool (split the pool), found [${fams.join(", ")}] with ${types.join(", ")}`,
        ),
      );
  });
  return out;
};

/** The account baseline is AWS account state: on another substrate there is no account to set. */
export const accountBaselineNeedsAws: Rule = ({ config }) =>
  config.accountBaseline.enabled && config.substrate.kind !== "aws"
    ? [
        issue(
          "accountBaseline.enabled",
          `expected false on substrate "${config.substrate.kind}" (the account baseline sets AWS account-wide S3 and EBS settings), found true`,
        ),
      ]
    : [];

/**
 * Postgres clients verify RDS against the pinned CA bundle, which must cover the region. A region
 * the catalog does not know is the catalog rule's finding (one problem, one message).
 */
export const rdsCaCoversRegion: Rule = ({ config }) => {
  if (config.substrate.kind !== "aws") return [];
  const region = config.substrate.region;
  if (Object.hasOwn(RDS_CA_ROOTS, region) || regionAzCount(region) === undefined) return [];
  return [
    issue(
      "substrate.region",
      `expected a region the pinned RDS CA bundle covers (components/aws/rds-ca-bundle.ts; add the region's roots to use it), found "${region}"`,
    ),
  ];
};

/**
 * RDS IAM authentication exists on aws only; prod refuses static passwords there (every service
 * logs in with IAM tokens through its Pod Identity).
 */
export const rdsIamAuth: Rule = ({ config, settings }) => {
  const set = config.database.iamAuth;
  if (config.substrate.kind !== "aws")
    return set
      ? [
          issue(
            "database.iamAuth",
            `expected it unset or false on substrate "${config.substrate.kind}" (RDS IAM authentication is for RDS on aws), found true`,
          ),
        ]
      : [];
  if (settings.database.requireIamAuth && !settings.database.iamAuth)
    return [
      issue(
        "database.iamAuth",
        `expected true in profile "${config.profile}" (services log in to RDS with IAM tokens; no static passwords in prod), found false`,
      ),
    ];
  return [];
};

export const AWS_RULES: Rule[] = [
  accountBaselineNeedsAws,
  rdsIamAuth,
  networkValid,
  rdsCaCoversRegion,
  endpointAccess,
  publicGatewayNeedsPublicSubnets,
  poolOneGpuType,
];
