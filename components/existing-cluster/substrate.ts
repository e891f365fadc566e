/**
 * The existing-cluster substrate: any conformant Kubernetes cluster (kind/k3d on a laptop, or
 * on-prem), chosen by kubeconfig context. Object storage (SeaweedFS) and Postgres
 * (CloudNativePG) run inside the cluster; GPU placement comes from the config.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { formerType } from "../lib/aliases";
import { GPU_TAINT } from "../lib/gpu-catalog";
import { k8sLabels } from "../lib/labels";
import { mirrorImage, type RegistryMirrors } from "../lib/images";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { ApiServerPeers } from "../lib/network-policy";
import { CertManager, type IssuerRef, privateCaObjects } from "../platform/cert-manager";
import { BUCKET_ROLES, workloadScopes, type BucketRole, type Expiration, type Scope } from "../lib/scopes";
import { type ChartMirror, SUBSTRATE_IMAGES, TRAINER_IMAGE } from "../lib/versions";
import type {
  EgressRule,
  EgressTargets,
  GpuPlacement,
  LoadBalancerExposure,
  ObjectStore as ObjectStoreInfo,
  PostgresConnection,
  PostgresService,
  Substrate,
  WorkloadAccess,
  WorkloadRequest,
} from "../substrate";
import {
  ACCESS_KEY_ENV,
  bucketActions,
  identityActions,
  newKeyPair,
  SECRET_KEY_ENV,
  WorkloadCredentials,
} from "./credentials";
import { dataNetworkPolicies, operatorNetworkPolicies } from "./network-policy";
import { ObjectStore, type ObjectStoreMode, S3_HTTPS_PORT } from "./object-store";
import { Postgres, POSTGRES_PORT } from "./postgres";
import { expirationsByTeam, retentionActions, retentionCronJob, retentionName } from "./retention";
import { CA_CERT_KEY, clientCertificate, DATA_CA, DATA_CA_ISSUER } from "./tls";
import { objectStoreCaEnv, objectStoreCaSecretName } from "../lib/trust";

/** Suffix of each bucket role's name: `${prefix}-${suffix}`. */
export const BUCKET_SUFFIXES: Readonly<Record<BucketRole, string>> = {
  models: "models",
  datasets: "datasets",
  checkpoints: "checkpoints",
  inferenceLogs: "inference-logs",
};

/** Bucket name per role. */
export function bucketNames(prefix: string): Record<BucketRole, string> {
  return Object.fromEntries(BUCKET_ROLES.map((r) => [r, `${prefix}-${BUCKET_SUFFIXES[r]}`])) as Record<
    BucketRole,
    string
  >;
}

/**
 * The bucket Postgres backups go to. Its suffix is shorter than `inference-logs` and uses the
 * same characters, so the core bucket-name rule covers it.
 */
export function backupBucketName(prefix: string): string {
  return `${prefix}-pg-backups`;
}

/** The pinned operand image of a PostgreSQL version (`16` or `16.x`). */
export function postgresImage(version: string): string {
  const major = version.split(".")[0];
  const image = SUBSTRATE_IMAGES.postgres[major];
  if (!image) {
    throw new Error(
      `expected a PostgreSQL major with a pinned image (${Object.keys(SUBSTRATE_IMAGES.postgres).join(", ")}), found "${version}"`,
    );
  }
  return image;
}

export interface ClusterGpuPool {
  readonly name: string;
  readonly gpuType: string;
  readonly gpusPerNode: number;
  /** Labels that select the pool's nodes. */
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly capacityType: "on-demand" | "spot";
}

/** Placement per pool: its node selector and a toleration of the GPU taint. */
export function gpuPlacements(pools: readonly ClusterGpuPool[]): Record<string, GpuPlacement> {
  return Object.fromEntries(
    pools.map((p) => [
      p.name,
      {
        gpuType: p.gpuType,
        gpusPerNode: p.gpusPerNode,
        nodeSelector: { ...p.nodeSelector },
        // On-prem GPU nodes carry the taint with differing values; tolerate the key.
        tolerations: [{ key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect }],
        capacityType: p.capacityType,
      },
    ]),
  );
}

