/** Maps the validated config to the AWS substrate's typed args. */
import { AccountBaseline } from "../../components/aws/account-baseline";
import { retentionExpirations } from "../../components/lib/scopes";
import * as aws from "@pulumi/aws";
import { AwsSubstrate, type AwsSubstrateArgs } from "../../components/aws/substrate";
import { cloudTags } from "../../components/lib/labels";
import { clusterNameOf } from "../../components/lib/naming";
import { mirrorFor, registryOf } from "../../components/lib/images";
import { AWS_SUBSTRATE_IMAGES } from "../../components/aws/versions";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";
import { imagePlanOf, stackImages } from "../config/image-plan";
import { teamGroupName } from "../../components/platform/tenancy-plan";
import type { CreatedSubstrate } from "./context";

export { clusterNameOf };

/**
 * Every image the stack pulls from an upstream registry, i.e. not through a configured mirror
 * (with egress `private` each of their registries gets an ECR pull-through cache rule).
 */
export function upstreamImages(config: StackConfig): string[] {
  const images = stackImages(imagePlanOf(config)).map((i) => i.image);
  return [...new Set(images.filter((i) => mirrorFor(registryOf(i), config.registryMirrors) === undefined))];
}

/** The substrate's typed args from the config and its resolved settings (pure). */
export function awsSubstrateArgs(
  config: StackConfig,
  ctx: StackContext,
  env: Pick<AwsSubstrateArgs, "accountId" | "partition" | "azNames">,
): AwsSubstrateArgs {
  if (config.substrate.kind !== "aws")
    throw new Error(`expected substrate kind "aws", found "${config.substrate.kind}"`);
  const s = resolveSettings(config);
  return {
    ...env,
    region: config.substrate.region,
    clusterName: clusterNameOf(ctx.stack),
    tags: cloudTags(config.tags, ctx.stack),
    protectData: s.dataProtection.protect,
    karpenterReplicas: s.eks.karpenterReplicas,
    network: {
      cidr: config.network.cidr,
      azCount: s.network.azCount,
      egress: config.network.egress,
      natPerAz: s.network.natPerAz,
      publicLoadBalancer: config.network.publicLoadBalancer,
      registryCredentialArns: config.network.registryCredentialArns,
    },
    eks: {
      version: config.eks.version,
      endpointPublicAccess: config.eks.endpointPublicAccess,
      publicAccessCidrs: config.eks.publicAccessCidrs,
      adminRoleArns: config.eks.adminRoleArns,
      teamRoles: config.teams.flatMap((t) =>
        // the group the team's Role `team-member` is bound to (Tenancy) and admission knows
        t.iamRoleArn ? [{ roleArn: t.iamRoleArn, group: teamGroupName(t) }] : [],
      ),
      systemNodes: s.eks.systemNodes,
      narrowEndpointAllowlist: s.eks.narrowEndpointAllowlist,
      storageReclaimPolicy: s.dataProtection.reclaimPolicy,
    },
    gpuPools: config.gpuPools.map((p) => ({
      name: p.name,
      purpose: p.purpose,
      instanceFamilies: p.instanceFamilies ?? [],
      capacityType: p.capacityType,
      gpusPerNode: p.gpusPerNode,
      gpuType: p.gpuType,
      maxGpus: p.maxGpus,
      volumeGiB: p.volumeGiB,
    })),
    storage: {
      bucketPrefix: config.storage.bucketPrefix,
      forceDestroy: s.dataProtection.forceDestroyBuckets,
      objectLock: config.storage.objectLock,
      noncurrentVersionDays: config.storage.noncurrentVersionDays,
      // Captures and flywheel datasets expire only where a team's retention says so.
      expirations: retentionExpirations(config.teams),
    },
    database: {
      version: config.database.version,
      instanceClass: config.database.instanceClass,
      storageGiB: config.database.storageGiB,
      backupRetentionDays: s.database.backupRetentionDays,
      multiAz: s.database.multiAz,
      enhancedMonitoringSeconds: s.database.enhancedMonitoringSeconds,
      port: config.database.port,
      iamAuth: s.database.iamAuth,
    },
    images: upstreamImages(config),
    registryMirrors: config.registryMirrors,
    postgresClientImage: AWS_SUBSTRATE_IMAGES.postgresClient,
    chartMirror: config.chartMirror,
  };
}

export function awsSubstrate(config: StackConfig, ctx: StackContext): AwsSubstrate & CreatedSubstrate {
  if (config.substrate.kind !== "aws")
    throw new Error(`expected substrate kind "aws", found "${config.substrate.kind}"`);
  const region = config.substrate.region;
  const tags = cloudTags(config.tags, ctx.stack);
  // An explicit provider: the region comes from the validated config, and every taggable
  // resource also gets the required tags as provider default tags.
  const provider = new aws.Provider("aws", { region, defaultTags: { tags } });
  const invoke = { provider };
  const azNames = aws
    .getAvailabilityZonesOutput(
      { state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] },
      invoke,
    )
    .apply((z) => z.names);
  const substrate = new AwsSubstrate(
    "substrate",
    awsSubstrateArgs(config, ctx, {
      accountId: aws.getCallerIdentityOutput({}, invoke).accountId,
      partition: aws.getPartitionOutput({}, invoke).partition,
      azNames,
    }),
    { providers: { aws: provider } },
  );
  // Account-wide S3.1 / EC2.7, only when the stack config asks for it.
  if (config.accountBaseline.enabled)
    new AccountBaseline("account-baseline", {}, { providers: { aws: provider } });
  return Object.assign(substrate, {
    outputs: {
      region,
      clusterName: substrate.eks.clusterName,
      clusterEndpoint: substrate.eks.endpoint,
      kubeconfig: substrate.eks.kubeconfig,
      vpcId: substrate.network.vpcId,
      buckets: substrate.storage.bucketNames,
      databaseHost: substrate.database.host,
      databaseMasterSecretArn: substrate.database.masterSecretArn,
      gpuPools: Object.keys(substrate.gpuPools),
      // Upstream registry host → the prefix pods pull it from (ECR caches and configured mirrors).
      registryMirrors: substrate.registryMirrors,
    },
  });
}
