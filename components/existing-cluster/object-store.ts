/**
 * The in-cluster S3 server: SeaweedFS from its official Helm chart (pinned), its identity
 * config (one identity per workload, prefix-scoped actions), and a Job that creates the
 * buckets at deploy time. S3 is served over HTTPS with a certificate from the stack's data CA
 * (`tls.ts`), the servers talk gRPC with mutual TLS (the chart's `enableSecurity`), and the
 * filer encrypts the data it writes to the volume servers. See docs/object-storage.md for the
 * choice and how scopes are enforced.
 */
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { formerType } from "../lib/aliases";
import { k8sLabels } from "../lib/labels";
import { CHART_IMAGES, chartImageValues } from "../lib/chart-images";
import { mirrorImage, type RegistryMirrors } from "../lib/images";
import { CHARTS, SUBSTRATE_IMAGES, type ChartMirror, type ChartRef, chartSource } from "../lib/versions";
import type { CertManagerObject, IssuerRef } from "../platform/cert-manager";
import type { IdentityRegistry, S3Identity } from "./credentials";
import { serviceDnsNames, servingCertificate } from "./tls";

/** `single`: one all-in-one pod (laptops, dev). `distributed`: HA masters, volumes, filers, gateways. */
export type ObjectStoreMode = "single" | "distributed";

/** Key of the identity config inside its Secret (the name the chart mounts and reads). */
export const S3_CONFIG_KEY = "seaweedfs_s3_config";
/** Region clients sign for; SeaweedFS accepts any. */
export const OBJECT_STORE_REGION = "us-east-1";

/**
 * The S3 API's port, HTTPS only: it is SeaweedFS's `-port` (`-s3.port` in the all-in-one
 * server) with the certificate flags and no `-port.https`, which makes that one listener TLS
 * (SeaweedFS 4.22 `weed/command/s3.go`: a plain listener opens only without a key file or with
 * a separate `-port.https`).
 */
export const S3_HTTPS_PORT = 8443;
/** The Secret (kubernetes.io/tls, with `ca.crt`) of the S3 API's certificate (`s3.tlsSecret`). */
export const S3_TLS_SECRET = "seaweedfs-s3-tls";
/** Where the chart mounts `s3.tlsSecret` in the S3 (and all-in-one) container. */
const S3_TLS_DIR = "/usr/local/share/ca-certificates/s3";

/**
 * Flags of the S3 server (`prefix` "" for `weed s3`, "s3." for `weed server -s3`): the
 * certificate and key that make `-port` serve TLS, and no Iceberg REST catalog, whose plain
 * HTTP listener (8181) is on by default and which the kit does not use. The chart passes the
 * certificate flags only together with `-port.https`, which would keep a plain listener on
 * `-port`, so they go in as extra arguments.
 */
export function s3TlsArgs(prefix: "" | "s3."): string[] {
  return [
    `-${prefix}cert.file=${S3_TLS_DIR}/tls.crt`,
    `-${prefix}key.file=${S3_TLS_DIR}/tls.key`,
    `-${prefix}port.iceberg=0`,
  ];
}

/**
 * Objects of the chart with `enableSecurity` the bucket Job mounts to speak gRPC with mutual TLS
 * (`weed shell`): the security config (ConfigMap) and the chart's CA and client certificates.
 */
export const SEAWEED_SECURITY = {
  configMap: "seaweedfs-security-config",
  caSecret: "seaweedfs-ca-cert",
  clientSecret: "seaweedfs-client-cert",
} as const;

/** The chart's service account (`global.seaweedfs.serviceAccountName`), which gets no token. */
const SEAWEED_SERVICE_ACCOUNT = "seaweedfs";

export interface SeaweedHosts {
  /** S3 API endpoint URL (HTTPS). */
  readonly s3: string;
  /** The Service the S3 API answers on (its certificate names it). */
  readonly s3Service: string;
  /** Master address (`host:port`) for `weed shell`. */
  readonly master: string;
  /** Filer address (`host:port`) for `weed shell`. */
  readonly filer: string;
}