export interface ClusterPostgresArgs {
  /** Instances of the Postgres cluster (1 for dev, 3 for HA). */
  readonly instances: number;
  /** PostgreSQL version (major, or major.minor). */
  readonly version: string;
  readonly storageGiB: number;
  /** Services that get a role and a database. */
  readonly services: readonly PostgresService[];
  /** Scheduled backups to the object store, kept this many days. @default undefined (no backups) */
  readonly backupRetentionDays?: number;
}

export interface ExistingClusterSubstrateArgs {
  /** kubeconfig context of the target cluster. */
  readonly context: string;
  /** Path to a kubeconfig file. @default the standard resolution ($KUBECONFIG, ~/.kube/config) */
  readonly kubeconfig?: string;
  /** StorageClass for every volume. */
  readonly storageClass: string;
  /** Protect the data stores (Postgres cluster, object-store release and volumes, data namespace). */
  readonly protectData: boolean;
  /** Drop resources from state when the cluster is gone (laptop clusters). @default false */
  readonly deleteUnreachable?: boolean;
  /** Prefix of the bucket names. */
  readonly bucketPrefix: string;
  readonly objectStoreMode: ObjectStoreMode;
  /** Size of each object-store data volume, e.g. `50Gi`. */
  readonly volumeSize: string;
  readonly postgres: ClusterPostgresArgs;
  /** GPU pools of the cluster. @default [] */
  readonly gpuPools?: readonly ClusterGpuPool[];
  /** Namespace of the data services. @default PLATFORM_NAMESPACES.data */
  readonly dataNamespace?: string;
  /** Namespace of the CloudNativePG operator. @default "cnpg-system" */
  readonly operatorNamespace?: string;
  /** Registry mirror prefix per upstream registry host (air-gapped clusters). @default {} */
  readonly registryMirrors?: RegistryMirrors;
  /**
   * Objects that expire under a prefix (the flywheel's retention, `retentionExpirations`): a
   * daily deletion job per team with its own scoped identity (SeaweedFS has no lifecycle rules).
   * @default none: nothing expires
   */
  readonly expirations?: readonly Expiration[];
  /**
   * Common name of the stack's data CA (cert-manager signs Postgres's and the object store's
   * certificates with it), e.g. `sovereign local data CA`. @default "sovereign data CA"
   */
  readonly dataCaName?: string;
  /** cert-manager controller and webhook replicas (2 for HA). @default 1 */
  readonly certManagerReplicas?: number;
  /**
   * cert-manager signs with an issuer outside the cluster (ACME, Vault: the gateway's
   * `tls.mode: issuer`), so its controller may reach any address on 80 and 443.
   * @default false (only the kit's own CAs)
   */
  readonly certManagerExternalIssuers?: boolean;
  /** Where the third-party charts come from when their repositories are not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
  /**
   * Addresses of the cluster's API server (its endpoints, and where its webhook calls come
   * from), for the NetworkPolicies of the charts' namespaces. A cluster's control plane has no
   * portable address, so the default admits any address, on the API server's ports only.
   * @default ["0.0.0.0/0"]
   */
  readonly apiServerCidrs?: readonly string[];
  /**
   * Annotations of internal and public `LoadBalancer` Services for the cluster's controller.
   * @default DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS
   */
  readonly loadBalancerAnnotations?: {
    /** @default DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS.internal */
    readonly internal?: Readonly<Record<string, string>>;
    /** @default DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS.public */
    readonly public?: Readonly<Record<string, string>>;
  };
}

/**
 * Internal load balancers on the clusters the kit may meet: GKE, AKS, and Kubernetes on AWS
 * (the AWS cloud provider's and the AWS Load Balancer Controller's keys). Other controllers
 * (MetalLB, kube-vip) ignore them. Without them a cloud's default is internet-facing. Public
 * Services need no annotation.
 */
export const DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS: Readonly<
  Record<LoadBalancerExposure, Record<string, string>>
> = {
  internal: {
    "networking.gke.io/load-balancer-type": "Internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
  },
  public: {},
};

/**
 * The `Substrate` on an existing cluster. Children: `${name}-k8s` (provider),
 * `${name}-data-ns`, `${name}-operator-ns`, `${name}-netpol-*` (ingress rules of the data
 * namespace), `${name}-cert-manager` (the release) and `${name}-data-ca-*` (the data CA's issuers and
 * certificate), `${name}-object-store`, `${name}-postgres`, and the
 * key pairs `${name}-operator-*` (operator access to all buckets) and `${name}-backup-*`.
 */
