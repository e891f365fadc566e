/**
 * PostgreSQL through the CloudNativePG operator (pinned chart): one `Cluster` with TLS-only
 * client access, serving a certificate from the stack's data CA (cert-manager, `tls.ts`) so
 * clients connect with `sslmode=verify-full`, one login role and one database per service
 * (managed roles and `Database` resources), PodDisruptionBudgets from the operator when there is
 * more than one instance, and scheduled backups to the object store when asked for.
 */
import { FLYWHEEL_WRITER_CONNECTION_LIMIT } from "../lib/contracts";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { formerType } from "../lib/aliases";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import { mirrorImage, type RegistryMirrors } from "../lib/images";
import { k8sLabels } from "../lib/labels";
import { CHARTS, type ChartMirror, type ChartRef, chartSource } from "../lib/versions";
import type { CertManagerObject, IssuerRef } from "../platform/cert-manager";
import { postgresDatabaseOf, type PostgresConnection, type PostgresService } from "../substrate";
import { CA_CERT_KEY, clientCertificate, serviceDnsNames, servingCertificate } from "./tls";

export const CNPG_API_VERSION = "postgresql.cnpg.io/v1";
export const POSTGRES_PORT = 5432;

/** Client authentication: TLS connections with SCRAM passwords only; anything else is rejected. */
export const PG_HBA = ["hostnossl all all all reject", "hostssl all all all scram-sha-256"];

/** Keys of the barman object-store credentials Secret. */
export const BACKUP_ACCESS_KEY = "ACCESS_KEY_ID";
export const BACKUP_SECRET_KEY = "ACCESS_SECRET_KEY";

/** A CloudNativePG custom resource as the kit renders it. */
export interface CnpgObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
  };
  readonly spec: Record<string, unknown>;
}

export interface PostgresBackup {
  /** S3 endpoint URL. */
  readonly endpoint: string;
  /** The Secret (in the cluster's namespace) and key of the CA the endpoint's certificate chains to. */
  readonly endpointCa?: { readonly secretName: string; readonly key: string };
  readonly bucket: string;
  readonly retentionDays: number;
  readonly accessKey: pulumi.Output<string>;
  readonly secretKey: pulumi.Output<string>;
  /** Six-field cron (seconds first), in UTC. @default "0 0 2 * * *" (02:00 daily) */
  readonly schedule?: string;
}

export interface ClusterSpecInput {
  readonly name: string;
  readonly namespace: string;
  readonly instances: number;
  readonly image: string;
  readonly storageGiB: number;
  readonly storageClass: string;
  readonly services: readonly PostgresService[];
  readonly backup?: {
    readonly endpoint: string;
    readonly endpointCa?: { readonly secretName: string; readonly key: string };
    readonly bucket: string;
    readonly retentionDays: number;
  };
}

/** Name of the basic-auth Secret (in the cluster's namespace) holding a service's login. */
export function loginSecretName(cluster: string, service: PostgresService): string {
  return `${cluster}-${service}-login`;
}

export function backupSecretName(cluster: string): string {
  return `${cluster}-backup-s3`;
}

/** The read-write Service CloudNativePG creates for the primary. */
export function primaryHost(cluster: string, namespace: string): string {
  return `${cluster}-rw.${namespace}.svc.cluster.local`;
}

/** The Secret (kubernetes.io/tls, with `ca.crt`) of the server's certificate. */
export function serverTlsSecretName(cluster: string): string {
  return `${cluster}-server-tls`;
}

/**
 * The server's Certificate: every name of the read-write, read-only and any-instance Services
 * CloudNativePG creates (`<cluster>-rw`, `-ro`, `-r`), from the stack's data CA. Its Secret is
 * labelled for CloudNativePG to reload the instances when cert-manager renews it.
 */
export function postgresServerCertificate(
  cluster: string,
  namespace: string,
  issuer: IssuerRef,
): CertManagerObject {
  return servingCertificate({
    name: `${cluster}-server`,
    namespace,
    secretName: serverTlsSecretName(cluster),
    dnsNames: ["rw", "ro", "r"].flatMap((s) => serviceDnsNames(`${cluster}-${s}`, namespace)),
    issuer,
    secretLabels: { "cnpg.io/reload": "true" },
  });
}

