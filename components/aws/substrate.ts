/**
 * The AWS substrate: customer keys, a private network, a GPU-ready EKS cluster with Karpenter,
 * S3 buckets and RDS Postgres, exposed to the platform layer only through the `Substrate`
 * interface. Workloads get IAM roles through EKS Pod Identity scoped by `workloadScopes`;
 * services get a Postgres login whose password is a Pulumi secret.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { mirrorImage, type RegistryMirrors } from "../lib/images";
import { workloadScopes, type Expiration } from "../lib/scopes";
import type { ChartMirror } from "../lib/versions";
import type {
  EgressRule,
  EgressTargets,
  GpuPlacement,
  LoadBalancerExposure,
  ObjectStore,
  PostgresConnection,
  PostgresService,
  Substrate,
  WorkloadAccess,
  WorkloadRequest,
} from "../substrate";
import { postgresDatabaseOf } from "../substrate";
import { Eks, type SystemNodes } from "./eks";
import { policyJson, type Tags } from "./common";
import { Database, databaseIdentifier, rdsCaBundle, rdsConnectStatement } from "./database";
import { WorkloadIdentity } from "./identity";
import { Karpenter, type GpuPoolArgs } from "./karpenter";
import { Keys } from "./keys";
import { Network, type Egress } from "./network";
import { POSTGRES_CA_KEY, PostgresLogin } from "./postgres-login";
import { pullThroughMirrors } from "./registries";
import { ObjectStorage } from "./storage";
import { dnsEgressRule, type ApiServerPeers } from "../lib/network-policy";
import { formatCidr, parseCidr } from "../lib/cidr";
import { SERVICE_CIDR } from "./layout";

/**
 * Load balancers through the service controller that EKS runs in its control plane: a Network
 * Load Balancer in the cluster's subnets (tagged `kubernetes.io/role/internal-elb`, or
 * `kubernetes.io/role/elb` for public ones), internal unless public. No AWS Load Balancer
 * Controller is needed (it would also need the `elasticloadbalancing` endpoint without egress).
 */
export function awsLoadBalancerAnnotations(exposure: LoadBalancerExposure): Record<string, string> {
  return {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    ...(exposure === "internal" ? { "service.beta.kubernetes.io/aws-load-balancer-internal": "true" } : {}),
  };
}

/** The environment of a workload's S3 clients on AWS (credentials come from Pod Identity). */
export function awsWorkloadEnv(region: string): { name: string; value: string }[] {
  return [
    { name: "AWS_REGION", value: region },
    { name: "AWS_DEFAULT_REGION", value: region },
  ];
}

/** Address of the EKS Pod Identity agent on every node (credentials for S3 clients). */
export const POD_IDENTITY_AGENT = { cidr: "169.254.170.23/32", port: 80 } as const;

/**
 * Egress to the services of the AWS substrate: S3 through the VPC's gateway endpoint (the
 * region's S3 prefix list, HTTPS only) plus the Pod Identity agent that hands out the
 * workload's credentials, and Postgres in the database subnets. Nothing else in the VPC or on
 * the internet.
 */
export function awsEgressTargets(
  s3Cidrs: pulumi.Input<string[]>,
  databaseSubnets: readonly string[],
  databasePort: number = DEFAULT_POSTGRES_PORT,
): EgressTargets {
  const ip = (cidr: string) => ({ ipBlock: { cidr } });
  return {
    objectStore: pulumi.output(s3Cidrs).apply((cidrs): EgressRule[] => {
      if (cidrs.length === 0)
        throw new Error("expected the CIDRs of the region's S3 prefix list, found none");
      return [
        { to: [...cidrs].sort().map(ip), ports: [{ protocol: "TCP", port: 443 }] },
        { to: [ip(POD_IDENTITY_AGENT.cidr)], ports: [{ protocol: "TCP", port: POD_IDENTITY_AGENT.port }] },
      ];
    }),
    postgres: pulumi.output([
      { to: databaseSubnets.map(ip), ports: [{ protocol: "TCP" as const, port: databasePort }] },
    ]),
  };
}

/**
 * The EKS API server as NetworkPolicy peers: the control plane's network interfaces, which EKS
 * places in the cluster's (private) subnets and which its webhook calls come from, and the
 * `kubernetes` Service's address (the first of the service range), for network policy
 * engines that match before the Service's translation. Port 443 on both.
 */
