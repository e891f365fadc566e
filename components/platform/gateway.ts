/**
 * The inference gateway: namespace, workload identity (object-store scope `captures/` of the
 * inference-log bucket), Postgres login, the catalog ConfigMap, the policy ConfigMap (the Rego
 * compiled to Wasm and its data, evaluated in process), a hardened Deployment with a
 * PodDisruptionBudget and a HorizontalPodAutoscaler, the in-cluster Service (`gatewayUrl()`),
 * a load balancer that is internal unless public exposure is opted into, and NetworkPolicies:
 * the namespace is default-deny both ways, and the pods reach only DNS, OPA, the model servers,
 * the substrate's Postgres and object store, and HTTPS (the identity provider). The constructor is thin: the objects are built by the pure functions below.
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
import { inClusterService, opaUrl } from "../lib/endpoints";
import { mirrorImage } from "../lib/images";
import { k8sLabels } from "../lib/labels";
import { SCRAPE_TARGETS } from "../lib/metrics";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { ApiServerPeers } from "../lib/network-policy";
import type { EgressRule, PostgresConnection, PostgresRootCert, Substrate } from "../substrate";
import { objectStoreCaMounts } from "../lib/trust";
import type { CertManagerObject, IssuerRef } from "./cert-manager";
import { MODEL_CA_DIR, MODEL_CA_FILE, modelCaBundleCertificate, modelCaVolume } from "../lib/model-tls";
import type { ModelCaBundle } from "./cert-manager";
import { GATEWAY_MODEL_KEYS_FILE, GATEWAY_MODEL_KEYS_SECRET, gatewayModelKeysJson } from "./model-keys";

export const GATEWAY_PORT = 8080;
/** `/metrics` only; the NetworkPolicy admits the monitoring namespace alone. */
export const GATEWAY_METRICS_PORT = 9090;
export const GATEWAY_SERVICE = "gateway";
export const GATEWAY_SERVICE_ACCOUNT = "gateway";
const SPILL_DIR = "/var/spool/gateway";
const CATALOG_DIR = "/etc/gateway";
const TLS_DIR = "/etc/gateway-tls";
const PG_CA_DIR = "/etc/gateway-postgres-ca";
/** The Secret cert-manager writes the gateway's certificate to (issuer modes). */
export const GATEWAY_TLS_SECRET = "gateway-tls";

/**
 * Where the API listener's certificate comes from:
 * - `issuer`: a cert-manager Certificate from this issuer (the stack's private CA, or the
 *   customer's own Issuer/ClusterIssuer), renewed by cert-manager;
 * - `secret`: a `kubernetes.io/tls` Secret the customer puts in the gateway's namespace;
 * - `off`: plain HTTP (refused in prod: {@link gatewayTlsProblem}).
 */
export type GatewayTls =
  | {
      readonly mode: "issuer";
      readonly issuer: IssuerRef;
      /** Extra DNS names (the name clients use for the load balancer). @default [] */
      readonly dnsNames?: readonly string[];
      /** What the Certificate must wait for (cert-manager's release and the issuer). */
      readonly dependsOn?: readonly pulumi.Resource[];
    }
  | { readonly mode: "secret"; readonly secretName: string }
  | { readonly mode: "off" };

/** The TLS choice as the config writes it (`gateway.tls`). */
export interface GatewayTlsChoice {
  readonly mode: "private-ca" | "issuer" | "secret" | "off";
  readonly issuer?: unknown;
  readonly secretName?: string;
}

/**
 * What is wrong with a TLS choice, or undefined: the one predicate behind the config rule and
 * the component's own check. With `requireTls` (prod) a plaintext listener is refused.
 */
