/**
 * GPU capacity that scales from zero and back: Karpenter (controller via a pinned Helm chart,
 * IAM through Pod Identity, an interruption queue fed by EventBridge) with one EC2NodeClass
 * and NodePool per GPU pool. GPU nodes carry the `nvidia.com/gpu=present:NoSchedule` taint and
 * the GPU type label, boot the AL2023 NVIDIA AMI, require IMDSv2 with one hop and get an
 * encrypted gp3 root volume sized for model images.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GPU_POOL_LABEL, GPU_RESOURCE, GPU_TAINT, GPU_TYPE_LABEL } from "../lib/gpu-catalog";
import { withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import { type ChartMirror, chartSource } from "../lib/versions";
import type { GpuPlacement } from "../substrate";
import { NODE_METADATA_OPTIONS } from "./eks";
import { gpuFamily, gpuTypesOf } from "./gpu-families";
import { KARPENTER, KARPENTER_IMAGES } from "./versions";
import {
  podIdentityTrust,
  policyJson,
  createNodeRole,
  shortPrefix,
  type Statement,
  type Tags,
} from "./common";

export interface GpuPoolArgs {
  readonly name: string;
  readonly purpose: "serving" | "training";
  readonly instanceFamilies: readonly string[];
  readonly capacityType: "on-demand" | "spot";
  /** GPUs per node. @default the largest size of the pool's families */
  readonly gpusPerNode?: number;
  /** GPU type label value. @default the families' GPU type from the catalog */
  readonly gpuType?: string;
  readonly maxGpus: number;
  /** Root volume, GiB (at least 200). @default 200 */
  readonly volumeGiB?: number;
}

export interface ResolvedPool {
  readonly name: string;
  readonly purpose: "serving" | "training";
  readonly instanceFamilies: readonly string[];
  readonly capacityType: "on-demand" | "spot";
  readonly gpusPerNode: number;
  readonly gpuType: string;
  readonly maxGpus: number;
  readonly volumeGiB: number;
}

/** Fills a pool's defaults from the GPU catalog; throws for an unknown family or mixed GPU types. */
export function resolvePool(p: GpuPoolArgs): ResolvedPool {
  const fams = p.instanceFamilies.map((f) => {
    const fam = gpuFamily(f);
    if (!fam) throw new Error(`expected a known GPU instance family, found "${f}"`);
    return fam;
  });
  if (fams.length === 0) throw new Error(`expected instance families for pool "${p.name}", found nothing`);
  const types = gpuTypesOf(p.instanceFamilies);
  if (p.gpuType === undefined && types.length > 1)
    throw new Error(`expected one GPU type per pool "${p.name}", found ${types.join(", ")}`);
  if (p.capacityType === "spot" && p.purpose === "serving")
    throw new Error(`expected on-demand capacity for serving pool "${p.name}", found "spot"`);
  const volumeGiB = p.volumeGiB ?? 200;
  if (volumeGiB < 200) throw new Error(`expected at least 200 GiB for GPU nodes, found ${volumeGiB}`);
  return {
    name: p.name,
    purpose: p.purpose,
    instanceFamilies: [...p.instanceFamilies],
    capacityType: p.capacityType,
    gpusPerNode: p.gpusPerNode ?? Math.max(...fams.map((f) => f.maxGpusPerInstance)),
    gpuType: p.gpuType ?? types[0],
    maxGpus: p.maxGpus,
    volumeGiB,
  };
}

/** Taint Karpenter puts on a node it is about to disrupt (consolidation, spot interruption). */
export const KARPENTER_DISRUPTION_TAINT = "karpenter.sh/disruption";

/**
 * How pods land on a pool: its labels as node selector, and the GPU taint tolerated. Training
 * pods also tolerate Karpenter's disruption taint: they checkpoint and resume, so a node being
 * reclaimed may still run them (Kueue injects these from the pool's ResourceFlavor).
 */
