/**
 * The pinned price table of `npm run -s cost`. USD list prices, Linux, on-demand, per hour unless
 * the name says otherwise.
 *
 * Source: the AWS public price list (the Price List API offer files `AmazonEKS`, `AmazonEC2`,
 * `AmazonVPC`, `AmazonRDS`, `AmazonS3`, `AmazonCloudWatch`, `awskms`), as of PRICES_DATE.
 * These figures were written down on that date without access to AWS from the machine that
 * wrote them: treat them as a planning table and refresh them before a budget decision
 * (procedure in docs/cost.md). A price not listed here is reported as unpriced, never guessed.
 */
export const PRICES_DATE = "2026-12-05";
export const PRICES_SOURCE = "AWS public price list (Price List API offer files), list prices, USD";

/** Hours in the monthly figures (AWS bills per hour; 8760 / 12). */
export const HOURS_PER_MONTH = 730;

/**
 * Spot is not a pinned price (it moves hourly per AZ). Spot figures assume this discount off
 * on-demand; a planning assumption, printed with every spot figure.
 */
export const SPOT_DISCOUNT = 0.6;

export interface RegionPrices {
  /** EKS cluster, standard support, per hour. */
  readonly eksControlPlane?: number;
  /** NAT gateway per hour, and per GB processed. */
  readonly natGatewayHour?: number;
  readonly natGatewayGb?: number;
  /** A public IPv4 address (the NAT gateways' Elastic IPs), per hour. */
  readonly publicIpv4Hour?: number;
  /** Interface VPC endpoint, per endpoint per AZ per hour (gateway endpoints are free). */
  readonly interfaceEndpointHour?: number;
  /** EC2 instance types, per hour. */
  readonly ec2: Readonly<Record<string, number>>;
  /** RDS for PostgreSQL single-AZ instance classes, per hour (Multi-AZ bills two). */
  readonly rds: Readonly<Record<string, number>>;
  /** RDS gp3 storage, per GiB-month (Multi-AZ bills two). */
  readonly rdsStorageGbMonth?: number;
  /** S3 Standard storage, per GB-month (first 50 TB). */
  readonly s3StandardGbMonth?: number;
  /** CloudWatch Logs ingestion per GB, and storage per GB-month. */
  readonly logsIngestGb?: number;
  readonly logsStoreGbMonth?: number;
  /** KMS customer-managed key, per key-month. */
  readonly kmsKeyMonth?: number;
}

export const PRICES: Readonly<Record<string, RegionPrices>> = {
  "us-east-1": {
    eksControlPlane: 0.1,
    natGatewayHour: 0.045,
    natGatewayGb: 0.045,
    publicIpv4Hour: 0.005,
    interfaceEndpointHour: 0.01,
    ec2: {
      "m7i.xlarge": 0.2016,
      "m7i.2xlarge": 0.4032,
      "m6i.xlarge": 0.192,
      "g5.xlarge": 1.006,
      "g5.12xlarge": 5.672,
      "g5.48xlarge": 16.288,
      "g6.xlarge": 0.8048,
      "g6.12xlarge": 4.6016,
      "g6.48xlarge": 13.3504,
      "g6e.xlarge": 1.861,
      "g6e.12xlarge": 10.493,
      "g6e.48xlarge": 30.131,
    },
    rds: { "db.t4g.medium": 0.065, "db.t4g.large": 0.129 },
    rdsStorageGbMonth: 0.115,
    s3StandardGbMonth: 0.023,
    logsIngestGb: 0.5,
    logsStoreGbMonth: 0.03,
    kmsKeyMonth: 1,
  },
  // Only the prices the table's author was sure of; the rest are unpriced until refreshed.
  "eu-central-1": {
    eksControlPlane: 0.1,
    natGatewayHour: 0.052,
    natGatewayGb: 0.052,
    publicIpv4Hour: 0.005,
    interfaceEndpointHour: 0.012,
    ec2: {},
    rds: {},
    s3StandardGbMonth: 0.0245,
    kmsKeyMonth: 1,
  },
};

