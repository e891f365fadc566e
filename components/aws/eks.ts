/**
 * The EKS cluster: pinned version, private API endpoint (public only with an allowlist),
 * secrets envelope encryption, control-plane logs, access entries (no aws-auth ConfigMap),
 * pinned addons including the Pod Identity agent, an on-demand system node group with
 * IMDSv2 (hop limit 1) and encrypted gp3 volumes, and the default encrypted gp3 StorageClass.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { formerType } from "../lib/aliases";
import { parseCidr } from "../lib/cidr";
import { EKS_ADDON_VERSIONS, type EksAddon } from "./versions";
import { KEY_USE_ACTIONS } from "./keys";
import { SERVICE_CIDR } from "./layout";
import {
  managedPolicy,
  podIdentityTrust,
  policyJson,
  createNodeRole,
  serviceTrust,
  shortPrefix,
  type Tags,
} from "./common";

/** Instance metadata for every node: IMDSv2 only, one hop, so pods cannot reach node credentials. */
export const NODE_METADATA_OPTIONS = {
  httpEndpoint: "enabled",
  httpTokens: "required",
  httpPutResponseHopLimit: 1,
} as const;

export const CONTROL_PLANE_LOGS = ["api", "audit", "authenticator"] as const;
/** The default StorageClass name. */
export const DEFAULT_STORAGE_CLASS = "gp3";

export interface EndpointConfig {
  readonly endpointPrivateAccess: true;
  readonly endpointPublicAccess: boolean;
  /** Only with a public endpoint (omitted otherwise, never an empty list). */
  readonly publicAccessCidrs?: string[];
}

/** The widest range a narrow endpoint allowlist accepts (anything broader is most of the internet). */
export const WIDEST_NARROW_PREFIX = 8;

/**
 * Why a CIDR may not be on the public API endpoint's allowlist, or undefined when it may. With
 * `narrow` (prod), `0.0.0.0/0` and anything wider than a /{@link WIDEST_NARROW_PREFIX} are
 * refused. The one predicate behind the config rule and the component's own check.
 */
export function endpointCidrProblem(cidr: string, narrow: boolean): string | undefined {
  const c = parseCidr(cidr);
  if (!c) return `expected a valid IPv4 CIDR with host bits zero, found "${cidr}"`;
  if (!narrow) return undefined;
  if (c.prefix === 0) return `expected a narrow allowlist in prod, found "${cidr}"`;
  if (c.prefix < WIDEST_NARROW_PREFIX)
    return `expected a narrow allowlist in prod (a /${WIDEST_NARROW_PREFIX} or longer prefix), found "${cidr}"`;
  return undefined;
}

/**
 * API endpoint access: always private; public only when asked for, with an allowlist, and
 * with `narrow` never open to (most of) the world.
 */
export function endpointConfig(
  publicAccess: boolean,
  cidrs: readonly string[],
  narrow: boolean,
): EndpointConfig {
  if (!publicAccess) return { endpointPrivateAccess: true, endpointPublicAccess: false };
  if (cidrs.length === 0) throw new Error("expected an allowlist for a public API endpoint, found nothing");
  for (const c of cidrs) {
    const problem = endpointCidrProblem(c, narrow);
    if (problem) throw new Error(`public API endpoint: ${problem}`);
  }
  return { endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: [...cidrs] };
}

/** Pinned addon versions for a Kubernetes minor version. */
export function addonVersions(version: string): Readonly<Record<EksAddon, string>> {
  const v = EKS_ADDON_VERSIONS[version];
  if (!v)
    throw new Error(
      `expected a Kubernetes version with pinned addons (${Object.keys(EKS_ADDON_VERSIONS).join(", ")}), found "${version}"`,
    );
  return v;
}

/** Kubeconfig that authenticates with `aws eks get-token` (no credentials inside). */
export function kubeconfig(a: {
  clusterName: string;
  endpoint: string;
  caData: string;
  region: string;
}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: a.clusterName, cluster: { server: a.endpoint, "certificate-authority-data": a.caData } },
    ],
    contexts: [{ name: a.clusterName, context: { cluster: a.clusterName, user: a.clusterName } }],
    "current-context": a.clusterName,
    users: [
      {
        name: a.clusterName,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: [
              "eks",
              "get-token",
              "--cluster-name",
              a.clusterName,
              "--region",
              a.region,
              "--output",
              "json",
            ],
          },
        },
      },
    ],
  });
}

