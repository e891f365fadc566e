/** Maps the validated config to the existing-cluster substrate's typed args. */
import { caCommonName } from "../../components/lib/stack-ca";
import * as pulumi from "@pulumi/pulumi";
import {
  ExistingClusterSubstrate,
  type ExistingClusterSubstrateArgs,
} from "../../components/existing-cluster/substrate";
import { flywheelTeams } from "../../components/flywheel/plan";
import { flywheelRoleOf } from "../../components/lib/contracts";
import { retentionExpirations } from "../../components/lib/scopes";
import type { PostgresService } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import type { StackContext } from "./context";
import type { CreatedSubstrate } from "./context";

/** The typed args of the existing-cluster substrate for a validated config (pure). */
export function existingClusterSubstrateArgs(
  config: StackConfig,
  ctx?: StackContext,
): ExistingClusterSubstrateArgs {
  if (config.substrate.kind !== "existing-cluster") {
    throw new Error(`expected substrate kind "existing-cluster", found "${config.substrate.kind}"`);
  }
  const s = resolveSettings(config);
  // One registry writer per team with the flywheel on, each logging in to the gateway's database.
  const services: PostgresService[] = [
    "gateway",
    ...flywheelTeams(config).map((f) => flywheelRoleOf(f.team)),
  ];
  return {
    context: config.substrate.context,
    kubeconfig: config.substrate.kubeconfig,
    storageClass: config.substrate.storageClass,
    protectData: s.dataProtection.protect,
    // A laptop cluster may be deleted before the stack; let `destroy` finish anyway.
    deleteUnreachable: s.dataProtection.deleteUnreachable,
    bucketPrefix: config.storage.bucketPrefix,
    objectStoreMode: s.objectStore.mode,
    volumeSize: config.storage.volumeSize,
    postgres: {
      instances: s.database.instances,
      version: config.database.version,
      storageGiB: config.database.storageGiB,
      services,
      // Scheduled backups to the object store where data is protected (prod).
      backupRetentionDays: s.database.scheduledBackups ? s.database.backupRetentionDays : undefined,
    },
    gpuPools: config.gpuPools.map((p) => ({
      name: p.name,
      // The cluster rules require both on this substrate.
      gpuType: p.gpuType ?? "",
      gpusPerNode: p.gpusPerNode ?? 0,
      nodeSelector: p.nodeSelector,
      capacityType: p.capacityType,
    })),
    registryMirrors: config.registryMirrors,
    ...(ctx ? { dataCaName: caCommonName(ctx.stack, "data CA") } : {}),
    // As many as the gateway's wiring installs where the substrate does not (stacks/wiring/gateway.ts).
    certManagerReplicas: s.opa.replicas,
    certManagerExternalIssuers: config.gateway.tls.mode === "issuer",
    chartMirror: config.chartMirror,
    // Captures and flywheel datasets expire only where a team's retention says so.
    expirations: retentionExpirations(config.teams),
    apiServerCidrs: config.substrate.apiServerCidrs,
    ...(config.substrate.loadBalancerAnnotations
      ? { loadBalancerAnnotations: config.substrate.loadBalancerAnnotations }
      : {}),
  };
}

export function existingClusterSubstrate(config: StackConfig, ctx: StackContext): CreatedSubstrate {
  const args = existingClusterSubstrateArgs(config, ctx);
  const s = new ExistingClusterSubstrate("substrate", args);
  return {
    kind: s.kind,
    provider: s.provider,
    objectStore: s.objectStore,
    egressTargets: s.egressTargets,
    apiServer: s.apiServer,
    nodes: s.nodes,
    storageClasses: s.storageClasses,
    gpuPools: s.gpuPools,
    registryMirrors: s.registryMirrors,
    chartMirror: s.chartMirror,
    ready: s.ready,
    certManager: s.certManager,
    loadBalancerAnnotations: (exposure) => s.loadBalancerAnnotations(exposure),
    bindWorkload: (name, req, opts) => s.bindWorkload(name, req, opts),
    connectPostgres: (name, service, namespace, opts) => s.connectPostgres(name, service, namespace, opts),
    outputs: {
      kubeContext: args.context,
      objectStoreEndpoint: s.objectStore.endpoint,
      objectStoreRegion: s.objectStore.region,
      buckets: s.objectStore.buckets,
      postgresHost: s.postgres.host,
      postgresPort: s.postgres.port,
      // Read-write keys to every bucket for operators (seeding weights); secret.
      objectStoreOperatorCredentials: pulumi.secret(
        pulumi
          .all([s.operatorCredentials.accessKey, s.operatorCredentials.secretKey])
          .apply(([accessKeyId, secretAccessKey]) => ({ accessKeyId, secretAccessKey })),
      ),
    },
  };
}