export class ExistingClusterSubstrate extends pulumi.ComponentResource implements Substrate {
  readonly kind = "existing-cluster" as const;
  readonly provider: k8s.Provider;
  readonly objectStore: ObjectStoreInfo;
  readonly egressTargets: EgressTargets;
  readonly apiServer: ApiServerPeers;
  /** No portable address of the nodes either: any address (the scrape ports narrow it). */
  readonly nodes: readonly Record<string, unknown>[] = CLUSTER_NODES;
  readonly storageClasses: { readonly default: string };
  readonly gpuPools: Readonly<Record<string, GpuPlacement>>;
  readonly registryMirrors: pulumi.Output<RegistryMirrors>;
  readonly chartMirror: ChartMirror | undefined;
  readonly ready: readonly pulumi.Resource[];
  readonly certManager: { readonly ready: readonly pulumi.Resource[] };
  readonly store: ObjectStore;
  private readonly storeName: string;
  readonly postgres: Postgres;
  /** Keys with read-write access to every bucket, for operators (seeding models, exports). */
  readonly operatorCredentials: { accessKey: pulumi.Output<string>; secretKey: pulumi.Output<string> };
  private readonly buckets: Record<BucketRole, string>;
  private readonly lbAnnotations: NonNullable<ExistingClusterSubstrateArgs["loadBalancerAnnotations"]>;
  private readonly tls: { readonly issuer: IssuerRef; readonly dependsOn: readonly pulumi.Resource[] };
  private readonly registered = new Map<string, RegisteredWorkload>();