export interface SystemNodes {
  readonly instanceType: string;
  readonly min: number;
  readonly max: number;
}

export interface EksArgs {
  /** EKS cluster name. */
  readonly clusterName: string;
  /** Kubernetes minor version, e.g. `1.33`; selects the pinned addon versions. */
  readonly version: string;
  readonly region: string;
  readonly accountId: pulumi.Input<string>;
  readonly partition: pulumi.Input<string>;
  readonly vpcId: pulumi.Input<string>;
  readonly privateSubnetIds: pulumi.Input<string>[];
  readonly endpointPublicAccess: boolean;
  readonly publicAccessCidrs: readonly string[];
  /** Refuse a wide public endpoint allowlist (`endpointCidrProblem`). */
  readonly narrowEndpointAllowlist: boolean;
  /** Reclaim policy of the default StorageClass (`Retain` keeps volumes of deleted claims). */
  readonly storageReclaimPolicy: "Retain" | "Delete";
  /** IAM roles granted cluster-admin through access entries. */
  readonly adminRoleArns: readonly string[];
  /**
   * Team members' IAM roles, each mapped to its team's Kubernetes group: the rights the tenancy
   * layer binds to that group (Role `team-member` in the team's namespace, no Secrets), and the
   * team identity admission knows (K8sFlywheelIdentity's teamGroups). @default []
   */
  readonly teamRoles?: readonly { readonly roleArn: string; readonly group: string }[];
  readonly secretsKeyArn: pulumi.Input<string>;
  readonly ebsKeyArn: pulumi.Input<string>;
  readonly logsKeyArn: pulumi.Input<string>;
  readonly systemNodes: SystemNodes;
  readonly tags: Tags;
  /** Root volume of system nodes, GiB. @default 100 */
  readonly systemVolumeGiB?: number;
  /** Control-plane log retention, days. @default 90 */
  readonly logRetentionDays?: number;
  /** Resources the cluster must wait for (routes, VPC endpoints). @default [] */
  readonly dependsOn?: pulumi.Resource[];
  /** ECR pull-through cache prefixes nodes may populate (private egress). @default [] */
  readonly pullThroughPrefixes?: readonly string[];
}

