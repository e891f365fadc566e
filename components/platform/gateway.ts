/**
 * The inference gateway: namespace, workload identity (object-store scope `captures/` of the
 * inference-log bucket), Postgres login, the catalog ConfigMap, the policy ConfigMap (the Rego
 * compiled to Wasm and its data, evaluated in process), a hardened Deployment with a
 * PodDisruptionBudget and a HorizontalPodAutoscaler, the in-cluster Service (`gatewayUrl()`),
 * a load balancer that is internal unless public exposure is opted into, and a NetworkPolicy
 * that lets the pods reach only DNS, OPA, the model servers, Postgres, the object store and the
 * identity provider. The constructor is thin: the objects are built by the pure functions below.
 */
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { spreadAcrossZonesAndNodes } from "../lib/scheduling";
import type { Catalog, OpaData } from "../lib/contracts";
import {
  GATEWAY_POLICY_DIR,
  GATEWAY_POLICY_POLL_MS,
  WASM_DATA_FILE,
  WASM_POLICY_FILE,
} from "../lib/gateway-policy";
import { opaUrl } from "../lib/endpoints";
import { mirrorImage } from "../lib/images";
import { k8sLabels } from "../lib/labels";
import { SCRAPE_TARGETS } from "../lib/metrics";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { PostgresConnection, Substrate } from "../substrate";

export const GATEWAY_PORT = 8080;
/** `/metrics` only; the NetworkPolicy admits the monitoring namespace alone. */
export const GATEWAY_METRICS_PORT = 9090;
export const GATEWAY_SERVICE = "gateway";
export const GATEWAY_SERVICE_ACCOUNT = "gateway";
const SPILL_DIR = "/var/spool/gateway";
const CATALOG_DIR = "/etc/gateway";

export interface GatewayArgs {
  readonly substrate: Substrate;
  /**
   * Spread strictly across zones and nodes (`DoNotSchedule`) and require at least
   * {@link HA_MIN_REPLICAS} replicas (`gatewayReplicasProblem`).
   */
  readonly highAvailability: boolean;
  /** Pinned image reference. */
  readonly image: string;
  readonly replicas: { readonly min: number; readonly max: number };
  readonly oidc: {
    readonly issuer: string;
    readonly audience: string;
    /** @default discovered from the issuer */
    readonly jwksUri?: string;
    /** @default groups */
    readonly groupsClaim?: string;
  };
  /** Teams, models and the model server URL of every base model. */
  readonly catalog: Catalog;
  /** Expose on an internet-facing load balancer. @default false (internal load balancer) */
  readonly public?: boolean;
  /** @default 1048576 */
  readonly maxBodyBytes?: number;
  /** OPA's evaluation budget, ms; the gateway adds the guard timeout to it. @default 250 */
  readonly opaTimeoutMs?: number;
  /** The guard model's timeout (the policy data's `guard.timeoutMs`); 0 when no guard is configured. @default 0 */
  readonly guardTimeoutMs?: number;
  /** Characters of generated text per screened window of a streamed answer. @default 200 */
  readonly guardStreamWindowChars?: number;
  /**
   * The policy the gateway evaluates in process: the gzipped Wasm build of `policies/authz` and
   * `policies/data` (stacks/wiring/policy-wasm.ts) and the data document OPA also gets. It is a
   * ConfigMap mounted as a folder, which the kubelet updates in place and the gateway re-reads,
   * so a change reaches running pods without a restart.
   * @default none: the gateway asks OPA over HTTP for every decision
   */
  readonly policy?: { readonly wasmGzip: Buffer; readonly data: OpaData };
  /** Write each audit row and capture record to disk (fsync) before answering. @default false */
  readonly auditSync?: boolean;
  /** Spill volume size for records waiting for Postgres or the object store. @default 2Gi */
  readonly spillSize?: string;
  /** CPU request per pod. @default 500m */
  readonly cpuRequest?: string;
  /** Memory request and limit per pod. @default 512Mi */
  readonly memory?: string;
}

/** Fewest gateway replicas with high availability: one per zone of a rolling update. */
export const HA_MIN_REPLICAS = 2;

/**
 * What is wrong with gateway replica bounds, or undefined: the one predicate behind the config
 * rule and the component's own check.
 */