  constructor(name: string, args: ExistingClusterSubstrateArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(
      "sovereign:existingCluster:Substrate",
      name,
      {},
      formerType(opts, "sovereign:cluster:ClusterSubstrate"),
    );
    const dataNs = args.dataNamespace ?? PLATFORM_NAMESPACES.data;
    const operatorNs = args.operatorNamespace ?? "cnpg-system";
    const protect = { protect: args.protectData, retainOnDelete: args.protectData };

    this.provider = new k8s.Provider(
      `${name}-k8s`,
      {
        context: args.context,
        kubeconfig: args.kubeconfig,
        deleteUnreachable: args.deleteUnreachable ?? false,
      },
      { parent: this },
    );
    const k8sOpts = { parent: this, provider: this.provider };
    const dataNamespace = new k8s.core.v1.Namespace(
      `${name}-data-ns`,
      {
        metadata: {
          name: dataNs,
          labels: {
            ...k8sLabels("data", dataNs),
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
          },
        },
      },
      { ...k8sOpts, ...protect },
    );
    const operatorNamespace = new k8s.core.v1.Namespace(
      `${name}-operator-ns`,
      {
        metadata: {
          name: operatorNs,
          labels: {
            ...k8sLabels("cloudnative-pg", operatorNs),
            "pod-security.kubernetes.io/enforce": "restricted",
          },
        },
      },
      k8sOpts,
    );

    this.apiServer = clusterApiServerPeers(args.apiServerCidrs);
    const policies = dataNetworkPolicies(dataNs, operatorNs, this.apiServer).map(
      (p) =>
        new k8s.networking.v1.NetworkPolicy(`${name}-netpol-${p.metadata.name}`, p, {
          ...k8sOpts,
          dependsOn: [dataNamespace],
        }),
    );
    // The operator's namespace: default-deny both ways, before the operator's chart installs.
    const operatorPolicies = operatorNetworkPolicies(operatorNs, dataNs, this.apiServer).map(
      (p) =>
        new k8s.networking.v1.NetworkPolicy(`${name}-operator-netpol-${p.metadata.name}`, p, {
          ...k8sOpts,
          dependsOn: [operatorNamespace],
        }),
    );

    // cert-manager and the stack's data CA: Postgres and the object store serve certificates it
    // signs, and clients verify them with it (tls.ts). The platform reuses this release
    // (`certManager`). The alias keeps the release where the gateway's wiring created it before.
    const certManager = new CertManager(
      `${name}-cert-manager`,
      {
        apiServer: this.apiServer,
        externalIssuers: args.certManagerExternalIssuers ?? false,
        replicas: args.certManagerReplicas ?? 1,
        registryMirrors: args.registryMirrors ?? {},
        chartMirror: args.chartMirror,
      },
      {
        parent: this,
        providers: [this.provider],
        aliases: [pulumi.createUrn("cert-manager", "sovereign:platform:CertManager")],
      },
    );
    let dataCa: pulumi.Resource[] = [certManager.release!];
    for (const o of privateCaObjects(
      args.dataCaName ?? "sovereign data CA",
      PLATFORM_NAMESPACES.certManager,
      DATA_CA,
    )) {
      dataCa = [
        new k8s.apiextensions.CustomResource(
          `${name}-data-ca-${o.kind.toLowerCase()}-${o.metadata.name}`,
          o,
          {
            ...k8sOpts,
            dependsOn: dataCa,
          },
        ),
      ];
    }
    const tls = { issuer: DATA_CA_ISSUER, dependsOn: [certManager.release!, ...dataCa] };
    this.certManager = { ready: tls.dependsOn };
    this.tls = tls;

    this.buckets = bucketNames(args.bucketPrefix);
    const backupBucket = args.postgres.backupRetentionDays ? backupBucketName(args.bucketPrefix) : undefined;
    const allBuckets = [...Object.values(this.buckets), ...(backupBucket ? [backupBucket] : [])];
    this.storeName = `${name}-object-store`;
    this.store = new ObjectStore(
      this.storeName,
      {
        namespace: dataNs,
        mode: args.objectStoreMode,
        buckets: allBuckets,
        volumeSize: args.volumeSize,
        storageClass: args.storageClass,
        protectData: args.protectData,
        provider: this.provider,
        registryMirrors: args.registryMirrors,
        chartMirror: args.chartMirror,
        dependsOn: [dataNamespace],
        tls,
      },
      { parent: this },
    );
    this.operatorCredentials = newKeyPair(`${name}-operator`, this);
    this.store.addIdentity({
      name: "operator",
      ...this.operatorCredentials,
      actions: bucketActions(Object.values(this.buckets), "read-write"),
    });

    // Retention: per team with a setting, a deletion job as an identity scoped to its prefixes.
    for (const [team, exps] of expirationsByTeam(args.expirations ?? [])) {
      const id = retentionName(team);
      const keys = newKeyPair(`${name}-${id}`, this);
      this.store.addIdentity({ name: id, ...keys, actions: retentionActions(exps, this.buckets) });
      const labels = { ...k8sLabels("retention", team), team };
      const secret = new k8s.core.v1.Secret(
        `${name}-${id}-keys`,
        {
          metadata: { name: `${id}-s3`, namespace: dataNs, labels },
          type: "Opaque",
          stringData: pulumi.secret({ [ACCESS_KEY_ENV]: keys.accessKey, [SECRET_KEY_ENV]: keys.secretKey }),
        },
        { ...k8sOpts, dependsOn: [dataNamespace] },
      );
      const cron = retentionCronJob({
        team,
        namespace: dataNs,
        expirations: exps,
        buckets: this.buckets,
        image: mirrorImage(TRAINER_IMAGE, args.registryMirrors ?? {}),
        endpoint: this.store.endpoint,
        region: this.store.region,
        secretName: `${id}-s3`,
        // The store's own serving Secret, in the same (data) namespace: its CA signs the HTTPS certificate.
        caBundle: { secretName: this.store.tlsSecretName, key: CA_CERT_KEY },
      });
      new k8s.batch.v1.CronJob(`${name}-${id}`, cron, {
        ...k8sOpts,
        dependsOn: [secret, this.store.bucketJob],
      });
    }

    let backup: ConstructorParameters<typeof Postgres>[1]["backup"];
    if (backupBucket && args.postgres.backupRetentionDays) {
      const keys = newKeyPair(`${name}-backup`, this);
      this.store.addIdentity({
        name: "postgres-backup",
        ...keys,
        actions: bucketActions([backupBucket], "read-write"),
      });
      backup = {
        endpoint: this.store.endpoint,
        endpointCa: { secretName: this.store.tlsSecretName, key: CA_CERT_KEY },
        bucket: backupBucket,
        retentionDays: args.postgres.backupRetentionDays,
        ...keys,
      };
    }
    this.postgres = new Postgres(
      `${name}-postgres`,
      {
        namespace: dataNs,
        operatorNamespace: operatorNs,
        instances: args.postgres.instances,
        image: postgresImage(args.postgres.version),
        registryMirrors: args.registryMirrors,
        chartMirror: args.chartMirror,
        storageGiB: args.postgres.storageGiB,
        storageClass: args.storageClass,
        services: args.postgres.services,
        protectData: args.protectData,
        provider: this.provider,
        backup,
        dependsOn: [dataNamespace, operatorNamespace, ...operatorPolicies],
        tls,
        clusterDependsOn: backup ? [this.store.bucketJob] : [],
      },
      { parent: this },
    );

    this.objectStore = {
      endpoint: pulumi.output(this.store.endpoint),
      region: this.store.region,
      forcePathStyle: true,
      buckets: Object.fromEntries(BUCKET_ROLES.map((r) => [r, pulumi.output(this.buckets[r])])) as Record<
        BucketRole,
        pulumi.Output<string>
      >,
    };
    // Both services live in the data namespace: clients may reach it on their ports only.
    const toData = (port: number): EgressRule[] => [
      {
        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": dataNs } } }],
        ports: [{ protocol: "TCP", port }],
      },
    ];
    this.egressTargets = {
      objectStore: pulumi.output(toData(S3_HTTPS_PORT)),
      postgres: pulumi.output(toData(POSTGRES_PORT)),
    };
    this.storageClasses = { default: args.storageClass };
    this.gpuPools = gpuPlacements(args.gpuPools ?? []);
    this.registryMirrors = pulumi.output({ ...(args.registryMirrors ?? {}) });
    this.chartMirror = args.chartMirror;
    this.lbAnnotations = args.loadBalancerAnnotations ?? {};
    this.ready = [
      ...policies,
      this.store.release,
      this.store.bucketJob,
      this.postgres.cluster,
      ...Object.values(this.postgres.databases).filter((d): d is k8s.apiextensions.CustomResource => !!d),
    ];
    this.registerOutputs({ endpoint: this.store.endpoint, postgresHost: this.postgres.host });
  }