/** Name of the Secret (in a client's namespace) with a service's login (`username`, `password`). */
export function clientLoginSecretName(service: PostgresService): string {
  return `${service}-postgres`;
}

/** Name of the Secret (in a client's namespace) whose `ca.crt` the service verifies Postgres with. */
export function clientTlsSecretName(service: PostgresService): string {
  return `${service}-postgres-tls`;
}

/** The Certificate in a client's namespace (common name: the service's role) carrying the CA. */
export function postgresClientCertificate(
  service: PostgresService,
  namespace: string,
  issuer: IssuerRef,
): CertManagerObject {
  return clientCertificate({
    name: `${service}-postgres-client`,
    namespace,
    secretName: clientTlsSecretName(service),
    commonName: service,
    issuer,
  });
}

/** The `Cluster` custom resource. */
export function clusterObject(c: ClusterSpecInput): CnpgObject {
  if (c.instances < 1) throw new Error(`expected at least 1 Postgres instance, found ${c.instances}`);
  if (c.services.length === 0) throw new Error("expected at least one Postgres service, found none");
  const ha = c.instances > 1;
  const first = c.services[0];
  const spec: Record<string, unknown> = {
    instances: c.instances,
    imageName: c.image,
    enableSuperuserAccess: false,
    // With one instance a PDB would block every node drain; with more the operator keeps one.
    enablePDB: ha,
    storage: { size: `${c.storageGiB}Gi`, storageClass: c.storageClass },
    resources: ha
      ? { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "2Gi" } }
      : { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
    postgresql: {
      parameters: ha
        ? { shared_buffers: "256MB", max_connections: "200" }
        : { shared_buffers: "64MB", max_connections: "50" },
      pg_hba: PG_HBA,
    },
    // The kit's certificate (cert-manager, the stack's ten-year data CA) instead of the
    // operator's self-signed 90-day CA: clients pin `ca.crt` of the same Secret.
    certificates: {
      serverTLSSecret: serverTlsSecretName(c.name),
      serverCASecret: serverTlsSecretName(c.name),
    },
    bootstrap: {
      initdb: { database: first, owner: first, secret: { name: loginSecretName(c.name, first) } },
    },
    managed: {
      roles: c.services.map((s) => ({
        name: s,
        ensure: "present",
        login: true,
        superuser: false,
        createdb: false,
        createrole: false,
        inherit: true,
        passwordSecret: { name: loginSecretName(c.name, s) },
        // A writer in another service's database (a team's fw-<team>) holds few connections.
        ...(postgresDatabaseOf(s) === s ? {} : { connectionLimit: FLYWHEEL_WRITER_CONNECTION_LIMIT }),
        comment: `sovereign ${s} service`,
      })),
    },
  };
  if (ha) {
    spec.affinity = {
      enablePodAntiAffinity: true,
      podAntiAffinityType: "required",
      topologyKey: "kubernetes.io/hostname",
    };
  }
  if (c.backup) {
    spec.backup = {
      retentionPolicy: `${c.backup.retentionDays}d`,
      barmanObjectStore: {
        destinationPath: `s3://${c.backup.bucket}/`,
        endpointURL: c.backup.endpoint,
        ...(c.backup.endpointCa
          ? { endpointCA: { name: c.backup.endpointCa.secretName, key: c.backup.endpointCa.key } }
          : {}),
        s3Credentials: {
          accessKeyId: { name: backupSecretName(c.name), key: BACKUP_ACCESS_KEY },
          secretAccessKey: { name: backupSecretName(c.name), key: BACKUP_SECRET_KEY },
        },
        wal: { compression: "gzip" },
        data: { compression: "gzip" },
      },
    };
  }
  return {
    apiVersion: CNPG_API_VERSION,
    kind: "Cluster",
    metadata: { name: c.name, namespace: c.namespace, labels: k8sLabels("postgres", c.name) },
    spec,
  };
}

