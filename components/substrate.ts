/**
 * The substrate interface: everything the platform layer may know about where it runs.
 * The AWS substrate (EKS, S3, RDS, Pod Identity) and the existing-cluster substrate (any
 * Kubernetes, with an in-cluster object store and CloudNativePG) both provide it; the
 * platform layer consumes only this type and never branches on the cloud.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { FLYWHEEL_ROLE_PREFIX } from "./lib/contracts";
import type { RegistryMirrors } from "./lib/images";
import type { ApiServerPeers } from "./lib/network-policy";
import type { ChartMirror } from "./lib/versions";
import type { BucketRole, Scope, WorkloadKind } from "./lib/scopes";

export interface ObjectStore {
  /** S3 API endpoint URL reachable from pods: always `https://` (the contract test enforces it). */
  readonly endpoint: pulumi.Output<string>;
  /** Region to sign requests for. */
  readonly region: string;
  /** Whether clients must use path-style addressing (in-cluster servers usually do). */
  readonly forcePathStyle: boolean;
  /** Bucket name per role. */
  readonly buckets: Readonly<Record<BucketRole, pulumi.Output<string>>>;
}

/** A request for object-store (and cloud) credentials for one workload. */
export interface WorkloadRequest {
  readonly kind: WorkloadKind;
  /** Namespace the workload's pods run in. */
  readonly namespace: pulumi.Input<string>;
  /** ServiceAccount name the pods use; the substrate creates it. */
  readonly serviceAccountName: string;
  /** Owning team (training workloads are scoped per team). */
  readonly team?: string;
  /**
   * Key prefixes of the models bucket the workload reads. Training and flywheel: the base models
   * besides its team's prefix (`baseModelPrefixes`) @default [] (only the team's prefix); a model
   * server: all it reads (`modelServerPrefixes`: weights, adapters, flywheel adapters), required.
   */
  readonly readModels?: readonly string[];
}

/** What a workload's pods need to reach object storage with exactly its scopes. */
export interface WorkloadAccess {
  /** ServiceAccount created for the workload (with any identity annotations). */
  readonly serviceAccountName: pulumi.Output<string>;
  /** Environment for S3 clients (endpoint, region and, in-cluster, secret-backed keys). */
  readonly env: pulumi.Output<k8s.types.input.core.v1.EnvVar[]>;
  /** The scopes the credentials carry (from `workloadScopes`). */
  readonly scopes: readonly Scope[];
  /** Resources the workload must wait for (role, association, secret). */
  readonly dependsOn: readonly pulumi.Resource[];
  /**
   * The CA the object store's certificate chains to, where it is not a public one (in-cluster):
   * `key` of a Secret in the workload's namespace. The workload mounts it with
   * `objectStoreCaMounts` (components/lib/trust.ts), where `env` already points S3 clients
   * (`AWS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`). Undefined: the system's CAs (AWS).
   */
  readonly caBundle?: { readonly secretName: pulumi.Output<string>; readonly key: string };
}

/** Where a service finds the CA bundle of its Postgres server, in its own namespace. */
export type PostgresRootCert =
  | { readonly configMapName: pulumi.Output<string>; readonly key: string }
  | { readonly secretName: pulumi.Output<string>; readonly key: string };

/** How a service reaches Postgres. */
export interface PostgresConnection {
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly database: string;
  /**
   * Kubernetes Secret (in the requested namespace) with keys `username` and `password`. Absent
   * when the service logs in with its workload identity instead ({@link iamAuth}).
   */
  readonly secretName?: pulumi.Output<string>;
  /**
   * Set when the service logs in with an IAM token its workload identity signs, fresh for every
   * connection (RDS IAM authentication): the role to log in as. No password exists.
   */
  readonly iamAuth?: { readonly user: string };
  /**
   * libpq sslmode the service must use: always `verify-full` (the contract test enforces it),
   * so a client checks that the server's certificate chains to `rootCert` and names `host`.
   */
  readonly sslMode: "verify-full";
  /**
   * The CA bundle (PEM) the server's certificate chains to, at `key` of a ConfigMap (AWS: the
   * pinned RDS bundle) or of a Secret (in-cluster: `ca.crt` of a cert-manager Certificate's
   * Secret) in the requested namespace; the service points `PGSSLROOTCERT` at it.
   */
  readonly rootCert: PostgresRootCert;
  readonly dependsOn: readonly pulumi.Resource[];
}

/**
 * Services with a Postgres login. Training jobs have none: the trainer reads and writes only
 * object storage, and one login per team would be one shared role per cluster (issue 16).
 * `fw-<team>` (`flywheelRoleOf`, lib/contracts.ts) is one team's registry writer (docs/flywheel.md):
 * a login in the GATEWAY's database (the registry's schema lives there; it has no database of
 * its own), created only for a team with the flywheel on and delivered only to that team's
 * namespace; the gateway grants it its rights (`flywheelWriterGrants`), and row-level security
 * limits it to its team's rows.
 */