  loadBalancerAnnotations(exposure: LoadBalancerExposure): Readonly<Record<string, string>> {
    return clusterLoadBalancerAnnotations(this.lbAnnotations, exposure);
  }

  /**
   * The object-store side of a workload's binding: its key pair (a child of the store) and its
   * identity in the store's config. Done once per name: `bindWorkload` reuses what the component
   * package's `ClusterSubstrate` registered up front (component-package/substrates.ts).
   */
  registerWorkload(name: string, req: Omit<WorkloadRequest, "namespace">): RegisteredWorkload {
    const done = this.registered.get(name);
    if (done) return done;
    const scopes = workloadScopes(req.kind, req.team, req.readModels);
    // Keys belong to the substrate: the caller's component waits for `ready` (the object
    // store), and the store's identity config needs these keys, so they must not be children
    // of the caller.
    const keys = newKeyPair(`${this.storeName}-${name}`, this.store);
    this.store.addIdentity({ name, ...keys, actions: identityActions(scopes, this.buckets) });
    const registered = { scopes, keys };
    this.registered.set(name, registered);
    return registered;
  }

  bindWorkload(name: string, req: WorkloadRequest, opts: pulumi.ComponentResourceOptions): WorkloadAccess {
    const { scopes, keys } = this.registerWorkload(name, req);
    return clusterWorkloadAccess(
      name,
      req,
      {
        scopes,
        keys,
        buckets: this.buckets,
        endpoint: this.store.endpoint,
        region: this.store.region,
        provider: this.provider,
        issuer: this.tls.issuer,
        tlsDependsOn: this.tls.dependsOn,
        storeReady: [this.store.bucketJob],
      },
      opts,
    );
  }

  connectPostgres(
    name: string,
    service: PostgresService,
    namespace: pulumi.Input<string>,
    opts: pulumi.ComponentResourceOptions,
  ): PostgresConnection {
    return this.postgres.connect(name, service, namespace, opts);
  }
}