/** A `Database` resource: the service's database, owned by its role. */
export function databaseObject(
  cluster: string,
  namespace: string,
  service: PostgresService,
  retain: boolean,
): CnpgObject {
  return {
    apiVersion: CNPG_API_VERSION,
    kind: "Database",
    metadata: { name: `${cluster}-${service}`, namespace, labels: k8sLabels("postgres", cluster) },
    spec: {
      name: service,
      owner: service,
      cluster: { name: cluster },
      ensure: "present",
      databaseReclaimPolicy: retain ? "retain" : "delete",
    },
  };
}

/** A `ScheduledBackup` to the cluster's barman object store. */
export function scheduledBackupObject(cluster: string, namespace: string, schedule: string): CnpgObject {
  if (schedule.trim().split(/\s+/).length !== 6) {
    throw new Error(`expected a six-field cron schedule (seconds first), found "${schedule}"`);
  }
  return {
    apiVersion: CNPG_API_VERSION,
    kind: "ScheduledBackup",
    metadata: { name: `${cluster}-daily`, namespace, labels: k8sLabels("postgres", cluster) },
    spec: {
      schedule,
      cluster: { name: cluster },
      backupOwnerReference: "self",
      method: "barmanObjectStore",
      immediate: true,
    },
  };
}

/** Values of the operator chart. */
export function operatorValues(mirrors: RegistryMirrors = {}): Record<string, unknown> {
  return withChartImages(
    {
      crds: { create: true },
      replicaCount: 1,
      config: { clusterWide: true },
      monitoring: { podMonitorEnabled: false },
      resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    },
    CHART_IMAGES.cloudnativePg,
    mirrors,
  );
}

export interface PostgresArgs {
  /** Namespace of the Postgres cluster (created by the caller). */
  readonly namespace: string;
  /** Namespace of the operator (created by the caller). */
  readonly operatorNamespace: string;
  readonly instances: number;
  /** Operand image (pinned per major version). */
  readonly image: string;
  /** Registry mirrors the operator and operand images are pulled through. @default {} */
  readonly registryMirrors?: RegistryMirrors;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
  readonly storageGiB: number;
  readonly storageClass: string;
  /**
   * Services that get a role (a CloudNativePG managed role) and, except a team's flywheel writer
   * `fw-<team>` (which logs in to the gateway's database), a database; the first one is created
   * at bootstrap.
   */
  readonly services: readonly PostgresService[];
  /** Protect the cluster from `pulumi destroy` and keep databases when their resource goes. */
  readonly protectData: boolean;
  readonly provider: k8s.Provider;
  /** Scheduled backups to the object store. @default undefined (no backups) */
  readonly backup?: PostgresBackup;
  /** Operator chart. @default CHARTS.cloudnativePg */
  readonly chart?: ChartRef;
  /** Name of the `Cluster`. @default "postgres" */
  readonly clusterName?: string;
  /** Resources every child waits for (the namespaces). @default [] */
  readonly dependsOn?: readonly pulumi.Resource[];
  /** Resources the `Cluster` must also wait for (the bucket holding its backups). @default [] */
  readonly clusterDependsOn?: readonly pulumi.Resource[];
  /**
   * The issuer of the server's and the clients' certificates (the stack's data CA), and what
   * its Certificates must wait for (cert-manager and the issuer).
   */
  readonly tls: { readonly issuer: IssuerRef; readonly dependsOn: readonly pulumi.Resource[] };
}

/**
 * CloudNativePG and one Postgres cluster. Children: `${name}-operator`, per service
 * `${name}-<service>-password` and `${name}-<service>-login`, `${name}-backup-s3`,
 * `${name}-cluster`, `${name}-<service>-db`, `${name}-backup-schedule`.
 */
export class Postgres extends pulumi.ComponentResource {
  readonly clusterName: string;
  readonly host: string;
  readonly port = POSTGRES_PORT;
  readonly cluster: k8s.apiextensions.CustomResource;
  readonly databases: Readonly<Partial<Record<PostgresService, k8s.apiextensions.CustomResource>>>;
  readonly operator: k8s.helm.v3.Release;
  readonly scheduledBackup: k8s.apiextensions.CustomResource | undefined;
  private readonly passwords: Partial<Record<PostgresService, pulumi.Output<string>>> = {};
  private readonly provider: k8s.Provider;
  private readonly tls: PostgresArgs["tls"];
  /** The server's Certificate. */
  readonly serverCertificate: k8s.apiextensions.CustomResource;