export type PostgresService = "gateway" | `fw-${string}`;

/** The database a service's login connects to: its own, except a flywheel writer's (the gateway's). */
export function postgresDatabaseOf(service: PostgresService): string {
  return service.startsWith(FLYWHEEL_ROLE_PREFIX) ? "gateway" : service;
}

/** Scheduling for one GPU pool. */
export interface GpuPlacement {
  readonly gpuType: string;
  readonly gpusPerNode: number;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly k8s.types.input.core.v1.Toleration[];
  readonly capacityType: "on-demand" | "spot";
}

/** One NetworkPolicy egress rule as plain data: the peers (`to`) and the ports. */
export interface EgressRule {
  readonly to: readonly Record<string, unknown>[];
  readonly ports: readonly { readonly protocol: "TCP" | "UDP"; readonly port: number }[];
}

/**
 * What pods need to reach the substrate's services, and nothing more: on AWS the S3 prefix
 * list of the region (through the VPC's gateway endpoint) plus the Pod Identity agent, and the
 * database subnets; in-cluster the data namespace. Platform components build their egress
 * NetworkPolicies from these instead of opening a port to every address.
 */
export interface EgressTargets {
  /** Rules reaching the object store (including the workload-credential endpoint it needs). */
  readonly objectStore: pulumi.Output<EgressRule[]>;
  /** Rules reaching Postgres. */
  readonly postgres: pulumi.Output<EgressRule[]>;
}

/** Who may reach a `LoadBalancer` Service: the private network only, or the internet. */
export type LoadBalancerExposure = "internal" | "public";

export interface Substrate {
  /** For outputs and docs only: the platform layer must not branch on it. */
  readonly kind: "aws" | "existing-cluster";
  /** Provider for the target cluster. */
  readonly provider: k8s.Provider;
  readonly objectStore: ObjectStore;
  /** Egress rules to the substrate's services (see {@link EgressTargets}). */
  readonly egressTargets: EgressTargets;
  /**
   * The Kubernetes API server as NetworkPolicy peers: where controllers reach it, and where its
   * webhook calls come from. Default-deny namespaces of charts allow exactly these.
   */
  readonly apiServer: ApiServerPeers;
  /**
   * Where the cluster's nodes are, as NetworkPolicy peers: the kubelets and the host-network
   * pods (node-exporter) that Prometheus scrapes.
   */
  readonly nodes: readonly Record<string, unknown>[];
  /** Storage classes: `default` for general volumes. */
  readonly storageClasses: { readonly default: string };
  /** GPU placement per configured pool name. */
  readonly gpuPools: Readonly<Record<string, GpuPlacement>>;
  /**
   * Registry mirror prefix per upstream registry host, for every image pods in this cluster
   * pull: the configured mirrors, plus the ECR pull-through caches when an AWS VPC has no
   * internet egress. Platform components rewrite each image with `mirrorImage`.
   */
  readonly registryMirrors: pulumi.Output<RegistryMirrors>;
  /**
   * Where the third-party Helm charts come from when their repositories are not reachable
   * (`chartMirror` in the config): an OCI registry prefix or a directory of packaged charts.
   * Undefined: each chart's upstream repository. Platform components pass it to `chartSource`.
   */
  readonly chartMirror: ChartMirror | undefined;
  /**
   * cert-manager, when the substrate installed it for its own certificates (the existing-cluster
   * substrate does, for Postgres and the object store): the platform installs no second release
   * and waits for these instead. Undefined: the platform installs cert-manager where it needs it.
   */
  readonly certManager?: { readonly ready: readonly pulumi.Resource[] };
  /**
   * Resources the platform layer depends on, so destroy removes the platform (and its
   * load balancers and ENIs) before the substrate underneath.
   */
  readonly ready: readonly pulumi.Resource[];
  /**
   * Annotations a `LoadBalancer` Service needs on this substrate's load-balancer controller to
   * be internal or public. The platform never writes a cloud's annotation itself.
   */
  loadBalancerAnnotations(exposure: LoadBalancerExposure): Readonly<Record<string, string>>;
  /** Creates the ServiceAccount and credentials of one workload. */
  bindWorkload(name: string, req: WorkloadRequest, opts: pulumi.ComponentResourceOptions): WorkloadAccess;
  /**
   * Creates the Postgres login of a service: a Secret holding it in `namespace`, or (where the
   * substrate logs services in with their workload identity) the right of `client`, the
   * service's own `bindWorkload` result, to log in as its role.
   */
  connectPostgres(
    name: string,
    service: PostgresService,
    namespace: pulumi.Input<string>,
    opts: pulumi.ComponentResourceOptions,
    client?: WorkloadAccess,
  ): PostgresConnection;
}