export function gatewayReplicasProblem(
  replicas: { readonly min: number; readonly max: number },
  highAvailability: boolean,
): { readonly field: "min" | "max"; readonly message: string } | undefined {
  if (highAvailability && replicas.min < HA_MIN_REPLICAS)
    return {
      field: "min",
      message: `expected at least ${HA_MIN_REPLICAS} replicas in prod, found ${replicas.min}`,
    };
  if (replicas.max < replicas.min)
    return {
      field: "max",
      message: `expected at least replicas.min (${replicas.min}), found ${replicas.max}`,
    };
  return undefined;
}

export const gatewayLabels = (instance: string) => k8sLabels("gateway", instance);

/** Non-secret environment of the gateway container. */
export function gatewayEnv(
  args: GatewayArgs,
  db: { host: string; port: number; database: string; sslMode: string },
  bucket: string,
  forcePathStyle: boolean,
): { name: string; value: string }[] {
  const env: Record<string, string> = {
    GATEWAY_PORT: String(GATEWAY_PORT),
    GATEWAY_OPA_URL: opaUrl(),
    GATEWAY_METRICS_PORT: String(GATEWAY_METRICS_PORT),
    GATEWAY_OPA_TIMEOUT_MS: String(args.opaTimeoutMs ?? 250),
    GATEWAY_GUARD_TIMEOUT_MS: String(args.guardTimeoutMs ?? 0),
    GATEWAY_GUARD_STREAM_WINDOW_CHARS: String(args.guardStreamWindowChars ?? 200),
    GATEWAY_AUDIT_SYNC: String(args.auditSync ?? false),
    GATEWAY_MAX_BODY_BYTES: String(args.maxBodyBytes ?? 1_048_576),
    GATEWAY_OIDC_ISSUER: args.oidc.issuer,
    GATEWAY_OIDC_AUDIENCE: args.oidc.audience,
    GATEWAY_OIDC_GROUPS_CLAIM: args.oidc.groupsClaim ?? "groups",
    GATEWAY_CATALOG_FILE: `${CATALOG_DIR}/catalog.json`,
    GATEWAY_SPILL_DIR: SPILL_DIR,
    GATEWAY_CAPTURE_BUCKET: bucket,
    GATEWAY_CAPTURE_PREFIX: "captures/",
    GATEWAY_S3_FORCE_PATH_STYLE: String(forcePathStyle),
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGDATABASE: db.database,
    PGSSLMODE: db.sslMode,
  };
  if (args.oidc.jwksUri) env.GATEWAY_OIDC_JWKS_URI = args.oidc.jwksUri;
  env.GATEWAY_POLICY = args.policy ? "wasm" : "opa";
  if (args.policy) {
    env.GATEWAY_POLICY_DIR = GATEWAY_POLICY_DIR;
    env.GATEWAY_POLICY_POLL_MS = String(GATEWAY_POLICY_POLL_MS);
  }
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** A digest of the catalog: a change rolls the pods. */
export function catalogDigest(catalog: Catalog): string {
  return createHash("sha256").update(JSON.stringify(catalog)).digest("hex").slice(0, 16);
}

/** The pod template's container (hardened: non-root, read-only root, no capabilities). */
export function gatewayContainer(
  args: GatewayArgs,
  env: k8s.types.input.core.v1.EnvVar[],
): k8s.types.input.core.v1.Container {
  const memory = args.memory ?? "512Mi";
  return {
    name: "gateway",
    image: args.substrate.registryMirrors.apply((m) => mirrorImage(args.image, m)),
    imagePullPolicy: "IfNotPresent",
    ports: [
      { name: "http", containerPort: GATEWAY_PORT, protocol: "TCP" },
      { name: SCRAPE_TARGETS.gateway.port, containerPort: GATEWAY_METRICS_PORT, protocol: "TCP" },
    ],
    env,
    resources: { requests: { cpu: args.cpuRequest ?? "500m", memory }, limits: { memory } },
    readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 10, failureThreshold: 3 },
    startupProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 2, failureThreshold: 30 },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [
      { name: "catalog", mountPath: CATALOG_DIR, readOnly: true },
      // A folder, never subPath: the kubelet swaps a ConfigMap folder's files in place on a change.
      ...(args.policy ? [{ name: "policy", mountPath: GATEWAY_POLICY_DIR, readOnly: true }] : []),
      { name: "spill", mountPath: SPILL_DIR },
      { name: "tmp", mountPath: "/tmp" },
    ],
    // Let the endpoints controller and load balancers stop sending before draining starts.
    lifecycle: { preStop: { sleep: { seconds: 5 } } },
  };
}

/** A ConfigMap holds at most 1 MiB. */
const CONFIGMAP_MAX_BYTES = 1024 * 1024;