  constructor(name: string, args: PostgresArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:existingCluster:Postgres", name, {}, formerType(opts, "sovereign:cluster:Postgres"));
    this.clusterName = args.clusterName ?? "postgres";
    this.host = primaryHost(this.clusterName, args.namespace);
    this.provider = args.provider;
    this.tls = args.tls;
    const k8sOpts = { parent: this, provider: args.provider, dependsOn: [...(args.dependsOn ?? [])] };
    const labels = k8sLabels("postgres", this.clusterName);

    const chart = args.chart ?? CHARTS.cloudnativePg;
    this.operator = new k8s.helm.v3.Release(
      `${name}-operator`,
      {
        name: "cnpg",
        ...chartSource(chart, args.chartMirror),
        namespace: args.operatorNamespace,
        createNamespace: false,
        values: operatorValues(args.registryMirrors),
      },
      k8sOpts,
    );

    const logins = args.services.map((service) => {
      const password = new random.RandomPassword(
        `${name}-${service}-password`,
        { length: 32, special: false },
        { parent: this },
      );
      this.passwords[service] = pulumi.secret(password.result);
      return new k8s.core.v1.Secret(
        `${name}-${service}-login`,
        {
          metadata: {
            name: loginSecretName(this.clusterName, service),
            namespace: args.namespace,
            // The operator re-reads the Secret and updates the role when the password changes.
            labels: { ...labels, "cnpg.io/reload": "true" },
          },
          type: "kubernetes.io/basic-auth",
          stringData: pulumi.secret({ username: service, password: this.passwords[service] }),
        },
        k8sOpts,
      );
    });

    const secrets: pulumi.Resource[] = [...logins];
    if (args.backup) {
      secrets.push(
        new k8s.core.v1.Secret(
          `${name}-backup-s3`,
          {
            metadata: { name: backupSecretName(this.clusterName), namespace: args.namespace, labels },
            type: "Opaque",
            stringData: pulumi.secret({
              [BACKUP_ACCESS_KEY]: args.backup.accessKey,
              [BACKUP_SECRET_KEY]: args.backup.secretKey,
            }),
          },
          k8sOpts,
        ),
      );
    }

    this.serverCertificate = new k8s.apiextensions.CustomResource(
      `${name}-server-certificate`,
      postgresServerCertificate(this.clusterName, args.namespace, args.tls.issuer),
      { ...k8sOpts, dependsOn: [...k8sOpts.dependsOn, ...args.tls.dependsOn] },
    );
    secrets.push(this.serverCertificate);

    this.cluster = new k8s.apiextensions.CustomResource(
      `${name}-cluster`,
      clusterObject({
        name: this.clusterName,
        namespace: args.namespace,
        instances: args.instances,
        image: mirrorImage(args.image, args.registryMirrors ?? {}),
        storageGiB: args.storageGiB,
        storageClass: args.storageClass,
        services: args.services,
        backup: args.backup
          ? {
              endpoint: args.backup.endpoint,
              endpointCa: args.backup.endpointCa,
              bucket: args.backup.bucket,
              retentionDays: args.backup.retentionDays,
            }
          : undefined,
      }),
      {
        ...k8sOpts,
        dependsOn: [...k8sOpts.dependsOn, this.operator, ...secrets, ...(args.clusterDependsOn ?? [])],
        protect: args.protectData,
        retainOnDelete: args.protectData,
      },
    );

    const databases: Partial<Record<PostgresService, k8s.apiextensions.CustomResource>> = {};
    // A login without a database of its own (a team's flywheel writer) connects to another service's.
    for (const service of args.services.filter((x) => postgresDatabaseOf(x) === x)) {
      databases[service] = new k8s.apiextensions.CustomResource(
        `${name}-${service}-db`,
        databaseObject(this.clusterName, args.namespace, service, args.protectData),
        { ...k8sOpts, dependsOn: [...k8sOpts.dependsOn, this.cluster] },
      );
    }
    this.databases = databases;

    this.scheduledBackup = undefined;
    if (args.backup) {
      this.scheduledBackup = new k8s.apiextensions.CustomResource(
        `${name}-backup-schedule`,
        scheduledBackupObject(this.clusterName, args.namespace, args.backup.schedule ?? "0 0 2 * * *"),
        { ...k8sOpts, dependsOn: [...k8sOpts.dependsOn, this.cluster] },
      );
    }
    this.registerOutputs({ host: this.host });
  }