export function awsApiServerPeers(
  privateSubnets: readonly string[],
  serviceCidr: string = SERVICE_CIDR,
): ApiServerPeers {
  const svc = parseCidr(serviceCidr);
  if (!svc) throw new Error(`expected the cluster service CIDR, found "${serviceCidr}"`);
  const kubernetesService = formatCidr({ base: (svc.base + 1) >>> 0, prefix: 32 });
  return {
    peers: [...privateSubnets, kubernetesService].map((cidr) => ({ ipBlock: { cidr } })),
    ports: [443],
  };
}

/**
 * NetworkPolicies of the substrate's namespace: default-deny both ways, then DNS and Postgres
 * (the database subnets, on the database's port) for the login Jobs.
 */
export function substrateNetworkPolicies(
  databaseSubnets: readonly string[],
  databasePort: number = DEFAULT_POSTGRES_PORT,
): k8s.types.input.networking.v1.NetworkPolicy[] & { metadata: { name: string } }[] {
  const meta = (name: string) => ({
    name,
    namespace: SUBSTRATE_NAMESPACE,
    labels: { "app.kubernetes.io/part-of": "sovereign", "app.kubernetes.io/name": "substrate" },
  });
  return [
    { metadata: meta("default-deny"), spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    {
      metadata: meta("allow-dns"),
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [dnsEgressRule()],
      },
    },
    {
      metadata: meta("allow-postgres"),
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: databaseSubnets.map((cidr) => ({ ipBlock: { cidr } })),
            ports: [{ protocol: "TCP", port: databasePort }],
          },
        ],
      },
    },
  ];
}

/** PostgreSQL's default port; `database.port` moves the RDS instance off it (FSBP RDS.23). */
export const DEFAULT_POSTGRES_PORT = 5432;

/** Namespace of the substrate's own in-cluster objects (the Postgres login jobs). */
export const SUBSTRATE_NAMESPACE = "sovereign-substrate";

export interface AwsSubstrateArgs {
  readonly region: string;
  /** EKS cluster name; also prefixes account-unique names (log groups, key aliases, DB identifier). */
  readonly clusterName: string;
  readonly accountId: pulumi.Input<string>;
  readonly partition: pulumi.Input<string>;
  /** AZ names of the region, at least `network.azCount`. */
  readonly azNames: pulumi.Input<string[]>;
  readonly tags: Tags;
  /** Protect data stores (buckets, RDS, keys) and retain them on delete. */
  readonly protectData: boolean;
  /** Karpenter controller replicas. */
  readonly karpenterReplicas: number;
  readonly network: {
    readonly cidr: string;
    readonly azCount: number;
    readonly egress: Egress;
    readonly natPerAz: boolean;
    readonly publicLoadBalancer: boolean;
    /** Upstream registry credentials for ECR pull-through, by registry. @default {} */
    readonly registryCredentialArns?: Readonly<Record<string, string>>;
  };
  readonly eks: {
    readonly version: string;
    readonly endpointPublicAccess: boolean;
    readonly publicAccessCidrs: readonly string[];
    readonly adminRoleArns: readonly string[];
    /** Team members' roles, each mapped to its team's Kubernetes group (eks.ts). @default [] */
    readonly teamRoles?: readonly { readonly roleArn: string; readonly group: string }[];
    readonly systemNodes: SystemNodes;
    /** Refuse a wide public endpoint allowlist. */
    readonly narrowEndpointAllowlist: boolean;
    /** Reclaim policy of the default StorageClass. */
    readonly storageReclaimPolicy: "Retain" | "Delete";
  };
  readonly gpuPools: readonly GpuPoolArgs[];
  readonly storage: {
    readonly bucketPrefix: string;
    readonly forceDestroy: boolean;
    readonly objectLock: boolean;
    readonly noncurrentVersionDays: number;
    /** Objects that expire under a prefix (the flywheel's retention). @default none */
    readonly expirations?: readonly Expiration[];
  };
  readonly database: {
    readonly version: string;
    readonly instanceClass: string;
    readonly storageGiB: number;
    readonly backupRetentionDays: number;
    readonly multiAz: boolean;
    /** Enhanced monitoring interval, seconds; 0 is off. @default 0 */
    readonly enhancedMonitoringSeconds?: 0 | 1 | 5 | 10 | 15 | 30 | 60;
    /** Port the instance listens on (FSBP RDS.23). @default 5432 */
    readonly port?: number;
    /**
     * Services log in with IAM tokens through their Pod Identity (`rds_iam`, no password, no
     * Secret); their role may `rds-db:connect` as their database user only. @default false
     */
    readonly iamAuth?: boolean;
  };
  /**
   * Images pulled from upstream registries (not from a configured mirror): with egress
   * `private` each of their registries gets an ECR pull-through cache rule. @default []
   */
  readonly images?: readonly string[];
  /**
   * Configured registry mirrors (upstream host → prefix); they win over the ECR pull-through
   * prefixes the substrate adds without internet egress. @default {}
   */
  readonly registryMirrors?: RegistryMirrors;
  /** Image of the Postgres login job. */
  readonly postgresClientImage: string;
  /** Where the third-party charts come from when their repositories are not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
}

export class AwsSubstrate extends pulumi.ComponentResource implements Substrate {
  readonly kind = "aws" as const;
  readonly provider: k8s.Provider;
  readonly objectStore: ObjectStore;
  readonly egressTargets: EgressTargets;
  readonly apiServer: ApiServerPeers;
  readonly nodes: readonly Record<string, unknown>[];
  readonly storageClasses: { readonly default: string };
  readonly gpuPools: Readonly<Record<string, GpuPlacement>>;
  readonly ready: readonly pulumi.Resource[];
  readonly keys: Keys;
  readonly network: Network;
  readonly eks: Eks;
  readonly karpenter: Karpenter;
  readonly storage: ObjectStorage;
  readonly database: Database;
  readonly registryMirrors: pulumi.Output<RegistryMirrors>;
  readonly chartMirror: ChartMirror | undefined;
  private readonly args: AwsSubstrateArgs;
  /** The login job's image, through the ECR cache when there is no egress. */
  private readonly postgresImage: pulumi.Output<string>;
  private readonly namespace: k8s.core.v1.Namespace;
  /**
   * The login of each connected service: a second one would be the same Job and Secret (a shared
   * one is delivered to further namespaces instead).
   */
  private readonly logins = new Map<PostgresService, PostgresLogin>();
  /** The identity behind each `bindWorkload` result (IAM authentication grants its role). */
  private readonly identities = new WeakMap<WorkloadAccess, WorkloadIdentity>();