/** A workload's object-store side, registered by {@link ExistingClusterSubstrate.registerWorkload}. */
export interface RegisteredWorkload {
  readonly scopes: readonly Scope[];
  readonly keys: { readonly accessKey: pulumi.Output<string>; readonly secretKey: pulumi.Output<string> };
}

/** What the workload side of a binding needs: plain data, the keys, and the cluster's provider. */
export interface ClusterWorkloadBinding extends RegisteredWorkload {
  readonly buckets: Readonly<Record<BucketRole, string>>;
  readonly endpoint: pulumi.Input<string>;
  readonly region: string;
  readonly provider: k8s.Provider;
  /** The data CA's issuer, which signs the object store's certificate. */
  readonly issuer: IssuerRef;
  /** What the workload's CA Certificate waits for (cert-manager and the data CA). */
  readonly tlsDependsOn: readonly pulumi.Resource[];
  /** What the workload waits for before it uses the store (its buckets). */
  readonly storeReady: readonly pulumi.Resource[];
}

/**
 * The workload side of a binding, in the workload's namespace: its ServiceAccount and key Secret
 * (`WorkloadCredentials`) and the Certificate whose Secret carries the data CA it verifies the
 * store with. Children of the caller (`opts`).
 */
export function clusterWorkloadAccess(
  name: string,
  req: WorkloadRequest,
  b: ClusterWorkloadBinding,
  opts: pulumi.ComponentResourceOptions,
): WorkloadAccess {
  const creds = new WorkloadCredentials(
    name,
    {
      namespace: req.namespace,
      serviceAccountName: req.serviceAccountName,
      scopes: b.scopes,
      buckets: b.buckets,
      endpoint: b.endpoint,
      region: b.region,
      keys: b.keys,
      provider: b.provider,
      labels: { "sovereign.ai/workload-kind": req.kind, ...(req.team ? { team: req.team } : {}) },
    },
    opts,
  );
  // The workload verifies the S3 API with `ca.crt` of this Certificate's Secret (the data CA).
  const cert = clientCertificate({
    name: `${req.serviceAccountName}-object-store`,
    namespace: "",
    secretName: objectStoreCaSecretName(req.serviceAccountName),
    commonName: name,
    issuer: b.issuer,
  });
  const certificate = new k8s.apiextensions.CustomResource(
    `${name}-object-store-certificate`,
    { ...cert, metadata: { ...cert.metadata, namespace: req.namespace } },
    { ...opts, provider: b.provider, dependsOn: [...toArray(opts.dependsOn), ...b.tlsDependsOn] },
  );
  return {
    serviceAccountName: creds.serviceAccount.metadata.name,
    env: pulumi.output([...creds.env, ...objectStoreCaEnv()]),
    scopes: b.scopes,
    dependsOn: [creds.serviceAccount, creds.secret, certificate, ...b.storeReady],
    caBundle: { secretName: pulumi.output(cert.spec.secretName as string), key: CA_CERT_KEY },
  };
}

/** The API server as NetworkPolicy peers: the given addresses, on its usual ports. */
export function clusterApiServerPeers(cidrs: readonly string[] | undefined): ApiServerPeers {
  // The `kubernetes` Service's port and the API server's usual port behind it (kubeadm, kind, k3s).
  return { peers: (cidrs ?? ["0.0.0.0/0"]).map((cidr) => ({ ipBlock: { cidr } })), ports: [443, 6443] };
}

/** No portable address of a cluster's nodes: any address (the scrape ports narrow it). */
export const CLUSTER_NODES: readonly Record<string, unknown>[] = [{ ipBlock: { cidr: "0.0.0.0/0" } }];

/** The annotations of a `LoadBalancer` Service: the configured ones, else the defaults. */
export function clusterLoadBalancerAnnotations(
  configured: ExistingClusterSubstrateArgs["loadBalancerAnnotations"],
  exposure: LoadBalancerExposure,
): Readonly<Record<string, string>> {
  return { ...(configured?.[exposure] ?? DEFAULT_EXISTING_CLUSTER_LB_ANNOTATIONS[exposure]) };
}

function toArray(d: pulumi.ComponentResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (d === undefined) return [];
  return Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
}