export function gatewayTlsProblem(
  tls: GatewayTlsChoice,
  requireTls: boolean,
): { readonly field: "mode" | "issuer" | "secretName"; readonly message: string } | undefined {
  if (tls.mode === "off" && requireTls)
    return {
      field: "mode",
      message:
        'expected private-ca, issuer or secret in prod (bearer tokens and prompts must not cross the network in cleartext), found "off"',
    };
  if (tls.mode === "issuer" && tls.issuer === undefined)
    return {
      field: "issuer",
      message: "expected the cert-manager issuer ({ name, kind }) with mode issuer, found nothing",
    };
  if (tls.mode !== "issuer" && tls.issuer !== undefined)
    return {
      field: "issuer",
      message: `expected no issuer with mode ${tls.mode} (only mode issuer uses it)`,
    };
  if (tls.mode === "secret" && tls.secretName === undefined)
    return {
      field: "secretName",
      message: "expected the name of a kubernetes.io/tls Secret with mode secret, found nothing",
    };
  if (tls.mode !== "secret" && tls.secretName !== undefined)
    return {
      field: "secretName",
      message: `expected no secretName with mode ${tls.mode} (only mode secret uses it)`,
    };
  return undefined;
}

/** The names the gateway's certificate covers: its in-cluster Service names, plus the extra ones. */
export function gatewayDnsNames(extra: readonly string[] = []): string[] {
  const ns = PLATFORM_NAMESPACES.gateway;
  const base = [
    GATEWAY_SERVICE,
    `${GATEWAY_SERVICE}.${ns}`,
    `${GATEWAY_SERVICE}.${ns}.svc`,
    `${GATEWAY_SERVICE}.${ns}.svc.cluster.local`,
  ];
  return [...new Set([...base, ...extra])];
}

/** The gateway's serving Certificate (ECDSA P-256, 90 days, renewed 30 days before, a new key each time). */
export function gatewayCertificate(issuer: IssuerRef, dnsNames: readonly string[] = []): CertManagerObject {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "gateway", namespace: PLATFORM_NAMESPACES.gateway, labels: gatewayLabels("gateway") },
    spec: {
      secretName: GATEWAY_TLS_SECRET,
      commonName: gatewayDnsNames(dnsNames)[3],
      dnsNames: gatewayDnsNames(dnsNames),
      duration: "2160h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["server auth", "digital signature", "key encipherment"],
      issuerRef: { name: issuer.name, kind: issuer.kind, group: issuer.group ?? "cert-manager.io" },
    },
  };
}

/** The Secret holding the listener's certificate and key, or undefined for plain HTTP. */
export function gatewayTlsSecret(tls: GatewayTls): string | undefined {
  return tls.mode === "issuer" ? GATEWAY_TLS_SECRET : tls.mode === "secret" ? tls.secretName : undefined;
}

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
  /** The API listener's certificate (see {@link GatewayTls}). */
  readonly tls: GatewayTls;
  /** Refuse a plaintext listener (prod): {@link gatewayTlsProblem}. */
  readonly requireTls: boolean;
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
  /**
   * Namespaces created elsewhere in this program, by name, as outputs of their Namespace objects:
   * the discovery Role in such a namespace waits for it. @default none
   */
  readonly namespaces?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * The API keys of the model servers that require one (vLLM), by model name: a Secret in the
   * gateway's namespace (`keys.json`, mounted read-only), sent as `Authorization: Bearer` to each
   * model's server only (components/platform/model-keys.ts). @default none
   */
  readonly modelApiKeys?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * The model servers serve HTTPS with certificates from the model CA (components/lib/model-tls.ts):
   * the CA's bundle (Certificate `model-server-ca` in the gateway's namespace, after `dependsOn`,
   * the model CA issuer) is mounted, and the gateway trusts it alone for its calls to model
   * servers (`GATEWAY_MODEL_CA_FILE`). @default none: model routes are verified against the
   * public CAs (an in-cluster model server's certificate then fails)
   */
  readonly modelCa?: ModelCaBundle;
}