/** The policy ConfigMap's contents: the compiled policy (binary) and the data document. */
export function gatewayPolicyFiles(policy: NonNullable<GatewayArgs["policy"]>): {
  data: Record<string, string>;
  binaryData: Record<string, string>;
} {
  const out = {
    data: { [WASM_DATA_FILE]: JSON.stringify(policy.data) },
    binaryData: { [WASM_POLICY_FILE]: policy.wasmGzip.toString("base64") },
  };
  const size = out.data[WASM_DATA_FILE].length + out.binaryData[WASM_POLICY_FILE].length;
  if (size > CONFIGMAP_MAX_BYTES)
    throw new Error(
      `gateway: the compiled policy and its data take ${size} bytes, more than a ConfigMap holds (${CONFIGMAP_MAX_BYTES})`,
    );
  return out;
}

/** Egress the pods need, nothing else; ingress on the http port, and on the metrics port from the monitoring namespace only. */
export function gatewayNetworkPolicySpec(
  podLabels: Record<string, string>,
  objectStorePort: number,
  postgresPort: number,
): k8s.types.input.networking.v1.NetworkPolicySpec {
  const nsSel = (ns: string) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
  });
  const tcp = (port: number) => ({ protocol: "TCP", port });
  return {
    podSelector: { matchLabels: podLabels },
    policyTypes: ["Ingress", "Egress"],
    ingress: [
      { ports: [tcp(GATEWAY_PORT)] },
      { from: [nsSel(PLATFORM_NAMESPACES.monitoring)], ports: [tcp(GATEWAY_METRICS_PORT)] },
    ],
    egress: [
      { to: [nsSel("kube-system")], ports: [{ protocol: "UDP", port: 53 }, tcp(53)] },
      { to: [nsSel(PLATFORM_NAMESPACES.policy)], ports: [tcp(8181)] },
      { to: [nsSel(PLATFORM_NAMESPACES.serving)], ports: [tcp(8000)] },
      // Postgres, the object store and the identity provider may live outside the cluster.
      { ports: [...new Set([postgresPort, objectStorePort, 443])].map(tcp) },
      // EKS Pod Identity agent (link-local); unused elsewhere.
      { to: [{ ipBlock: { cidr: "169.254.170.23/32" } }], ports: [tcp(80)] },
    ],
  };
}