/** Service addresses the chart creates (its services are named after the chart, `seaweedfs`). */
export function seaweedHosts(mode: ObjectStoreMode, namespace: string): SeaweedHosts {
  const host = (svc: string) => `${svc}.${namespace}.svc.cluster.local`;
  if (mode === "single") {
    const h = host("seaweedfs-all-in-one");
    return {
      s3: `https://${h}:${S3_HTTPS_PORT}`,
      s3Service: "seaweedfs-all-in-one",
      master: `${h}:9333`,
      filer: `${h}:8888`,
    };
  }
  return {
    s3: `https://${host("seaweedfs-s3")}:${S3_HTTPS_PORT}`,
    s3Service: "seaweedfs-s3",
    master: `${host("seaweedfs-master")}:9333`,
    filer: `${host("seaweedfs-filer-client")}:8888`,
  };
}

/** The S3 API's serving Certificate: every in-cluster name of its Service, from the data CA. */
export function s3Certificate(
  mode: ObjectStoreMode,
  namespace: string,
  issuer: IssuerRef,
): CertManagerObject {
  return servingCertificate({
    name: "seaweedfs-s3",
    namespace,
    secretName: S3_TLS_SECRET,
    dnsNames: serviceDnsNames(seaweedHosts(mode, namespace).s3Service, namespace),
    issuer,
  });
}

/** Parses a Kubernetes quantity like `5Gi` into MiB (binary and decimal suffixes). */
export function quantityMiB(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`expected a Kubernetes quantity like 50Gi, found "${q}"`);
  const n = Number(m[1]);
  const factor: Record<string, number> = {
    "": 1 / 2 ** 20,
    m: 1 / 1000 / 2 ** 20,
    k: 1000 / 2 ** 20,
    M: 1e6 / 2 ** 20,
    G: 1e9 / 2 ** 20,
    T: 1e12 / 2 ** 20,
    Ki: 1 / 1024,
    Mi: 1,
    Gi: 1024,
    Ti: 1024 * 1024,
  };
  return n * factor[m[2] ?? ""];
}

/**
 * SeaweedFS volume size limit for a disk: every bucket is its own collection with its own
 * volumes, so small disks need small volumes or a handful of buckets exhausts them.
 */
export function volumeSizeLimitMB(volumeSize: string): number {
  return Math.max(64, Math.min(1000, Math.floor(quantityMiB(volumeSize) / 40)));
}

/** The identity config the S3 gateway loads (`-s3.config`). */
export function renderS3Config(
  identities: readonly { name: string; accessKey: string; secretKey: string; actions: readonly string[] }[],
): string {
  return JSON.stringify({
    identities: identities.map((i) => ({
      name: i.name,
      credentials: [{ accessKey: i.accessKey, secretKey: i.secretKey }],
      actions: [...i.actions],
    })),
  });
}

/**
 * A checksum of who may do what (names and actions; never keys), put on the gateway pods so
 * they restart and load the config when an identity is added or changed.
 */
export function identitiesChecksum(
  identities: readonly { name: string; actions: readonly string[] }[],
): string {
  const canonical = identities.map((i) => `${i.name}=${[...i.actions].join(",")}`).join(";");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export interface SeaweedValuesInput {
  readonly mode: ObjectStoreMode;
  readonly volumeSize: string;
  readonly storageClass: string;
  readonly configSecretName: string;
  /** SeaweedFS image (already mirrored) every server runs. */
  readonly image: string;
  /** Keep the data PVC when the release is uninstalled (prod). */
  readonly keepVolumes: boolean;
}

const SMALL = { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } };

/** Chart values (keys as in the chart's values.yaml) for a mode. */
export function seaweedValues(
  v: SeaweedValuesInput,
  checksum: pulumi.Input<string>,
): Record<string, unknown> {
  const podAnnotations = { "sovereign.ai/s3-config-checksum": checksum };
  const keep = v.keepVolumes ? { "helm.sh/resource-policy": "keep" } : {};
  const pvc = (size: string) => ({
    type: "persistentVolumeClaim",
    size,
    storageClass: v.storageClass,
    annotations: keep,
  });
  const images = chartImageValues([{ ...CHART_IMAGES.seaweedfs[0], image: v.image }]);
  const common = {
    ...images,
    global: {
      ...(images.global as Record<string, unknown>),
      // Mutual TLS between the servers (certificates from cert-manager, the chart's own CA), and
      // the S3 HTTPS listener (below); it requires this.
      // No Kubernetes API access: the servers never call it (SeaweedFS has no Kubernetes
      // client) and the data namespace's egress does not admit it. The chart would otherwise
      // bind its service account to a ClusterRole that may write pods in every namespace.
      seaweedfs: { enableSecurity: true, createClusterRole: false, automountServiceAccountToken: false },
    },
    master: { volumeSizeLimitMB: volumeSizeLimitMB(v.volumeSize) },
    // Encryption at rest: the filer encrypts every chunk (AES-256-GCM, a key per chunk kept in
    // its metadata) before it reaches a volume server's disk.
    filer: { encryptVolumeData: true },
  };
  // S3 over HTTPS only, with the kit's certificate, on one port (the all-in-one server reads
  // `s3.port` and `s3.tlsSecret` too). No `httpsPort`: with it, `-port` would stay plain HTTP.
  const s3Tls = { port: S3_HTTPS_PORT, tlsSecret: S3_TLS_SECRET };
  if (v.mode === "single") {
    return {
      ...common,
      master: { ...common.master, enabled: false },
      volume: { enabled: false },
      filer: { ...common.filer, enabled: false },
      s3: { enabled: false, ...s3Tls },
      allInOne: {
        enabled: true,
        replicas: 1,
        // The chart's service account (no token), instead of the namespace's `default`.
        serviceAccountName: SEAWEED_SERVICE_ACCOUNT,
        updateStrategy: { type: "Recreate" },
        s3: {
          enabled: true,
          port: S3_HTTPS_PORT,
          enableAuth: true,
          existingConfigSecret: v.configSecretName,
        },
        extraArgs: s3TlsArgs("s3."),
        data: { ...pvc(v.volumeSize), accessModes: ["ReadWriteOnce"] },
        // One new volume per growth instead of seven keeps a small disk from filling up.
        extraEnvironmentVars: { WEED_MASTER_VOLUME_GROWTH_COPY_1: "1" },
        podAnnotations,
        resources: SMALL,
      },
    };
  }
  const res = (cpu: string, memory: string, limitMemory: string) => ({
    requests: { cpu, memory },
    limits: { memory: limitMemory },
  });
  return {
    ...common,
    master: {
      ...common.master,
      enabled: true,
      replicas: 3,
      defaultReplication: "001",
      data: pvc("1Gi"),
      logs: { type: "emptyDir" },
      resources: res("100m", "256Mi", "512Mi"),
    },
    volume: {
      enabled: true,
      replicas: 3,
      // The chart's resize hook runs kubectl (an unmirrored image) against the API server, which
      // the data namespace's egress does not admit; growing volumes is a manual step
      // (docs/object-storage.md).
      resizeHook: { enabled: false },
      dataDirs: [{ name: "data", ...pvc(v.volumeSize), maxVolumes: 0 }],
      resources: res("250m", "512Mi", "2Gi"),
    },
    filer: {
      ...common.filer,
      enabled: true,
      replicas: 2,
      defaultReplicaPlacement: "001",
      data: pvc("10Gi"),
      logs: { type: "emptyDir" },
      s3: { enabled: false },
      resources: res("250m", "512Mi", "2Gi"),
    },
    s3: {
      enabled: true,
      ...s3Tls,
      replicas: 2,
      serviceAccountName: SEAWEED_SERVICE_ACCOUNT,
      enableAuth: true,
      existingConfigSecret: v.configSecretName,
      extraArgs: s3TlsArgs(""),
      // The probes call the S3 port, which now speaks TLS (the kubelet does not verify it).
      readinessProbe: { httpGet: { scheme: "HTTPS" } },
      livenessProbe: { httpGet: { scheme: "HTTPS" } },
      logs: { type: "emptyDir" },
      podAnnotations,
      resources: res("250m", "256Mi", "1Gi"),
    },
    allInOne: { enabled: false },
  };
}

/**
 * Shell script of the bucket Job: creates missing buckets with `weed shell`, then checks that
 * every bucket exists, retrying while the servers start. Idempotent.
 */