/** Where the gateway's model key Secret is mounted. */
export const MODEL_KEYS_DIR = "/etc/sovereign/model-api-keys";

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
/**
 * How the gateway logs in to Postgres: as the IAM-authenticated role with a fresh token per
 * connection (`GATEWAY_PG_AUTH=rds-iam`, no password anywhere), or with the login Secret.
 */
export function postgresLoginEnv(
  iamAuth: { readonly user: string } | undefined,
  secretName: string | undefined,
): k8s.types.input.core.v1.EnvVar[] {
  if (iamAuth)
    return [
      { name: "GATEWAY_PG_AUTH", value: "rds-iam" },
      { name: "PGUSER", value: iamAuth.user },
    ];
  if (!secretName)
    throw new Error("gateway: expected a Postgres login Secret or IAM authentication, found neither");
  return [
    { name: "PGUSER", valueFrom: { secretKeyRef: { name: secretName, key: "username" } } },
    { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: secretName, key: "password" } } },
  ];
}

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
  if (Object.keys(args.modelApiKeys ?? {}).length > 0)
    env.GATEWAY_MODEL_API_KEYS_FILE = `${MODEL_KEYS_DIR}/${GATEWAY_MODEL_KEYS_FILE}`;
  if (args.modelCa) env.GATEWAY_MODEL_CA_FILE = MODEL_CA_FILE;
  if (gatewayTlsSecret(args.tls)) {
    env.GATEWAY_TLS_CERT_FILE = `${TLS_DIR}/tls.crt`;
    env.GATEWAY_TLS_KEY_FILE = `${TLS_DIR}/tls.key`;
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
  const tls = gatewayTlsSecret(args.tls) !== undefined;
  const port = tls ? "https" : "http";
  const probe = (path: string) => ({ httpGet: { path, port, scheme: tls ? "HTTPS" : "HTTP" } });
  return {
    name: "gateway",
    image: args.substrate.registryMirrors.apply((m) => mirrorImage(args.image, m)),
    imagePullPolicy: "IfNotPresent",
    ports: [
      { name: port, containerPort: GATEWAY_PORT, protocol: "TCP" },
      { name: SCRAPE_TARGETS.gateway.port, containerPort: GATEWAY_METRICS_PORT, protocol: "TCP" },
    ],
    env,
    resources: { requests: { cpu: args.cpuRequest ?? "500m", memory }, limits: { memory } },
    readinessProbe: { ...probe("/readyz"), periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { ...probe("/healthz"), periodSeconds: 10, failureThreshold: 3 },
    startupProbe: { ...probe("/healthz"), periodSeconds: 2, failureThreshold: 30 },
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
      ...(tls ? [{ name: "tls", mountPath: TLS_DIR, readOnly: true }] : []),
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

/** The container with `mounts` added after its own volume mounts (unchanged when there are none). */
export function withMounts(
  c: k8s.types.input.core.v1.Container,
  ...mounts: k8s.types.input.core.v1.VolumeMount[]
): k8s.types.input.core.v1.Container {
  if (mounts.length === 0) return c;
  return {
    ...c,
    volumeMounts: [...((c.volumeMounts ?? []) as k8s.types.input.core.v1.VolumeMount[]), ...mounts],
  };
}

/** The volume holding the Postgres CA bundle: the substrate's ConfigMap or Secret (`PostgresRootCert`). */
export function postgresCaVolume(rootCert: PostgresRootCert): k8s.types.input.core.v1.Volume {
  return "secretName" in rootCert
    ? {
        name: "postgres-ca",
        secret: { secretName: rootCert.secretName, items: [{ key: rootCert.key, path: rootCert.key }] },
      }
    : { name: "postgres-ca", configMap: { name: rootCert.configMapName } };
}

/**
 * Egress the pods need, nothing else; ingress on the http port, and on the metrics port from the
 * monitoring namespace only. Postgres and the object store are the substrate's egress targets;
 * the identity provider (OIDC discovery and keys) has no address the kit knows, so HTTPS to any
 * address stays open.
 */
export function gatewayNetworkPolicySpec(
  podLabels: Record<string, string>,
  objectStore: readonly EgressRule[],
  postgres: readonly EgressRule[],
  apiServer?: ApiServerPeers,
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
      // Postgres and the object store (with, on AWS, the Pod Identity agent) where the substrate has them.
      ...[...postgres, ...objectStore].map((r) => ({ to: [...r.to], ports: r.ports.map((p) => ({ ...p })) })),
      // The identity provider, wherever it is.
      { ports: [tcp(443)] },
      // The Kubernetes API where the substrate says it is, when routing discovers replicas.
      ...(apiServer ? [{ to: [...apiServer.peers], ports: apiServer.ports.map(tcp) }] : []),
    ],
  };
}

/**
 * What routing across replicas reads (gateway/src/routing/discovery.ts): the EndpointSlices of
 * the model servers' Services, listed and then watched. Nothing else of the Kubernetes API.
 */
export const GATEWAY_DISCOVERY_RULES: readonly {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}[] = [{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] }];