  /**
   * Creates a Secret with the service's login in `namespace` (named by the caller), and a
   * Certificate there (`${name}-certificate`) whose Secret carries the CA the service verifies
   * the server with.
   */
  connect(
    name: string,
    service: PostgresService,
    namespace: pulumi.Input<string>,
    opts: pulumi.ComponentResourceOptions,
  ): PostgresConnection {
    const password = this.passwords[service];
    const dbname = postgresDatabaseOf(service);
    const database = this.databases[dbname as PostgresService];
    if (password === undefined || database === undefined) {
      throw new Error(
        `expected a Postgres service provisioned on this cluster (${Object.keys(this.passwords).join(", ")}), found "${service}"`,
      );
    }
    return postgresLogin(
      name,
      service,
      namespace,
      {
        provider: this.provider,
        password,
        host: this.host,
        port: this.port,
        issuer: this.tls.issuer,
        tlsDependsOn: this.tls.dependsOn,
        ready: [this.cluster, database],
      },
      opts,
    );
  }

  /** The generated password of a service's login (secret), or undefined where it has none. */
  passwordOf(service: PostgresService): pulumi.Output<string> | undefined {
    return this.passwords[service];
  }
}

/** What a service's login objects need: plain data, the password, and the cluster's provider. */
export interface PostgresLoginData {
  readonly provider: k8s.Provider;
  readonly password: pulumi.Input<string>;
  readonly host: pulumi.Input<string>;
  readonly port: pulumi.Input<number>;
  /** The data CA's issuer, which signs the client's CA Certificate. */
  readonly issuer: IssuerRef;
  /** What the Certificate waits for (cert-manager and the data CA). */
  readonly tlsDependsOn: readonly pulumi.Resource[];
  /** What the service waits for before it connects (the cluster and its database). */
  readonly ready: readonly pulumi.Resource[];
}

/**
 * A service's login in `namespace`: the Secret with its credentials and a Certificate whose
 * Secret carries the data CA its client verifies the server with. Children of the caller.
 */
export function postgresLogin(
  name: string,
  service: PostgresService,
  namespace: pulumi.Input<string>,
  d: PostgresLoginData,
  opts: pulumi.ComponentResourceOptions,
): PostgresConnection {
  const dbname = postgresDatabaseOf(service);
  const cert = postgresClientCertificate(service, "", d.issuer);
  const certificate = new k8s.apiextensions.CustomResource(
    `${name}-certificate`,
    { ...cert, metadata: { ...cert.metadata, namespace } },
    { ...opts, provider: d.provider, dependsOn: [...asArray(opts.dependsOn), ...d.tlsDependsOn] },
  );
  const secret = new k8s.core.v1.Secret(
    name,
    {
      metadata: {
        name: clientLoginSecretName(service),
        namespace,
        labels: k8sLabels("postgres-connection", service),
      },
      type: "Opaque",
      stringData: pulumi.secret({
        username: service,
        password: d.password,
        host: d.host,
        port: pulumi.output(d.port).apply(String),
        dbname,
        sslmode: "verify-full",
      }),
    },
    { ...opts, provider: d.provider },
  );
  return {
    host: pulumi.output(d.host),
    port: pulumi.output(d.port),
    database: dbname,
    secretName: secret.metadata.name,
    sslMode: "verify-full",
    rootCert: { secretName: pulumi.output(cert.spec.secretName as string), key: CA_CERT_KEY },
    dependsOn: [secret, certificate, ...d.ready],
  };
}

function asArray(d: pulumi.ComponentResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (d === undefined) return [];
  return Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
}