export function bucketScript(): string {
  return [
    'shell() { echo "$1" | "${WEED:-/usr/bin/weed}" shell -master="$MASTER" -filer="$FILER" 2>&1; }',
    "attempt=1",
    'while [ "$attempt" -le 60 ]; do',
    '  existing="$(shell s3.bucket.list || true)"',
    "  missing=''",
    "  for b in $BUCKETS; do",
    '    if ! printf "%s\\n" "$existing" | grep -Eq "(^|[[:space:]])$b([[:space:]]|$)"; then',
    '      missing="$missing $b"',
    '      shell "s3.bucket.create -name $b" || true',
    "    fi",
    "  done",
    '  if [ -z "$missing" ]; then echo "buckets ready: $BUCKETS"; exit 0; fi',
    '  echo "attempt $attempt: waiting for buckets:$missing"',
    "  attempt=$((attempt + 1))",
    "  sleep 5",
    "done",
    'echo "buckets were not created:$missing" >&2',
    "exit 1",
  ].join("\n");
}

/**
 * The bucket Job (batch/v1). Its name carries a hash of the bucket list, so a change runs a new
 * Job. `weed shell` speaks gRPC with mutual TLS: it mounts the chart's security config, CA and
 * client certificate where the chart's servers have theirs.
 */
export function bucketJob(
  namespace: string,
  buckets: readonly string[],
  hosts: SeaweedHosts,
  image: string,
): k8s.types.input.batch.v1.Job & { metadata: { name: string } } {
  const sorted = [...buckets].sort();
  const hash = createHash("sha256").update(sorted.join(",")).digest("hex").slice(0, 8);
  const labels = k8sLabels("object-store-buckets", "seaweedfs");
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `seaweedfs-buckets-${hash}`, namespace, labels },
    spec: {
      backoffLimit: 4,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          // `weed shell` is a client and needs no root: the Job meets PodSecurity `restricted`.
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65534,
            runAsGroup: 65534,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "create-buckets",
              image,
              command: ["/bin/sh", "-ec", bucketScript()],
              env: [
                { name: "MASTER", value: hosts.master },
                { name: "FILER", value: hosts.filer },
                { name: "BUCKETS", value: sorted.join(" ") },
              ],
              resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
              volumeMounts: [
                {
                  name: "security-config",
                  mountPath: "/etc/seaweedfs/security.toml",
                  subPath: "security.toml",
                  readOnly: true,
                },
                { name: "ca-cert", mountPath: "/usr/local/share/ca-certificates/ca/", readOnly: true },
                {
                  name: "client-cert",
                  mountPath: "/usr/local/share/ca-certificates/client/",
                  readOnly: true,
                },
              ],
            },
          ],
          volumes: [
            { name: "security-config", configMap: { name: SEAWEED_SECURITY.configMap } },
            { name: "ca-cert", secret: { secretName: SEAWEED_SECURITY.caSecret } },
            { name: "client-cert", secret: { secretName: SEAWEED_SECURITY.clientSecret } },
          ],
        },
      },
    },
  };
}

export interface ObjectStoreArgs {
  /** Namespace the server runs in (created by the caller). */
  readonly namespace: string;
  readonly mode: ObjectStoreMode;
  /** Every bucket to create at deploy time. */
  readonly buckets: readonly string[];
  /** Size of each data volume. */
  readonly volumeSize: string;
  readonly storageClass: string;
  /** Protect the release (and keep its volumes) from `pulumi destroy`. */
  readonly protectData: boolean;
  readonly provider: k8s.Provider;
  /** Chart to install. @default CHARTS.seaweedfs */
  readonly chart?: ChartRef;
  /** SeaweedFS image of the servers and the bucket Job. @default SUBSTRATE_IMAGES.seaweedfs */
  readonly image?: string;
  /** Registry mirrors the image is pulled through (`mirrorImage`). @default {} */
  readonly registryMirrors?: RegistryMirrors;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
  /** Resources every child waits for (the namespace). @default [] */
  readonly dependsOn?: readonly pulumi.Resource[];
  /**
   * The issuer of the S3 API's certificate (the stack's data CA), and what the certificates
   * (the kit's and the chart's) must wait for: cert-manager and the issuer.
   */
  readonly tls: { readonly issuer: IssuerRef; readonly dependsOn: readonly pulumi.Resource[] };
}

/**
 * SeaweedFS and its buckets. Children: `${name}-s3-config` (Secret), `${name}-s3-certificate`,
 * `${name}-release`, `${name}-buckets` (Job). Identities are added with {@link addIdentity} while the program is
 * constructed; the config is rendered once construction has finished.
 */
