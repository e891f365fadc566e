/**
 * The VPC: private subnets for nodes and the database in every AZ, egress through NAT or
 * none at all, VPC endpoints so AWS API traffic stays private, ECR pull-through cache rules
 * for a VPC without internet egress, and encrypted flow logs.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyJson, serviceTrust, shortPrefix, type Tags } from "./common";
import { subnetLayout, type SubnetLayout } from "./layout";

import { pullThroughPlan, type PullThroughPlan } from "./registries";

export { MAX_AZS, subnetLayout, type SubnetLayout } from "./layout";
export { pullThroughPlan, type PullThroughPlan } from "./registries";

export type Egress = "nat" | "private";

/** Interface endpoints every network gets (AWS APIs the cluster and workloads call). */
export const INTERFACE_ENDPOINTS = [
  "ecr.api",
  "ecr.dkr",
  "sts",
  "kms",
  "secretsmanager",
  "logs",
  "ec2",
  "eks",
  "eks-auth",
  // Karpenter in a VPC without egress: AMI alias resolution and the interruption queue.
  "ssm",
  "sqs",
] as const;

export interface NetworkArgs {
  readonly cidr: string;
  readonly azCount: number;
  /** AZ names to use (at least `azCount`), e.g. from `aws.getAvailabilityZonesOutput`. */
  readonly azNames: pulumi.Input<string[]>;
  readonly egress: Egress;
  /** One NAT gateway per AZ (prod) instead of one shared (dev). Ignored without NAT egress. */
  readonly natPerAz: boolean;
  /** Tag the public subnets for internet-facing load balancers. */
  readonly publicLoadBalancer: boolean;
  readonly region: string;
  /** Cluster name for subnet discovery tags. */
  readonly clusterName: string;
  /** KMS key encrypting the flow-log group. */
  readonly logsKeyArn: pulumi.Input<string>;
  readonly tags: Tags;
  /** Flow-log retention, days. @default 90 */
  readonly flowLogRetentionDays?: number;
  /** Images to cache through ECR when egress is private. @default [] */
  readonly pullThroughImages?: readonly string[];
  /** Secrets Manager ARNs (`ecr-pullthroughcache/...`) of upstream credentials, by registry. @default {} */
  readonly registryCredentialArns?: Readonly<Record<string, string>>;
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly vpcCidr: string;
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly databaseSubnetIds: pulumi.Output<string>[];
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly layout: SubnetLayout;
  readonly pullThrough: PullThroughPlan;
  /** Resources that must exist before nodes start (routes, endpoints). */
  readonly ready: pulumi.Resource[] = [];