export class Eks extends pulumi.ComponentResource {
  readonly cluster: aws.eks.Cluster;
  readonly clusterName: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;
  readonly clusterSecurityGroupId: pulumi.Output<string>;
  readonly provider: k8s.Provider;
  readonly kubeconfig: pulumi.Output<string>;
  readonly storageClassName = DEFAULT_STORAGE_CLASS;
  /** Cluster, node group, addons and storage class: what the platform waits for. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: EksArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Eks", name, {}, formerType(opts, "sovereign:aws:Cluster"));
    const p = { parent: this };
    const tags = { ...args.tags };
    const versions = addonVersions(args.version);
    const endpoint = endpointConfig(
      args.endpointPublicAccess,
      args.publicAccessCidrs,
      args.narrowEndpointAllowlist,
    );

    const role = new aws.iam.Role(
      `${name}-role`,
      {
        namePrefix: shortPrefix(`${name}-cluster`),
        assumeRolePolicy: policyJson(serviceTrust("eks.amazonaws.com", true)),
        tags,
      },
      p,
    );
    const policyAttachment = new aws.iam.RolePolicyAttachment(
      `${name}-role-policy`,
      { role: role.name, policyArn: managedPolicy(args.partition, "AmazonEKSClusterPolicy") },
      p,
    );
    const kmsPolicy = new aws.iam.RolePolicy(
      `${name}-role-kms`,
      {
        role: role.id,
        policy: policyJson([
          {
            Effect: "Allow",
            Action: ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants", "kms:CreateGrant"],
            Resource: args.secretsKeyArn,
          },
        ]),
      },
      p,
    );
    // Created before the cluster so it is encrypted and has a retention.
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      {
        name: `/aws/eks/${args.clusterName}/cluster`,
        kmsKeyId: args.logsKeyArn,
        retentionInDays: args.logRetentionDays ?? 90,
        tags,
      },
      p,
    );

    const cluster = new aws.eks.Cluster(
      `${name}-eks`,
      {
        name: args.clusterName,
        version: args.version,
        roleArn: role.arn,
        vpcConfig: { subnetIds: args.privateSubnetIds, ...endpoint },
        encryptionConfig: { provider: { keyArn: args.secretsKeyArn }, resources: ["secrets"] },
        enabledClusterLogTypes: [...CONTROL_PLANE_LOGS],
        accessConfig: { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: true },
        kubernetesNetworkConfig: { serviceIpv4Cidr: SERVICE_CIDR, ipFamily: "ipv4" },
        upgradePolicy: { supportType: "STANDARD" },
        bootstrapSelfManagedAddons: false,
        tags,
      },
      { ...p, dependsOn: [policyAttachment, kmsPolicy, logGroup, ...(args.dependsOn ?? [])] },
    );
    this.cluster = cluster;
    this.clusterName = cluster.name;
    this.endpoint = cluster.endpoint;
    this.clusterSecurityGroupId = cluster.vpcConfig.apply((v) => v.clusterSecurityGroupId ?? "");

    // Access entries for admins (authentication mode API: no aws-auth ConfigMap).
    args.adminRoleArns.forEach((arn, i) => {
      const entry = new aws.eks.AccessEntry(
        `${name}-admin-${i}`,
        { clusterName: cluster.name, principalArn: arn, type: "STANDARD", tags },
        p,
      );
      new aws.eks.AccessPolicyAssociation(
        `${name}-admin-${i}-policy`,
        {
          clusterName: cluster.name,
          principalArn: arn,
          policyArn: pulumi.interpolate`arn:${args.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`,
          accessScope: { type: "cluster" },
        },
        { ...p, dependsOn: [entry] },
      );
    });

    // A team member's role gets exactly the team group's rights, through the group: no access
    // policy. AmazonEKSEditPolicy (what this was) gives edit rights (pods with any ServiceAccount
    // or Secret, Secrets through the API) to a principal K8sFlywheelIdentity does not know as the
    // team's (no group but system:authenticated): a flywheel team's namespace holds its registry
    // login and the key of the base model server every team's adapters share.
    (args.teamRoles ?? []).forEach((t, i) => {
      new aws.eks.AccessEntry(
        `${name}-team-${i}`,
        {
          clusterName: cluster.name,
          principalArn: t.roleArn,
          type: "STANDARD",
          kubernetesGroups: [t.group],
          tags,
        },
        p,
      );
    });

    // Addons that need no nodes first: networking and the Pod Identity agent.
    const addon = (
      addonName: EksAddon,
      extra: Partial<aws.eks.AddonArgs> = {},
      dependsOn: pulumi.Resource[] = [],
    ) =>
      new aws.eks.Addon(
        `${name}-${addonName}`,
        {
          clusterName: cluster.name,
          addonName,
          addonVersion: versions[addonName],
          resolveConflictsOnCreate: "OVERWRITE",
          resolveConflictsOnUpdate: "OVERWRITE",
          tags,
          ...extra,
        },
        { ...p, dependsOn },
      );
    const vpcCni = addon("vpc-cni");
    const kubeProxy = addon("kube-proxy");
    const podIdentity = addon("eks-pod-identity-agent");

    // System node group: on-demand, IMDSv2 with one hop, encrypted gp3 root volume.
    const { role: nodeRole, policies: nodePolicies } = createNodeRole(
      name,
      {
        namePrefix: shortPrefix(`${name}-system-node`),
        region: args.region,
        accountId: args.accountId,
        partition: args.partition,
        pullThroughPrefixes: args.pullThroughPrefixes,
        tags,
      },
      p,
    );
    const launchTemplate = new aws.ec2.LaunchTemplate(
      `${name}-system-lt`,
      {
        description: "sovereign system nodes",
        metadataOptions: { ...NODE_METADATA_OPTIONS, instanceMetadataTags: "disabled" },
        blockDeviceMappings: [
          {
            deviceName: "/dev/xvda",
            ebs: {
              volumeSize: args.systemVolumeGiB ?? 100,
              volumeType: "gp3",
              encrypted: "true",
              kmsKeyId: args.ebsKeyArn,
              deleteOnTermination: "true",
            },
          },
        ],
        tagSpecifications: [
          { resourceType: "instance", tags },
          { resourceType: "volume", tags },
        ],
        tags,
      },
      p,
    );
    const nodeGroup = new aws.eks.NodeGroup(
      `${name}-system`,
      {
        clusterName: cluster.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: args.privateSubnetIds,
        amiType: "AL2023_x86_64_STANDARD",
        capacityType: "ON_DEMAND",
        instanceTypes: [args.systemNodes.instanceType],
        scalingConfig: {
          minSize: args.systemNodes.min,
          maxSize: args.systemNodes.max,
          desiredSize: args.systemNodes.min,
        },
        launchTemplate: {
          id: launchTemplate.id,
          version: pulumi.interpolate`${launchTemplate.latestVersion}`,
        },
        labels: { "sovereign.ai/node-role": "system" },
        updateConfig: { maxUnavailable: 1 },
        tags,
      },
      { ...p, dependsOn: [...nodePolicies, vpcCni, kubeProxy, podIdentity] },
    );

    // Addons that run as Deployments need nodes.
    const coredns = addon("coredns", {}, [nodeGroup]);
    const ebsRole = new aws.iam.Role(
      `${name}-ebs-csi-role`,
      {
        namePrefix: shortPrefix(`${name}-ebs-csi`),
        assumeRolePolicy: policyJson(podIdentityTrust(args.accountId)),
        tags,
      },
      p,
    );
    const ebsManaged = new aws.iam.RolePolicyAttachment(
      `${name}-ebs-csi-policy`,
      {
        role: ebsRole.name,
        policyArn: pulumi.interpolate`arn:${args.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy`,
      },
      p,
    );
    const ebsKms = new aws.iam.RolePolicy(
      `${name}-ebs-csi-kms`,
      {
        role: ebsRole.id,
        policy: policyJson([
          {
            Effect: "Allow",
            Action: ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            Resource: args.ebsKeyArn,
            Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
          },
          {
            Effect: "Allow",
            Action: [...KEY_USE_ACTIONS],
            Resource: args.ebsKeyArn,
          },
        ]),
      },
      p,
    );
    const ebsCsi = addon(
      "aws-ebs-csi-driver",
      { podIdentityAssociations: [{ roleArn: ebsRole.arn, serviceAccount: "ebs-csi-controller-sa" }] },
      [nodeGroup, ebsManaged, ebsKms],
    );

    this.kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, cluster.certificateAuthority])
      .apply(([n, e, ca]) =>
        kubeconfig({ clusterName: n, endpoint: e, caData: ca.data ?? "", region: args.region }),
      );
    this.provider = new k8s.Provider(
      `${name}-k8s`,
      { kubeconfig: this.kubeconfig, enableServerSideApply: true },
      { ...p, dependsOn: [nodeGroup] },
    );

    const storageClass = new k8s.storage.v1.StorageClass(
      `${name}-gp3`,
      {
        metadata: {
          name: DEFAULT_STORAGE_CLASS,
          annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        provisioner: "ebs.csi.aws.com",
        parameters: {
          type: "gp3",
          encrypted: "true",
          kmsKeyId: args.ebsKeyArn,
          "csi.storage.k8s.io/fstype": "ext4",
        },
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
        reclaimPolicy: args.storageReclaimPolicy,
      },
      { ...p, provider: this.provider, dependsOn: [ebsCsi] },
    );
    this.ready = [cluster, nodeGroup, vpcCni, kubeProxy, podIdentity, coredns, ebsCsi, storageClass];
    this.registerOutputs({ clusterName: this.clusterName, endpoint: this.endpoint });
  }
}