export function poolPlacement(p: ResolvedPool): GpuPlacement {
  return {
    gpuType: p.gpuType,
    gpusPerNode: p.gpusPerNode,
    nodeSelector: { [GPU_POOL_LABEL]: p.name, [GPU_TYPE_LABEL]: p.gpuType },
    tolerations: [
      { key: GPU_TAINT.key, operator: "Equal", value: GPU_TAINT.value, effect: GPU_TAINT.effect },
      ...(p.purpose === "training"
        ? [{ key: KARPENTER_DISRUPTION_TAINT, operator: "Exists" as const, effect: "NoSchedule" as const }]
        : []),
    ],
    capacityType: p.capacityType,
  };
}

/** The EC2NodeClass spec of a pool. */
export function ec2NodeClassSpec(
  p: ResolvedPool,
  a: {
    nodeRoleName: pulumi.Input<string>;
    subnetIds: pulumi.Input<string>[];
    securityGroupId: pulumi.Input<string>;
    ebsKeyArn: pulumi.Input<string>;
    tags: Tags;
  },
): Record<string, unknown> {
  return {
    amiSelectorTerms: [{ alias: KARPENTER.amiAlias }],
    role: a.nodeRoleName,
    subnetSelectorTerms: a.subnetIds.map((id) => ({ id })),
    securityGroupSelectorTerms: [{ id: a.securityGroupId }],
    associatePublicIPAddress: false,
    metadataOptions: { ...NODE_METADATA_OPTIONS, httpProtocolIPv6: "disabled" },
    blockDeviceMappings: [
      {
        deviceName: "/dev/xvda",
        rootVolume: true,
        ebs: {
          volumeSize: `${p.volumeGiB}Gi`,
          volumeType: "gp3",
          iops: 3000,
          throughput: 250,
          encrypted: true,
          kmsKeyID: a.ebsKeyArn,
          deleteOnTermination: true,
        },
      },
    ],
    tags: { ...a.tags, [GPU_POOL_LABEL]: p.name },
  };
}