export class ObjectStore extends pulumi.ComponentResource implements IdentityRegistry {
  readonly endpoint: string;
  readonly region = OBJECT_STORE_REGION;
  readonly release: k8s.helm.v3.Release;
  readonly bucketJob: k8s.batch.v1.Job;
  readonly configSecret: k8s.core.v1.Secret;
  readonly s3Certificate: k8s.apiextensions.CustomResource;
  /** The Secret (in the store's namespace) whose `ca.crt` verifies the S3 API. */
  readonly tlsSecretName = S3_TLS_SECRET;
  private readonly identities: S3Identity[] = [];
  private sealed = false;

  constructor(name: string, args: ObjectStoreArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(
      "sovereign:existingCluster:ObjectStore",
      name,
      {},
      formerType(opts, "sovereign:cluster:ObjectStore"),
    );
    const hosts = seaweedHosts(args.mode, args.namespace);
    this.endpoint = hosts.s3;
    const k8sOpts = { parent: this, provider: args.provider };

    // Resolves after the synchronous program body, i.e. once every workload has been bound.
    const constructed = pulumi.output(new Promise<boolean>((resolve) => setImmediate(() => resolve(true))));
    const config = constructed.apply(() => {
      this.sealed = true;
      return pulumi
        .all(
          this.identities.map((i) =>
            pulumi.all([i.accessKey, i.secretKey]).apply(([accessKey, secretKey]) => ({
              name: i.name,
              accessKey,
              secretKey,
              actions: i.actions,
            })),
          ),
        )
        .apply(renderS3Config);
    });
    const checksum = constructed.apply(() => identitiesChecksum(this.identities));

    const configSecretName = "seaweedfs-s3-config";
    this.configSecret = new k8s.core.v1.Secret(
      `${name}-s3-config`,
      {
        metadata: {
          name: configSecretName,
          namespace: args.namespace,
          labels: k8sLabels("object-store", "seaweedfs"),
        },
        type: "Opaque",
        stringData: { [S3_CONFIG_KEY]: pulumi.secret(config) },
      },
      { ...k8sOpts, dependsOn: [...(args.dependsOn ?? [])] },
    );

    this.s3Certificate = new k8s.apiextensions.CustomResource(
      `${name}-s3-certificate`,
      s3Certificate(args.mode, args.namespace, args.tls.issuer),
      { ...k8sOpts, dependsOn: [...(args.dependsOn ?? []), ...args.tls.dependsOn] },
    );

    const chart = args.chart ?? CHARTS.seaweedfs;
    const image = mirrorImage(args.image ?? SUBSTRATE_IMAGES.seaweedfs, args.registryMirrors ?? {});
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "seaweedfs",
        ...chartSource(chart, args.chartMirror),
        namespace: args.namespace,
        createNamespace: false,
        atomic: !args.protectData,
        timeout: 900,
        values: seaweedValues(
          {
            mode: args.mode,
            volumeSize: args.volumeSize,
            storageClass: args.storageClass,
            configSecretName,
            image,
            keepVolumes: args.protectData,
          },
          checksum,
        ),
      },
      {
        ...k8sOpts,
        // The chart's certificates need cert-manager; the S3 listener needs the kit's.
        dependsOn: [this.configSecret, this.s3Certificate, ...args.tls.dependsOn],
        protect: args.protectData,
        retainOnDelete: args.protectData,
      },
    );

    const job = bucketJob(args.namespace, args.buckets, hosts, image);
    this.bucketJob = new k8s.batch.v1.Job(`${name}-buckets`, job, {
      ...k8sOpts,
      dependsOn: [this.release],
    });
    this.registerOutputs({ endpoint: this.endpoint });
  }

  /** Registers an identity; only while the program is being constructed. */
  addIdentity(identity: S3Identity): void {
    if (this.sealed) {
      throw new Error(
        `object-store identity "${identity.name}" was added after the S3 config was rendered: ` +
          "bind workloads while the program is constructed, never inside apply()",
      );
    }
    if (this.identities.some((i) => i.name === identity.name)) {
      throw new Error(`expected a unique object-store identity name, found "${identity.name}" twice`);
    }
    this.identities.push(identity);
  }
}