/** The EC2 size of a GPU family with a given GPU count (what Karpenter launches for the pool). */
export const GPU_SIZES: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  g5: { 1: "g5.xlarge", 4: "g5.12xlarge", 8: "g5.48xlarge" },
  g6: { 1: "g6.xlarge", 4: "g6.12xlarge", 8: "g6.48xlarge" },
  g6e: { 1: "g6e.xlarge", 4: "g6e.12xlarge", 8: "g6e.48xlarge" },
  p4d: { 8: "p4d.24xlarge" },
  p5: { 8: "p5.48xlarge" },
};

/**
 * How each resource type a stack registers is accounted for: the estimate's component that
 * prices it, free (no charge of its own), or unpriced (usage-billed or too small, with why).
 * Types are matched exactly, then by the longest prefix ending in `:`.
 */
export type Pricing = { readonly priced: string } | { readonly free: string } | { readonly unpriced: string };

export const RESOURCE_PRICING: Readonly<Record<string, Pricing>> = {
  "aws:eks/cluster:Cluster": { priced: "control plane" },
  "aws:ec2/natGateway:NatGateway": { priced: "NAT gateways" },
  "aws:ec2/eip:Eip": { priced: "NAT gateways" },
  "aws:ec2/vpcEndpoint:VpcEndpoint": { priced: "VPC endpoints" },
  "aws:eks/nodeGroup:NodeGroup": { priced: "system nodes" },
  "kubernetes:karpenter.sh/v1:NodePool": { priced: "GPU pools" },
  "aws:rds/instance:Instance": { priced: "RDS" },
  "aws:s3/bucket:Bucket": { priced: "S3 storage" },
  "aws:cloudwatch/logGroup:LogGroup": { priced: "logs" },
  "aws:ec2/flowLog:FlowLog": { priced: "logs" },
  "aws:kms/key:Key": { priced: "KMS keys" },
  "aws:secretsmanager/secret:Secret": { unpriced: "Secrets Manager: $0.40 per secret-month, a few dollars" },
  "aws:secretsmanager/secretVersion:SecretVersion": { free: "part of its secret" },
  "aws:sqs/queue:Queue": {
    unpriced: "billed per request (Karpenter interruption events); the first 1M a month are free",
  },
  "aws:cloudwatch/eventRule:EventRule": { unpriced: "billed per event (AWS service events are free)" },
  "aws:ec2/launchTemplate:LaunchTemplate": { free: "the instances it launches are priced under their nodes" },
  "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass": {
    free: "the nodes it describes are priced under GPU pools",
  },
  "aws:ecr/": { unpriced: "ECR storage of cached images, billed per GB-month (usage)" },
  "aws:ec2/": { free: "VPC building blocks (VPC, subnets, routes, security groups, gateways) cost nothing" },
  "aws:iam/": { free: "IAM is free" },
  "aws:eks/": { free: "EKS add-ons, access entries and pod identity cost nothing beyond the cluster" },
  "aws:kms/": { free: "aliases are free" },
  "aws:rds/": { free: "subnet and parameter groups are free" },
  "aws:s3/": { free: "bucket settings are free; storage is priced under S3 storage" },
  "aws:sqs/": { free: "queue policies are free" },
  "aws:cloudwatch/": { free: "event targets are free" },
  "kubernetes:": {
    free: "Kubernetes objects cost nothing themselves; what they run on is priced under the nodes (volumes they claim are unpriced)",
  },
  "pulumi:": { free: "providers" },
  "random:": { free: "generated locally" },
  "sovereign:": { free: "components (their children are accounted for)" },
};

export function pricingOf(type: string): Pricing | undefined {
  if (Object.prototype.hasOwnProperty.call(RESOURCE_PRICING, type)) return RESOURCE_PRICING[type];
  const prefixes = Object.keys(RESOURCE_PRICING)
    .filter((p) => (p.endsWith(":") || p.endsWith("/")) && type.startsWith(p))
    .sort((a, b) => b.length - a.length);
  return prefixes.length ? RESOURCE_PRICING[prefixes[0]] : undefined;
}