/** Namespaces of the in-cluster model servers the catalog routes to (sorted). */
export function discoveryNamespaces(catalog: Catalog): string[] {
  const out = new Set<string>();
  for (const u of Object.values(catalog.routes)) {
    const svc = inClusterService(u);
    // HTTP and HTTPS alike: an HTTPS replica, reached by address, must present its Service's name.
    if (svc) out.add(svc.namespace);
  }
  return [...out].sort();
}

/**
 * A Role per model namespace granting {@link GATEWAY_DISCOVERY_RULES}, and its RoleBinding to
 * the gateway's ServiceAccount: all the Kubernetes API access the gateway has.
 */
export function gatewayDiscoveryRbac(
  catalog: Catalog,
  gatewayNamespace: string,
  labels: Record<string, string>,
): {
  readonly namespace: string;
  readonly role: {
    metadata: ObjectMeta;
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  };
  readonly binding: {
    metadata: ObjectMeta;
    subjects: { kind: string; name: string; namespace: string }[];
    roleRef: { apiGroup: string; kind: string; name: string };
  };
}[] {
  return discoveryNamespaces(catalog).map((namespace) => ({
    namespace,
    role: {
      metadata: { name: GATEWAY_DISCOVERY_ROLE, namespace, labels },
      rules: GATEWAY_DISCOVERY_RULES.map((r) => ({
        apiGroups: [...r.apiGroups],
        resources: [...r.resources],
        verbs: [...r.verbs],
      })),
    },
    binding: {
      metadata: { name: GATEWAY_DISCOVERY_ROLE, namespace, labels },
      subjects: [{ kind: "ServiceAccount", name: GATEWAY_SERVICE_ACCOUNT, namespace: gatewayNamespace }],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: GATEWAY_DISCOVERY_ROLE },
    },
  }));
}

interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

/** Name of the discovery Role and RoleBinding in each model namespace. */
export const GATEWAY_DISCOVERY_ROLE = "sovereign-gateway-discovery";

/**
 * The ServiceAccount token the discovery uses, mounted where in-cluster clients look for it. The
 * pod keeps `automountServiceAccountToken: false` (no token for pods that do not call the API):
 * this projected volume is the gateway's explicit, short-lived (1 h, rotated by the kubelet) one.
 */