/** The port of a URL (explicit, or the scheme's default). */
export function urlPort(u: string): number {
  const url = new URL(u);
  return url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

export class Gateway extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  /** In-cluster base URL (`gatewayUrl()`). */
  readonly url: pulumi.Output<string>;
  /** Hostname or IP of the load balancer (once provisioned). */
  readonly loadBalancer: pulumi.Output<string | undefined>;

  constructor(name: string, args: GatewayArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:Gateway", name, {}, opts);
    const problem = gatewayReplicasProblem(args.replicas, args.highAvailability);
    if (problem) throw new Error(`gateway: replicas.${problem.field}: ${problem.message}`);
    const s = args.substrate;
    const k = { parent: this, provider: s.provider, dependsOn: [...s.ready] };
    const labels = gatewayLabels(name);
    const selector = { "app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": name };
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: PLATFORM_NAMESPACES.gateway,
          labels: { ...labels, "pod-security.kubernetes.io/enforce": "restricted" },
        },
      },
      k,
    );
    this.namespace = ns.metadata.name;
    const access = s.bindWorkload(
      `${name}-workload`,
      { kind: "gateway", namespace: this.namespace, serviceAccountName: GATEWAY_SERVICE_ACCOUNT },
      { parent: this, dependsOn: [ns] },
    );
    const db: PostgresConnection = s.connectPostgres(`${name}-postgres`, "gateway", this.namespace, {
      parent: this,
      dependsOn: [ns],
    });
    const catalogCm = new k8s.core.v1.ConfigMap(
      `${name}-catalog`,
      {
        metadata: { name: "gateway-catalog", namespace: this.namespace, labels },
        data: { "catalog.json": JSON.stringify(args.catalog, null, 2) },
      },
      k,
    );
    const policyCm = args.policy
      ? new k8s.core.v1.ConfigMap(
          `${name}-policy`,
          {
            metadata: { name: "gateway-policy", namespace: this.namespace, labels },
            ...gatewayPolicyFiles(args.policy),
          },
          k,
        )
      : undefined;
    const env = pulumi
      .all([db.host, db.port, db.secretName, s.objectStore.buckets.inferenceLogs, access.env])
      .apply(([host, port, secretName, bucket, s3env]) => [
        ...gatewayEnv(
          args,
          { host, port, database: db.database, sslMode: db.sslMode },
          bucket,
          s.objectStore.forcePathStyle,
        ),
        { name: "PGUSER", valueFrom: { secretKeyRef: { name: secretName, key: "username" } } },
        { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: secretName, key: "password" } } },
        { name: "GATEWAY_INSTANCE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ...s3env,
      ]);
    const deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: "gateway", namespace: this.namespace, labels },
        spec: {
          // No `replicas`: the HPA below owns the count (between replicas.min and .max), and a
          // set value would reset a scaled-out gateway on every update.
          selector: { matchLabels: selector },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: {
              labels,
              annotations: { "sovereign.ai/catalog-digest": catalogDigest(args.catalog) },
            },
            spec: {
              serviceAccountName: access.serviceAccountName,
              automountServiceAccountToken: false,
              // Drain open streams (25 s) and flush audit and capture queues before SIGKILL.
              terminationGracePeriodSeconds: 45,
              securityContext: {
                runAsNonRoot: true,
                fsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
              },
              topologySpreadConstraints: spreadAcrossZonesAndNodes(
                selector,
                args.highAvailability ? "DoNotSchedule" : "ScheduleAnyway",
              ),
              containers: [gatewayContainer(args, env as unknown as k8s.types.input.core.v1.EnvVar[])],
              volumes: [
                { name: "catalog", configMap: { name: catalogCm.metadata.name } },
                ...(policyCm ? [{ name: "policy", configMap: { name: policyCm.metadata.name } }] : []),
                { name: "spill", emptyDir: { sizeLimit: args.spillSize ?? "2Gi" } },
                { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } },
              ],
            },
          },
        },
      },
      { ...k, dependsOn: [...k.dependsOn, ...access.dependsOn, ...db.dependsOn] },
    );
    const svc = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: GATEWAY_SERVICE, namespace: this.namespace, labels },
        spec: {
          type: "ClusterIP",
          selector,
          ports: [
            { name: "http", port: GATEWAY_PORT, targetPort: "http", protocol: "TCP" },
            {
              name: SCRAPE_TARGETS.gateway.port,
              port: GATEWAY_METRICS_PORT,
              targetPort: SCRAPE_TARGETS.gateway.port,
              protocol: "TCP",
            },
          ],
        },
      },
      k,
    );
    const lb = new k8s.core.v1.Service(
      `${name}-lb`,
      {
        metadata: {
          name: "gateway-lb",
          namespace: this.namespace,
          labels: { ...labels, "sovereign.ai/exposure": args.public ? "public" : "internal" },
          // The substrate knows its load-balancer controller; internal unless public was opted into.
          annotations: { ...s.loadBalancerAnnotations(args.public ? "public" : "internal") },
        },
        spec: {
          type: "LoadBalancer",
          selector,
          externalTrafficPolicy: "Local",
          ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
        },
      },
      k,
    );
    new k8s.policy.v1.PodDisruptionBudget(
      `${name}-pdb`,
      {
        metadata: { name: "gateway", namespace: this.namespace, labels },
        spec:
          args.replicas.min >= 2
            ? { minAvailable: 1, selector: { matchLabels: selector } }
            : { maxUnavailable: 1, selector: { matchLabels: selector } },
      },
      k,
    );
    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      `${name}-hpa`,
      {
        metadata: { name: "gateway", namespace: this.namespace, labels },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
          minReplicas: args.replicas.min,
          maxReplicas: args.replicas.max,
          metrics: [
            {
              type: "Resource",
              resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 60 } },
            },
          ],
          behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
        },
      },
      k,
    );
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: "gateway", namespace: this.namespace, labels },
        spec: pulumi
          .all([s.objectStore.endpoint, db.port])
          .apply(([endpoint, pgPort]) => gatewayNetworkPolicySpec(selector, urlPort(endpoint), pgPort)),
      },
      k,
    );
    this.url = pulumi.interpolate`http://${svc.metadata.name}.${this.namespace}.svc.cluster.local:${GATEWAY_PORT}`;
    this.loadBalancer = lb.status.apply(
      (st) => st?.loadBalancer?.ingress?.[0]?.hostname ?? st?.loadBalancer?.ingress?.[0]?.ip,
    );
    this.registerOutputs({ namespace: this.namespace, url: this.url, loadBalancer: this.loadBalancer });
  }
}