  constructor(name: string, args: NetworkArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Network", name, {}, opts);
    const p = { parent: this };
    const tags = (extra: Record<string, string> = {}) => ({ ...args.tags, ...extra });
    const layout = subnetLayout(args.cidr, args.azCount);
    this.layout = layout;
    this.vpcCidr = args.cidr;
    const az = (i: number) =>
      pulumi.output(args.azNames).apply((n) => {
        if (n.length <= i)
          throw new Error(`expected at least ${i + 1} AZs in ${args.region}, found ${n.length}`);
        return n[i];
      });
    const cluster = { [`kubernetes.io/cluster/${args.clusterName}`]: "shared" };

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: args.cidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: tags({ Name: `${name}-vpc` }),
      },
      p,
    );
    this.vpcId = vpc.id;
    // The default security group admits nothing.
    new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id, tags: tags() }, p);

    const mkSubnets = (role: string, cidrs: readonly string[], extra: Record<string, string>) =>
      cidrs.map(
        (cidr, i) =>
          new aws.ec2.Subnet(
            `${name}-${role}-${i}`,
            {
              vpcId: vpc.id,
              cidrBlock: cidr,
              availabilityZone: az(i),
              mapPublicIpOnLaunch: false,
              tags: tags({ Name: `${name}-${role}-${i}`, "sovereign:subnet-role": role, ...extra }),
            },
            p,
          ),
      );
    const priv = mkSubnets("private", layout.private, { ...cluster, "kubernetes.io/role/internal-elb": "1" });
    const db = mkSubnets("database", layout.database, {});
    const needPublic = args.egress === "nat" || args.publicLoadBalancer;
    const pub = needPublic
      ? mkSubnets(
          "public",
          layout.public,
          args.publicLoadBalancer ? { ...cluster, "kubernetes.io/role/elb": "1" } : {},
        )
      : [];
    this.privateSubnetIds = priv.map((s) => s.id);
    this.databaseSubnetIds = db.map((s) => s.id);
    this.publicSubnetIds = pub.map((s) => s.id);

    // Public side: an internet gateway only where public subnets exist.
    if (pub.length > 0) {
      const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags() }, p);
      const rt = new aws.ec2.RouteTable(
        `${name}-public-rt`,
        { vpcId: vpc.id, tags: tags({ Name: `${name}-public` }) },
        p,
      );
      this.ready.push(
        new aws.ec2.Route(
          `${name}-public-default`,
          { routeTableId: rt.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id },
          p,
        ),
      );
      pub.forEach((s, i) =>
        this.ready.push(
          new aws.ec2.RouteTableAssociation(
            `${name}-public-rta-${i}`,
            { subnetId: s.id, routeTableId: rt.id },
            p,
          ),
        ),
      );
    }

    // NAT: one per AZ (prod) or one shared (dev); none with private egress.
    const nats: aws.ec2.NatGateway[] = [];
    if (args.egress === "nat") {
      const count = args.natPerAz ? args.azCount : 1;
      for (let i = 0; i < count; i++) {
        const eip = new aws.ec2.Eip(`${name}-nat-eip-${i}`, { domain: "vpc", tags: tags() }, p);
        nats.push(
          new aws.ec2.NatGateway(
            `${name}-nat-${i}`,
            {
              allocationId: eip.id,
              subnetId: pub[i].id,
              connectivityType: "public",
              tags: tags({ Name: `${name}-nat-${i}` }),
            },
            p,
          ),
        );
      }
    }
    const privateTables = priv.map((s, i) => {
      const rt = new aws.ec2.RouteTable(
        `${name}-private-rt-${i}`,
        { vpcId: vpc.id, tags: tags({ Name: `${name}-private-${i}` }) },
        p,
      );
      // In `ready`: until the platform is gone, the subnets keep their NAT and S3 endpoint routes.
      this.ready.push(
        new aws.ec2.RouteTableAssociation(
          `${name}-private-rta-${i}`,
          { subnetId: s.id, routeTableId: rt.id },
          p,
        ),
      );
      if (nats.length > 0) {
        this.ready.push(
          new aws.ec2.Route(
            `${name}-private-default-${i}`,
            {
              routeTableId: rt.id,
              destinationCidrBlock: "0.0.0.0/0",
              natGatewayId: nats[Math.min(i, nats.length - 1)].id,
            },
            p,
          ),
        );
      }
      return rt;
    });
    // Database subnets never route to the internet.
    const dbTable = new aws.ec2.RouteTable(
      `${name}-database-rt`,
      { vpcId: vpc.id, tags: tags({ Name: `${name}-database` }) },
      p,
    );
    db.forEach((s, i) =>
      this.ready.push(
        new aws.ec2.RouteTableAssociation(
          `${name}-database-rta-${i}`,
          { subnetId: s.id, routeTableId: dbTable.id },
          p,
        ),
      ),
    );

    // VPC endpoints: S3 as a gateway, the rest as interfaces in the private subnets.
    this.ready.push(
      new aws.ec2.VpcEndpoint(
        `${name}-s3`,
        {
          vpcId: vpc.id,
          serviceName: `com.amazonaws.${args.region}.s3`,
          vpcEndpointType: "Gateway",
          routeTableIds: [...privateTables.map((t) => t.id), dbTable.id],
          tags: tags({ Name: `${name}-s3` }),
        },
        p,
      ),
    );
    const endpointSg = new aws.ec2.SecurityGroup(
      `${name}-endpoints-sg`,
      {
        vpcId: vpc.id,
        description: "HTTPS from the VPC to AWS interface endpoints",
        ingress: [
          {
            protocol: "tcp",
            fromPort: 443,
            toPort: 443,
            cidrBlocks: [args.cidr],
            description: "HTTPS from the VPC",
          },
        ],
        egress: [],
        tags: tags(),
      },
      p,
    );
    for (const svc of INTERFACE_ENDPOINTS) {
      this.ready.push(
        new aws.ec2.VpcEndpoint(
          `${name}-${svc.replace(/\./g, "-")}`,
          {
            vpcId: vpc.id,
            serviceName: `com.amazonaws.${args.region}.${svc}`,
            vpcEndpointType: "Interface",
            privateDnsEnabled: true,
            subnetIds: this.privateSubnetIds,
            securityGroupIds: [endpointSg.id],
            tags: tags({ Name: `${name}-${svc}` }),
          },
          p,
        ),
      );
    }

    // Without egress, images come through ECR pull-through cache rules.
    this.pullThrough =
      args.egress === "private"
        ? pullThroughPlan(args.pullThroughImages ?? [], args.registryCredentialArns ?? {})
        : { rules: [], uncovered: [] };
    for (const r of this.pullThrough.rules) {
      new aws.ecr.PullThroughCacheRule(
        `${name}-cache-${r.prefix}`,
        {
          ecrRepositoryPrefix: r.prefix,
          upstreamRegistryUrl: r.upstream,
          ...(r.credentialArn ? { credentialArn: r.credentialArn } : {}),
        },
        p,
      );
    }

    // Encrypted flow logs.
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-flow-logs`,
      {
        name: `/sovereign/${args.clusterName}/vpc-flow-logs`,
        kmsKeyId: args.logsKeyArn,
        retentionInDays: args.flowLogRetentionDays ?? 90,
        tags: tags(),
      },
      p,
    );
    const role = new aws.iam.Role(
      `${name}-flow-logs-role`,
      {
        namePrefix: shortPrefix(`${name}-flow-logs`),
        assumeRolePolicy: policyJson(serviceTrust("vpc-flow-logs.amazonaws.com")),
        tags: tags(),
      },
      p,
    );
    new aws.iam.RolePolicy(
      `${name}-flow-logs-policy`,
      {
        role: role.id,
        policy: policyJson([
          {
            Effect: "Allow",
            Action: [
              "logs:CreateLogStream",
              "logs:PutLogEvents",
              "logs:DescribeLogGroups",
              "logs:DescribeLogStreams",
            ],
            Resource: [logGroup.arn, pulumi.interpolate`${logGroup.arn}:*`],
          },
        ]),
      },
      p,
    );
    new aws.ec2.FlowLog(
      `${name}-flow-log`,
      {
        vpcId: vpc.id,
        trafficType: "ALL",
        logDestinationType: "cloud-watch-logs",
        logDestination: logGroup.arn,
        iamRoleArn: role.arn,
        maxAggregationInterval: 60,
        tags: tags(),
      },
      p,
    );
    this.registerOutputs({ vpcId: this.vpcId });
  }
}