export const GATEWAY_API_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
export const gatewayApiTokenVolume: k8s.types.input.core.v1.Volume = {
  name: "kube-api-access",
  projected: {
    sources: [
      { serviceAccountToken: { path: "token", expirationSeconds: 3600 } },
      { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
    ],
  },
};

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
    const tlsProblem = gatewayTlsProblem(
      args.tls.mode === "issuer" ? { mode: "issuer", issuer: args.tls.issuer } : args.tls,
      args.requireTls,
    );
    if (tlsProblem) throw new Error(`gateway: tls.${tlsProblem.field}: ${tlsProblem.message}`);
    const tlsSecret = gatewayTlsSecret(args.tls);
    const scheme = tlsSecret ? "https" : "http";
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
    const db: PostgresConnection = s.connectPostgres(
      `${name}-postgres`,
      "gateway",
      this.namespace,
      { parent: this, dependsOn: [ns] },
      access,
    );
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
    const certificate =
      args.tls.mode === "issuer"
        ? new k8s.apiextensions.CustomResource(
            `${name}-certificate`,
            gatewayCertificate(args.tls.issuer, args.tls.dnsNames),
            { ...k, dependsOn: [...k.dependsOn, ns, ...(args.tls.dependsOn ?? [])] },
          )
        : undefined;
    // The model servers' keys: the gateway's own Secret (never the catalog ConfigMap).
    const keyModels = Object.keys(args.modelApiKeys ?? {}).sort();
    const keysSecret = keyModels.length
      ? new k8s.core.v1.Secret(
          `${name}-model-api-keys`,
          {
            metadata: { name: GATEWAY_MODEL_KEYS_SECRET, namespace: this.namespace, labels },
            type: "Opaque",
            stringData: {
              [GATEWAY_MODEL_KEYS_FILE]: pulumi.secret(
                pulumi
                  .all(keyModels.map((m) => pulumi.output(args.modelApiKeys![m])))
                  .apply((keys) =>
                    gatewayModelKeysJson(Object.fromEntries(keyModels.map((m, i) => [m, keys[i]]))),
                  ),
              ),
            },
          },
          k,
        )
      : undefined;
    // The model CA's bundle: its `ca.crt` is what the gateway verifies model servers with.
    const modelCaBundle = args.modelCa
      ? new k8s.apiextensions.CustomResource(
          `${name}-model-server-ca`,
          modelCaBundleCertificate(PLATFORM_NAMESPACES.gateway),
          {
            ...k,
            dependsOn: [...k.dependsOn, ns, ...(args.modelCa.dependsOn ?? [])],
          },
        )
      : undefined;
    // Routing reads the model servers' EndpointSlices: list and watch there, nothing else.
    const discovery = gatewayDiscoveryRbac(args.catalog, PLATFORM_NAMESPACES.gateway, labels);
    for (const d of discovery) {
      const namespace = args.namespaces?.[d.namespace] ?? d.namespace;
      const role = new k8s.rbac.v1.Role(
        `${name}-discovery-${d.namespace}`,
        { ...d.role, metadata: { ...d.role.metadata, namespace } },
        k,
      );
      new k8s.rbac.v1.RoleBinding(
        `${name}-discovery-${d.namespace}`,
        { ...d.binding, metadata: { ...d.binding.metadata, namespace } },
        { ...k, dependsOn: [...k.dependsOn, role] },
      );
    }
    const env = pulumi
      .all([db.host, db.port, db.secretName, s.objectStore.buckets.inferenceLogs, access.env])
      .apply(([host, port, secretName, bucket, s3env]) => [
        ...gatewayEnv(
          args,
          { host, port, database: db.database, sslMode: db.sslMode },
          bucket,
          s.objectStore.forcePathStyle,
        ),
        ...postgresLoginEnv(db.iamAuth, secretName),
        { name: "PGSSLROOTCERT", value: `${PG_CA_DIR}/${db.rootCert.key}` },
        { name: "GATEWAY_INSTANCE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        ...s3env,
      ]);
    // The object store's private CA (in-cluster), where `access.env` points NODE_EXTRA_CA_CERTS.
    const objectStoreCa = objectStoreCaMounts(access.caBundle);
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
              containers: [
                withMounts(
                  gatewayContainer(args, env as unknown as k8s.types.input.core.v1.EnvVar[]),
                  // The Postgres CA bundle where `PGSSLROOTCERT` points (verify-full).
                  { name: "postgres-ca", mountPath: PG_CA_DIR, readOnly: true },
                  // The object store's CA (none where the store has a public certificate).
                  ...objectStoreCa.volumeMounts,
                  ...(keysSecret
                    ? [{ name: "model-api-keys", mountPath: MODEL_KEYS_DIR, readOnly: true }]
                    : []),
                  // The model CA, where GATEWAY_MODEL_CA_FILE points.
                  ...(modelCaBundle
                    ? [{ name: "model-server-ca", mountPath: MODEL_CA_DIR, readOnly: true }]
                    : []),
                  // The API token, where routing discovers replicas in `namespaces`.
                  ...(discovery.length > 0
                    ? [{ name: gatewayApiTokenVolume.name, mountPath: GATEWAY_API_TOKEN_DIR, readOnly: true }]
                    : []),
                ),
              ],
              volumes: [
                { name: "catalog", configMap: { name: catalogCm.metadata.name } },
                ...(keysSecret
                  ? [
                      {
                        name: "model-api-keys",
                        secret: { secretName: keysSecret.metadata.name, defaultMode: 0o440 },
                      },
                    ]
                  : []),
                ...(policyCm ? [{ name: "policy", configMap: { name: policyCm.metadata.name } }] : []),
                ...(modelCaBundle ? [modelCaVolume() as k8s.types.input.core.v1.Volume] : []),
                { name: "spill", emptyDir: { sizeLimit: args.spillSize ?? "2Gi" } },
                { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } },
                ...(discovery.length ? [gatewayApiTokenVolume] : []),
                postgresCaVolume(db.rootCert),
                ...objectStoreCa.volumes,
                ...(tlsSecret
                  ? [
                      {
                        name: "tls",
                        secret: {
                          secretName: tlsSecret,
                          items: [
                            { key: "tls.crt", path: "tls.crt" },
                            { key: "tls.key", path: "tls.key" },
                          ],
                        },
                      },
                    ]
                  : []),
              ],
            },
          },
        },
      },
      {
        ...k,
        dependsOn: [
          ...k.dependsOn,
          ...access.dependsOn,
          ...db.dependsOn,
          ...(certificate ? [certificate] : []),
          ...(modelCaBundle ? [modelCaBundle] : []),
          ...(keysSecret ? [keysSecret] : []),
        ],
      },
    );
    const svc = new k8s.core.v1.Service(
      `${name}-service`,
      {
        metadata: { name: GATEWAY_SERVICE, namespace: this.namespace, labels },
        spec: {
          type: "ClusterIP",
          selector,
          ports: [
            { name: scheme, port: GATEWAY_PORT, targetPort: scheme, protocol: "TCP" },
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
          // HTTPS on 443 (TLS ends at the gateway pods, not the load balancer); 80 only without TLS (dev).
          ports: [{ name: scheme, port: tlsSecret ? 443 : 80, targetPort: scheme, protocol: "TCP" }],
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
    // Default-deny both ways for every pod of the namespace; the gateway's own flows below.
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol-default-deny`,
      {
        metadata: { name: "default-deny", namespace: this.namespace, labels },
        spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
      },
      k,
    );
    new k8s.networking.v1.NetworkPolicy(
      `${name}-netpol`,
      {
        metadata: { name: "gateway", namespace: this.namespace, labels },
        spec: pulumi
          .all([s.egressTargets.objectStore, s.egressTargets.postgres])
          .apply(([objectStore, postgres]) =>
            gatewayNetworkPolicySpec(
              selector,
              objectStore,
              postgres,
              discovery.length > 0 ? s.apiServer : undefined,
            ),
          ),
      },
      k,
    );
    this.url = pulumi.interpolate`${scheme}://${svc.metadata.name}.${this.namespace}.svc.cluster.local:${GATEWAY_PORT}`;
    this.loadBalancer = lb.status.apply(
      (st) => st?.loadBalancer?.ingress?.[0]?.hostname ?? st?.loadBalancer?.ingress?.[0]?.ip,
    );
    this.registerOutputs({ namespace: this.namespace, url: this.url, loadBalancer: this.loadBalancer });
  }
}