/** The NodePool spec of a pool: taint, labels, families, capacity type, GPU limit, consolidation. */
export function nodePoolSpec(p: ResolvedPool, nodeClassName: string): Record<string, unknown> {
  return {
    template: {
      metadata: { labels: { [GPU_POOL_LABEL]: p.name, [GPU_TYPE_LABEL]: p.gpuType } },
      spec: {
        nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: nodeClassName },
        taints: [{ key: GPU_TAINT.key, value: GPU_TAINT.value, effect: GPU_TAINT.effect }],
        requirements: [
          { key: "karpenter.k8s.aws/instance-family", operator: "In", values: [...p.instanceFamilies] },
          { key: "karpenter.k8s.aws/instance-gpu-count", operator: "In", values: [String(p.gpusPerNode)] },
          { key: "karpenter.sh/capacity-type", operator: "In", values: [p.capacityType] },
          { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
          { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
        ],
        expireAfter: "720h",
      },
    },
    limits: { [GPU_RESOURCE]: String(p.maxGpus) },
    // Scale back to zero: remove nodes once empty. Busy GPU nodes are not repacked, so model
    // servers and training jobs are not evicted to save a node.
    disruption: {
      consolidationPolicy: "WhenEmpty",
      consolidateAfter: p.purpose === "serving" ? "10m" : "5m",
    },
  };
}

/** Tag Karpenter puts on the instance profile it creates for an EC2NodeClass. */
export const NODECLASS_TAG = "karpenter.k8s.aws/ec2nodeclass";

/** Tag Karpenter puts on everything it launches for a NodePool (the pool's name). */
export const NODEPOOL_TAG = "karpenter.sh/nodepool";

/** EC2 resource types Karpenter creates when it launches capacity. */
export const CREATED_EC2_RESOURCES = [
  "fleet/*",
  "instance/*",
  "volume/*",
  "network-interface/*",
  "launch-template/*",
] as const;

/** The controller's IAM statements: explicit actions only, scoped to the cluster where EC2 allows it. */
export function controllerStatements(a: {
  clusterName: string;
  clusterArn: pulumi.Input<string>;
  region: string;
  partition: pulumi.Input<string>;
  nodeRoleArn: pulumi.Input<string>;
  queueArn: pulumi.Input<string>;
  queueKeyArn: pulumi.Input<string>;
  ebsKeyArn: pulumi.Input<string>;
}): Statement[] {
  const inRegion = { StringEquals: { "aws:RequestedRegion": a.region } };
  const ec2Arn = (resource: string) =>
    pulumi.interpolate`arn:${a.partition}:ec2:${a.region}:${resource.startsWith("image/") || resource.startsWith("snapshot/") ? "" : "*"}:${resource}`;
  const clusterTag = (kind: "RequestTag" | "ResourceTag") =>
    `aws:${kind}/kubernetes.io/cluster/${a.clusterName}`;
  const nodePoolTag = (kind: "RequestTag" | "ResourceTag") => `aws:${kind}/${NODEPOOL_TAG}`;
  const owned = (kind: "RequestTag" | "ResourceTag") => ({
    [`aws:${kind}/kubernetes.io/cluster/${a.clusterName}`]: "owned",
    [`aws:${kind}/topology.kubernetes.io/region`]: a.region,
  });
  const requestTags = owned("RequestTag");
  const resourceTags = owned("ResourceTag");
  return [
    {
      Sid: "Describe",
      Effect: "Allow",
      Action: [
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeCapacityReservations",
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribePlacementGroups",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSpotPriceHistory",
        "ec2:DescribeSubnets",
      ],
      Resource: "*",
      Condition: inRegion,
    },
    // Launching uses existing images, snapshots, subnets, security groups and capacity
    // reservations of this region (RunInstances/CreateFleet name them; they are not created).
    {
      Sid: "LaunchFromExisting",
      Effect: "Allow",
      Action: ["ec2:RunInstances", "ec2:CreateFleet"],
      Resource: [
        "image/*",
        "snapshot/*",
        "spot-instances-request/*",
        "security-group/*",
        "subnet/*",
        "launch-template/*",
        "capacity-reservation/*",
      ].map(ec2Arn),
    },
    // What those calls create (instances, volumes, interfaces, fleets, launch templates) must be
    // tagged at creation as this cluster's and as a NodePool's.
    {
      Sid: "CreateOwnedCapacity",
      Effect: "Allow",
      Action: ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
      Resource: CREATED_EC2_RESOURCES.map(ec2Arn),
      Condition: {
        StringEquals: { [clusterTag("RequestTag")]: "owned" },
        StringLike: { [nodePoolTag("RequestTag")]: "*" },
      },
    },
    // Tags only as part of creating that capacity: never on an existing resource of someone else.
    {
      Sid: "TagOnCreate",
      Effect: "Allow",
      Action: ["ec2:CreateTags"],
      Resource: CREATED_EC2_RESOURCES.map(ec2Arn),
      Condition: {
        StringEquals: {
          [clusterTag("RequestTag")]: "owned",
          "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
        },
        StringLike: { [nodePoolTag("RequestTag")]: "*" },
      },
    },
    // After launch, only the node-claim and Name tags of this cluster's NodePool instances.
    {
      Sid: "TagOwnedInstances",
      Effect: "Allow",
      Action: ["ec2:CreateTags"],
      Resource: ec2Arn("instance/*"),
      Condition: {
        StringEquals: { [clusterTag("ResourceTag")]: "owned" },
        StringLike: { [nodePoolTag("ResourceTag")]: "*" },
        "ForAllValues:StringEquals": { "aws:TagKeys": ["karpenter.sh/nodeclaim", "Name"] },
      },
    },
    // Termination: instances and launch templates this cluster's NodePools own. A tag alone is
    // not enough: `karpenter.sh/nodepool` can only be set at creation (TagOnCreate).
    {
      Sid: "TerminateOwned",
      Effect: "Allow",
      Action: ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
      Resource: [ec2Arn("instance/*"), ec2Arn("launch-template/*")],
      Condition: {
        StringEquals: { [clusterTag("ResourceTag")]: "owned" },
        StringLike: { [nodePoolTag("ResourceTag")]: "*" },
      },
    },
    {
      Sid: "PassNodeRole",
      Effect: "Allow",
      Action: ["iam:PassRole"],
      Resource: a.nodeRoleArn,
      Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
    },
    // Instance profiles: Karpenter creates one per EC2NodeClass and tags it with the cluster,
    // the region and the node class; it may only touch profiles carrying those tags.
    {
      Sid: "CreateOwnedInstanceProfiles",
      Effect: "Allow",
      Action: ["iam:CreateInstanceProfile"],
      Resource: "*",
      Condition: { StringEquals: requestTags, StringLike: { [`aws:RequestTag/${NODECLASS_TAG}`]: "*" } },
    },
    {
      Sid: "TagOwnedInstanceProfiles",
      Effect: "Allow",
      Action: ["iam:TagInstanceProfile"],
      Resource: "*",
      Condition: {
        StringEquals: { ...resourceTags, ...requestTags },
        StringLike: { [`aws:ResourceTag/${NODECLASS_TAG}`]: "*", [`aws:RequestTag/${NODECLASS_TAG}`]: "*" },
      },
    },
    {
      Sid: "ManageOwnedInstanceProfiles",
      Effect: "Allow",
      Action: [
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:DeleteInstanceProfile",
      ],
      Resource: "*",
      Condition: { StringEquals: resourceTags, StringLike: { [`aws:ResourceTag/${NODECLASS_TAG}`]: "*" } },
    },
    {
      Sid: "ReadInstanceProfiles",
      Effect: "Allow",
      Action: ["iam:GetInstanceProfile", "iam:ListInstanceProfiles"],
      Resource: "*",
    },
    {
      Sid: "AmiParameters",
      Effect: "Allow",
      Action: ["ssm:GetParameter"],
      Resource: pulumi.interpolate`arn:${a.partition}:ssm:${a.region}::parameter/aws/service/*`,
    },
    { Sid: "Pricing", Effect: "Allow", Action: ["pricing:GetProducts"], Resource: "*" },
    {
      Sid: "InterruptionQueue",
      Effect: "Allow",
      Action: ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
      Resource: a.queueArn,
    },
    {
      Sid: "InterruptionQueueKey",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: a.queueKeyArn,
      Condition: { StringEquals: { "kms:ViaService": `sqs.${a.region}.amazonaws.com` } },
    },
    { Sid: "Cluster", Effect: "Allow", Action: ["eks:DescribeCluster"], Resource: a.clusterArn },
    {
      Sid: "EncryptedVolumes",
      Effect: "Allow",
      Action: [
        "kms:Decrypt",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:DescribeKey",
      ],
      Resource: a.ebsKeyArn,
    },
    {
      Sid: "EncryptedVolumeGrants",
      Effect: "Allow",
      Action: ["kms:CreateGrant"],
      Resource: a.ebsKeyArn,
      Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
    },
  ];
}

/** EventBridge patterns whose events Karpenter handles before capacity disappears. */
export const INTERRUPTION_EVENTS: Readonly<Record<string, { source: string[]; "detail-type": string[] }>> = {
  health: { source: ["aws.health"], "detail-type": ["AWS Health Event"] },
  spot: { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
  rebalance: { source: ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"] },
  state: { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"] },
};

export interface KarpenterArgs {
  readonly clusterName: string;
  readonly cluster: aws.eks.Cluster;
  readonly clusterSecurityGroupId: pulumi.Input<string>;
  readonly privateSubnetIds: pulumi.Input<string>[];
  readonly ebsKeyArn: pulumi.Input<string>;
  /** Customer key encrypting the interruption queue (its policy admits EventBridge). */
  readonly queueKeyArn: pulumi.Input<string>;
  readonly region: string;
  readonly accountId: pulumi.Input<string>;
  readonly partition: pulumi.Input<string>;
  readonly provider: k8s.Provider;
  readonly pools: readonly GpuPoolArgs[];
  readonly tags: Tags;
  /** Controller replicas. @default 2 */
  readonly replicas?: number;
  /** Without internet egress: isolated-VPC mode and the controller image through the ECR cache. @default false */
  readonly isolatedVpc?: boolean;
  /** Registry mirrors the controller image is pulled through (`mirrorImage`). @default {} */
  readonly registryMirrors?: pulumi.Input<RegistryMirrors>;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
  /** Namespace of the controller. @default kube-system */
  readonly namespace?: string;
  /** Resources the controller waits for (node group, addons). @default [] */
  readonly dependsOn?: pulumi.Resource[];
  /** ECR pull-through cache prefixes GPU nodes may populate (private egress). @default [] */
  readonly pullThroughPrefixes?: readonly string[];
}

/** Every queue action, denied over plain HTTP (listed: no wildcard action, even in a Deny). */
export const QUEUE_TLS_DENIED_ACTIONS = [
  "sqs:SendMessage",
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:ChangeMessageVisibility",
  "sqs:GetQueueAttributes",
  "sqs:GetQueueUrl",
  "sqs:SetQueueAttributes",
  "sqs:PurgeQueue",
  "sqs:DeleteQueue",
  "sqs:AddPermission",
  "sqs:RemovePermission",
  "sqs:TagQueue",
  "sqs:UntagQueue",
  "sqs:ListQueueTags",
  "sqs:ListDeadLetterSourceQueues",
  "sqs:StartMessageMoveTask",
  "sqs:CancelMessageMoveTask",
  "sqs:ListMessageMoveTasks",
];

export class Karpenter extends pulumi.ComponentResource {
  readonly placements: Readonly<Record<string, GpuPlacement>>;
  readonly release: k8s.helm.v3.Release;
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: KarpenterArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Karpenter", name, {}, opts);
    const p = { parent: this };
    const tags = { ...args.tags };
    const ns = args.namespace ?? "kube-system";
    const pools = args.pools.map(resolvePool);
    this.placements = Object.fromEntries(pools.map((pool) => [pool.name, poolPlacement(pool)]));

    // Node role and its access entry (EC2 Linux nodes join through access entries).
    const { role: nodeRole, policies: nodePolicies } = createNodeRole(
      name,
      {
        namePrefix: shortPrefix(`${name}-node`),
        region: args.region,
        accountId: args.accountId,
        partition: args.partition,
        pullThroughPrefixes: args.pullThroughPrefixes,
        extraPolicies: ["AmazonSSMManagedInstanceCore"],
        tags,
      },
      p,
    );
    const nodeAccess = new aws.eks.AccessEntry(
      `${name}-node-access`,
      { clusterName: args.cluster.name, principalArn: nodeRole.arn, type: "EC2_LINUX", tags },
      p,
    );

    // Interruption queue and the EventBridge rules feeding it.
    const queue = new aws.sqs.Queue(
      `${name}-interruptions`,
      {
        messageRetentionSeconds: 300,
        kmsMasterKeyId: args.queueKeyArn,
        kmsDataKeyReusePeriodSeconds: 300,
        tags,
      },
      p,
    );
    new aws.sqs.QueuePolicy(
      `${name}-interruptions-policy`,
      {
        queueUrl: queue.url,
        policy: policyJson([
          {
            Sid: "EventBridge",
            Effect: "Allow",
            Principal: { Service: ["events.amazonaws.com", "sqs.amazonaws.com"] },
            Action: ["sqs:SendMessage"],
            Resource: queue.arn,
          },
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: QUEUE_TLS_DENIED_ACTIONS,
            Resource: queue.arn,
            Condition: { Bool: { "aws:SecureTransport": false } },
          },
        ]),
      },
      p,
    );
    for (const [event, pattern] of Object.entries(INTERRUPTION_EVENTS)) {
      const rule = new aws.cloudwatch.EventRule(
        `${name}-${event}`,
        {
          description: `Karpenter interruption: ${pattern["detail-type"][0]}`,
          eventPattern: JSON.stringify(pattern),
          tags,
        },
        p,
      );
      new aws.cloudwatch.EventTarget(`${name}-${event}-target`, { rule: rule.name, arn: queue.arn }, p);
    }

    // Controller identity through Pod Identity.
    const controllerRole = new aws.iam.Role(
      `${name}-controller-role`,
      {
        namePrefix: shortPrefix(`${name}-controller`),
        assumeRolePolicy: policyJson(podIdentityTrust(args.accountId)),
        tags,
      },
      p,
    );
    const controllerPolicy = new aws.iam.RolePolicy(
      `${name}-controller-policy`,
      {
        role: controllerRole.id,
        policy: policyJson(
          controllerStatements({
            clusterName: args.clusterName,
            clusterArn: args.cluster.arn,
            region: args.region,
            partition: args.partition,
            nodeRoleArn: nodeRole.arn,
            queueArn: queue.arn,
            queueKeyArn: args.queueKeyArn,
            ebsKeyArn: args.ebsKeyArn,
          }),
        ),
      },
      p,
    );
    const association = new aws.eks.PodIdentityAssociation(
      `${name}-controller-identity`,
      {
        clusterName: args.cluster.name,
        namespace: ns,
        serviceAccount: "karpenter",
        roleArn: controllerRole.arn,
        tags,
      },
      p,
    );

    this.release = new k8s.helm.v3.Release(
      `${name}-controller`,
      {
        name: "karpenter",
        ...chartSource(KARPENTER, args.chartMirror),
        namespace: ns,
        atomic: true,
        values: pulumi.output(args.registryMirrors ?? {}).apply((mirrors) =>
          withChartImages(
            {
              replicas: args.replicas ?? 2,
              serviceAccount: { name: "karpenter" },
              nodeSelector: { "sovereign.ai/node-role": "system" },
              settings: {
                clusterName: args.clusterName,
                clusterEndpoint: args.cluster.endpoint,
                interruptionQueue: queue.name,
                isolatedVPC: args.isolatedVpc ?? false,
              },
              controller: {
                resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "1Gi" } },
              },
            },
            KARPENTER_IMAGES,
            mirrors,
          ),
        ),
      },
      {
        ...p,
        provider: args.provider,
        dependsOn: [association, controllerPolicy, nodeAccess, ...nodePolicies, ...(args.dependsOn ?? [])],
      },
    );

    const objects: pulumi.Resource[] = [];
    for (const pool of pools) {
      const nodeClass = new k8s.apiextensions.CustomResource(
        `${name}-nodeclass-${pool.name}`,
        {
          apiVersion: "karpenter.k8s.aws/v1",
          kind: "EC2NodeClass",
          metadata: { name: pool.name },
          spec: ec2NodeClassSpec(pool, {
            nodeRoleName: nodeRole.name,
            subnetIds: args.privateSubnetIds,
            securityGroupId: args.clusterSecurityGroupId,
            ebsKeyArn: args.ebsKeyArn,
            tags,
          }),
        },
        { ...p, provider: args.provider, dependsOn: [this.release] },
      );
      objects.push(
        nodeClass,
        new k8s.apiextensions.CustomResource(
          `${name}-nodepool-${pool.name}`,
          {
            apiVersion: "karpenter.sh/v1",
            kind: "NodePool",
            metadata: { name: pool.name },
            spec: nodePoolSpec(pool, pool.name),
          },
          { ...p, provider: args.provider, dependsOn: [nodeClass] },
        ),
      );
    }
    this.ready = [this.release, ...objects];
    this.registerOutputs({});
  }
}
