/**
 * Pure network layout of the AWS substrate (no Pulumi imports, so config validation can use
 * it): the subnet plan per AZ and the cluster's service CIDR.
 */
import { formatCidr, parseCidr, subnets } from "../lib/cidr";

/** Service CIDR of the cluster; the VPC must not overlap it. */
export const SERVICE_CIDR = "172.20.0.0/16";

/** Most AZs the layout supports. */
export const MAX_AZS = 6;

/** Private IPv4 ranges a VPC may use (RFC 1918 and the shared CGNAT range). */
export const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"] as const;

export interface SubnetLayout {
  /** Node (and pod) subnets, one per AZ: the largest blocks. */
  readonly private: readonly string[];
  /** Database subnets, one per AZ. */
  readonly database: readonly string[];
  /** Public subnets (NAT gateways, public load balancers), one per AZ. */
  readonly public: readonly string[];
}

/**
 * Carves the VPC into per-AZ subnets: the VPC is split in eighths; the first `azCount` eighths
 * are private node subnets, the 7th eighth is split for public subnets and the 8th for database
 * subnets. Throws for an invalid CIDR, a VPC smaller than /24 or an AZ count outside 1..6.
 */
export function subnetLayout(vpcCidr: string, azCount: number): SubnetLayout {
  const vpc = parseCidr(vpcCidr);
  if (!vpc) throw new Error(`expected an IPv4 CIDR with host bits zero, found "${vpcCidr}"`);
  if (!Number.isInteger(azCount) || azCount < 1 || azCount > MAX_AZS)
    throw new Error(`expected 1..${MAX_AZS} AZs, found ${azCount}`);
  if (vpc.prefix > 24) throw new Error(`expected a VPC of /24 or larger, found /${vpc.prefix}`);
  const eighths = subnets(vpc, vpc.prefix + 3, 8);
  const small = (block: (typeof eighths)[number]) =>
    subnets(block, block.prefix + 3, azCount).map(formatCidr);
  return {
    private: eighths.slice(0, azCount).map(formatCidr),
    public: small(eighths[6]),
    database: small(eighths[7]),
  };
}