  constructor(name: string, args: AwsSubstrateArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Substrate", name, {}, opts);
    this.args = args;
    const p = { parent: this };
    const tags = { ...args.tags };
    const images = args.images ?? [];
    const ecrHost = pulumi.interpolate`${args.accountId}.dkr.ecr.${args.region}.amazonaws.com`;
    const isolated = args.network.egress === "private";

    this.keys = new Keys(
      `${name}-keys`,
      {
        accountId: args.accountId,
        partition: args.partition,
        region: args.region,
        tags,
        protectData: args.protectData,
        aliasPrefix: args.clusterName,
      },
      p,
    );
    this.network = new Network(
      `${name}-network`,
      {
        ...args.network,
        azNames: args.azNames,
        region: args.region,
        clusterName: args.clusterName,
        logsKeyArn: this.keys.arns.logs,
        tags,
        pullThroughImages: images,
      },
      p,
    );
    this.eks = new Eks(
      `${name}-cluster`,
      {
        ...args.eks,
        clusterName: args.clusterName,
        region: args.region,
        accountId: args.accountId,
        partition: args.partition,
        vpcId: this.network.vpcId,
        privateSubnetIds: this.network.privateSubnetIds,
        secretsKeyArn: this.keys.arns.eks,
        ebsKeyArn: this.keys.arns.ebs,
        logsKeyArn: this.keys.arns.logs,
        tags,
        dependsOn: this.network.ready,
        pullThroughPrefixes: this.network.pullThrough.rules.map((r) => r.prefix),
      },
      p,
    );
    this.provider = this.eks.provider;
    const cached = this.network.pullThrough.rules.map((r) => r.registry);
    this.chartMirror = args.chartMirror;
    this.registryMirrors = ecrHost.apply((host) => ({
      ...(isolated ? pullThroughMirrors(host, cached) : {}),
      ...(args.registryMirrors ?? {}),
    }));
    this.karpenter = new Karpenter(
      `${name}-karpenter`,
      {
        clusterName: args.clusterName,
        cluster: this.eks.cluster,
        clusterSecurityGroupId: this.eks.clusterSecurityGroupId,
        privateSubnetIds: this.network.privateSubnetIds,
        ebsKeyArn: this.keys.arns.ebs,
        queueKeyArn: this.keys.arns.logs,
        region: args.region,
        accountId: args.accountId,
        partition: args.partition,
        provider: this.provider,
        pools: args.gpuPools,
        tags,
        replicas: args.karpenterReplicas,
        isolatedVpc: isolated,
        registryMirrors: this.registryMirrors,
        chartMirror: args.chartMirror,
        dependsOn: this.eks.ready,
        pullThroughPrefixes: this.network.pullThrough.rules.map((r) => r.prefix),
      },
      p,
    );
    this.storage = new ObjectStorage(
      `${name}-storage`,
      {
        ...args.storage,
        kmsKeyArn: this.keys.arns.s3,
        accountId: args.accountId,
        protectData: args.protectData,
        tags,
      },
      p,
    );
    this.database = new Database(
      `${name}-database`,
      {
        identifier: databaseIdentifier(args.clusterName),
        ...args.database,
        vpcId: this.network.vpcId,
        subnetIds: this.network.databaseSubnetIds,
        clientSecurityGroupId: this.eks.clusterSecurityGroupId,
        kmsKeyArn: this.keys.arns.rds,
        protectData: args.protectData,
        tags,
      },
      p,
    );
    this.namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: SUBSTRATE_NAMESPACE,
          labels: {
            "app.kubernetes.io/part-of": "sovereign",
            "pod-security.kubernetes.io/enforce": "restricted",
          },
        },
      },
      { ...p, provider: this.provider, dependsOn: this.eks.ready },
    );

    // The login Jobs hold the master credentials: they reach DNS and the database subnets,
    // nothing reaches them.
    const nsOpts = { parent: this, provider: this.provider, dependsOn: [this.namespace] };
    for (const np of substrateNetworkPolicies(this.network.layout.database, args.database.port)) {
      new k8s.networking.v1.NetworkPolicy(`${name}-np-${np.metadata.name}`, np, nsOpts);
    }

    this.objectStore = {
      endpoint: pulumi.output(`https://s3.${args.region}.amazonaws.com`),
      region: args.region,
      forcePathStyle: false,
      buckets: this.storage.bucketNames,
    };
    this.egressTargets = awsEgressTargets(
      aws.ec2
        .getPrefixListOutput({ name: `com.amazonaws.${args.region}.s3` }, { parent: this })
        .apply((l) => l.cidrBlocks),
      this.network.layout.database,
      args.database.port,
    );
    this.apiServer = awsApiServerPeers(this.network.layout.private);
    // Every node (managed group and Karpenter's) runs in the private subnets.
    this.nodes = this.network.layout.private.map((cidr) => ({ ipBlock: { cidr } }));
    this.storageClasses = { default: this.eks.storageClassName };
    this.gpuPools = this.karpenter.placements;
    this.ready = [...this.eks.ready, ...this.karpenter.ready];
    this.postgresImage = this.registryMirrors.apply((m) => mirrorImage(args.postgresClientImage, m));
    this.registerOutputs({ clusterName: this.eks.clusterName });
  }

  loadBalancerAnnotations(exposure: LoadBalancerExposure): Readonly<Record<string, string>> {
    return awsLoadBalancerAnnotations(exposure);
  }

  /**
   * The caller's options plus this substrate's AWS provider: the resources of a workload are
   * parented to the caller, which does not carry it, and would otherwise fall back to the
   * default provider (no validated region, no default tags).
   */
  private withAwsProvider(opts: pulumi.ComponentResourceOptions): pulumi.ComponentResourceOptions {
    const aws = this.getProvider("aws::");
    if (!aws) return opts;
    const providers = Array.isArray(opts.providers)
      ? [...opts.providers, aws]
      : { ...(opts.providers ?? {}), aws };
    return { ...opts, providers };
  }

  /** The IAM side of a workload's binding: its role (scopes), policy and Pod Identity association. */
  private identity(
    name: string,
    req: Omit<WorkloadRequest, "namespace"> & { readonly namespace: pulumi.Input<string> },
    serviceAccount: boolean,
    opts: pulumi.ComponentResourceOptions,
  ): WorkloadIdentity {
    return new WorkloadIdentity(
      name,
      {
        clusterName: this.eks.clusterName,
        namespace: req.namespace,
        serviceAccountName: req.serviceAccountName,
        scopes: workloadScopes(req.kind, req.team, req.readModels),
        bucketArns: this.storage.bucketArns,
        kmsKeyArn: this.keys.arns.s3,
        accountId: this.args.accountId,
        region: this.args.region,
        provider: this.provider,
        tags: this.args.tags,
        serviceAccount,
      },
      opts,
    );
  }

  /**
   * The AWS side of a workload's binding, registered up front by the component package's
   * `AwsSubstrate` (component-package/aws-handle.ts): the role, its policy and the Pod Identity
   * association for the ServiceAccount `req.serviceAccountName` in `req.namespace`, under the
   * names `bindWorkload` gives them; the workload's part creates only the ServiceAccount.
   */
  registerWorkload(
    name: string,
    req: Omit<WorkloadRequest, "namespace"> & { readonly namespace: string },
  ): WorkloadIdentity {
    return this.identity(name, req, false, { parent: this });
  }

  bindWorkload(name: string, req: WorkloadRequest, opts: pulumi.ComponentResourceOptions): WorkloadAccess {
    const scopes = workloadScopes(req.kind, req.team, req.readModels);
    const identity = this.identity(name, req, true, this.withAwsProvider(opts));
    const access: WorkloadAccess = {
      serviceAccountName: identity.serviceAccount!.metadata.name,
      env: pulumi.output(awsWorkloadEnv(this.args.region)),
      scopes,
      dependsOn: identity.ready,
    };
    this.identities.set(access, identity);
    return access;
  }

  /**
   * The login of `service` (the role, its Job, its password) and, with IAM authentication, the
   * right of `identity`'s role to log in as it (`<name>-rds-connect`, a child of `parent`);
   * delivered to `namespace` unless undefined.
   */
  private login(
    name: string,
    service: PostgresService,
    namespace: pulumi.Input<string> | undefined,
    opts: pulumi.ComponentResourceOptions,
    parent: pulumi.Resource | undefined,
    identity: WorkloadIdentity | undefined,
  ): { login: PostgresLogin; connect: aws.iam.RolePolicy | undefined } {
    // The login Job and its Secret are named after the service in this substrate's namespace,
    // and the role is one per database: a second login would overwrite the first one's password.
    // Each team's flywheel writer is a service of its own (`fw-<team>`), connected once,
    // from its team's namespace only.
    if (this.logins.has(service))
      throw new Error(`expected one Postgres login per service, found a second one for "${service}"`);
    const iamAuth = this.args.database.iamAuth ?? false;
    if (iamAuth && !identity)
      throw new Error(
        `expected the workload identity of "${service}" (its bindWorkload result) to grant it IAM authentication to Postgres, found none`,
      );
    const login = new PostgresLogin(
      name,
      {
        service,
        namespace,
        jobNamespace: this.namespace.metadata.name,
        host: this.database.host,
        port: this.database.port,
        masterSecretArn: this.database.masterSecretArn,
        kmsKeyArn: this.keys.arns.rds,
        provider: this.provider,
        image: this.postgresImage,
        tags: this.args.tags,
        caBundle: rdsCaBundle(this.args.region),
        iamAuth,
        database: postgresDatabaseOf(service),
      },
      opts,
    );
    this.logins.set(service, login);
    // The service's own role may log in as its database user, and as no other.
    const connect =
      iamAuth && identity
        ? new aws.iam.RolePolicy(
            `${name}-rds-connect`,
            {
              role: identity.role.id,
              policy: policyJson([
                rdsConnectStatement({
                  partition: this.args.partition,
                  region: this.args.region,
                  accountId: this.args.accountId,
                  resourceId: this.database.resourceId,
                  user: service,
                }),
              ]),
            },
            { parent, provider: this.getProvider("aws::") },
          )
        : undefined;
    return { login, connect };
  }

  /**
   * A service's login registered up front by the component package's `AwsSubstrate`: the role,
   * its Job and password and, with IAM authentication, `client`'s right to log in as it (the
   * identity {@link registerWorkload} returned), under the names `connectPostgres` gives them;
   * the service's part delivers the CA bundle (and the password) to its namespace.
   */
  registerPostgresLogin(
    name: string,
    service: PostgresService,
    client: WorkloadIdentity | undefined,
  ): { login: PostgresLogin; ready: pulumi.Resource[] } {
    const { login, connect } = this.login(name, service, undefined, { parent: this }, this, client);
    return { login, ready: [...login.ready, ...(connect ? [connect] : [])] };
  }

  connectPostgres(
    name: string,
    service: PostgresService,
    namespace: pulumi.Input<string>,
    opts: pulumi.ComponentResourceOptions,
    client?: WorkloadAccess,
  ): PostgresConnection {
    const identity = client ? this.identities.get(client) : undefined;
    const iamAuth = this.args.database.iamAuth ?? false;
    const { login, connect } = this.login(
      name,
      service,
      namespace,
      this.withAwsProvider(opts),
      opts.parent,
      identity,
    );
    return {
      host: this.database.host,
      port: this.database.port,
      database: postgresDatabaseOf(service),
      ...(iamAuth ? { iamAuth: { user: service } } : { secretName: login.secretName! }),
      sslMode: "verify-full",
      rootCert: { configMapName: login.caConfigMapName!, key: POSTGRES_CA_KEY },
      dependsOn: [...login.ready, ...(connect ? [connect] : [])],
    };
  }
}
