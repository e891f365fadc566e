/**
 * cert-manager, pinned, and the stack's private certificate authority: a self-signed
 * ClusterIssuer signs one CA Certificate (its key stays in cert-manager's namespace), and a CA
 * ClusterIssuer signs the platform's serving certificates with it (the gateway's, see
 * `gatewayCertificate`). Clients trust the CA certificate (docs/gateway-tls.md). The constructor
 * is thin: the objects come from the pure functions below.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import { k8sLabels } from "../lib/labels";
import { KUEUE_CA } from "../lib/kueue-tls";
import { MODEL_CA } from "../lib/model-tls";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { ApiServerPeers, ChartNamespaceFlows } from "../lib/network-policy";
import { chartNamespacePolicyResources } from "./namespace-policies";
import { CHARTS, type ChartMirror, chartSource } from "../lib/versions";

/** A cert-manager issuer, as a Certificate's `issuerRef` names it. */
export interface IssuerRef {
  readonly name: string;
  readonly kind: "Issuer" | "ClusterIssuer";
  /** @default cert-manager.io */
  readonly group?: string;
}

/** Names of a private CA's objects: two cluster-scoped issuers, a CA Certificate and its Secret. */
export interface PrivateCaNames {
  /** The self-signed ClusterIssuer that signs the CA certificate. */
  readonly selfSignedIssuer: string;
  /** The CA Certificate (in cert-manager's namespace). */
  readonly certificate: string;
  /** Its Secret (`tls.crt`, `tls.key`, `ca.crt`): the CA key never leaves cert-manager's namespace. */
  readonly secret: string;
  /** The CA ClusterIssuer that signs with it. */
  readonly issuer: string;
}

/** Names of the private CA's objects (cluster-scoped issuers; the CA Secret in cert-manager's namespace). */
export const PRIVATE_CA: PrivateCaNames = {
  selfSignedIssuer: "sovereign-selfsigned",
  certificate: "sovereign-ca",
  secret: "sovereign-ca",
  issuer: "sovereign-ca",
};

/** The issuer that signs with the stack's private CA. */
export const PRIVATE_CA_ISSUER: IssuerRef = {
  name: PRIVATE_CA.issuer,
  kind: "ClusterIssuer",
  group: "cert-manager.io",
};

/** One cert-manager object as plain data (apiVersion, kind, metadata, spec). */
export interface CertManagerObject {
  readonly apiVersion: "cert-manager.io/v1";
  readonly kind: "ClusterIssuer" | "Issuer" | "Certificate";
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly spec: Record<string, unknown>;
}

/**
 * The private CA: self-signed ClusterIssuer → CA Certificate (ECDSA P-256, ten years; renewal
 * keeps the key, so a client that trusts the CA certificate keeps trusting its renewals) → CA
 * ClusterIssuer. `commonName` names the stack, so clients can tell two stacks' CAs apart.
 */
export function privateCaObjects(
  commonName: string,
  namespace: string = PLATFORM_NAMESPACES.certManager,
  names: PrivateCaNames = PRIVATE_CA,
): CertManagerObject[] {
  const labels = k8sLabels("private-ca", names.certificate);
  return [
    {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: names.selfSignedIssuer, labels },
      spec: { selfSigned: {} },
    },
    {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: names.certificate, namespace, labels },
      spec: {
        isCA: true,
        commonName,
        subject: { organizations: ["sovereign"] },
        secretName: names.secret,
        duration: "87600h",
        renewBefore: "720h",
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Never" },
        usages: ["cert sign", "crl sign", "digital signature"],
        issuerRef: { name: names.selfSignedIssuer, kind: "ClusterIssuer", group: "cert-manager.io" },
      },
    },
    {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: names.issuer, labels },
      spec: { ca: { secretName: names.secret } },
    },
  ];
}

/**
 * Values of the cert-manager chart: CRDs with the release (kept on uninstall), HA when asked, every
 * image pinned and mirrored, and its ClusterRoles not aggregated into Kubernetes' user-facing
 * roles. The kit's ClusterIssuers (the model CA, the gateway's and the data CA) sign for any
 * namespace and cert-manager approves every request, so the chart's default (`edit` and `admin`
 * may create Certificates) let anyone who edits any namespace get a certificate the gateway,
 * Prometheus or the flywheel trust for a model server's or Postgres' host.
 */
export function certManagerValues(replicas = 1, mirrors: RegistryMirrors = {}): Record<string, unknown> {
  const small = (cpu: string, memory: string, limit: string) => ({
    requests: { cpu, memory },
    limits: { memory: limit },
  });
  return withChartImages(
    {
      crds: { enabled: true, keep: true },
      global: { rbac: { aggregateClusterRoles: false } },
      replicaCount: replicas,
      podDisruptionBudget: { enabled: replicas > 1, minAvailable: 1 },
      resources: small("20m", "64Mi", "256Mi"),
      webhook: {
        replicaCount: replicas,
        podDisruptionBudget: { enabled: replicas > 1, minAvailable: 1 },
        resources: small("10m", "32Mi", "128Mi"),
      },
      cainjector: { replicaCount: 1, resources: small("10m", "64Mi", "256Mi") },
      startupapicheck: { resources: small("10m", "32Mi", "64Mi") },
    },
    CHART_IMAGES.certManager,
    mirrors,
  );
}

/**
 * The flows of cert-manager's namespace besides DNS and the API server: the API server calls
 * the webhook on its container port (`https`, 10250 in the pinned chart; a chart test checks
 * it). With the private CA cert-manager signs in-cluster and needs nothing else; with a
 * customer's issuer (ACME, Vault, a cloud CA) the controller reaches it on 443 (and 80, ACME's
 * HTTP-01 self-check), at addresses only the customer knows. Nothing scrapes cert-manager.
 */
export function certManagerFlows(privateCa: boolean): ChartNamespaceFlows {
  const controller = {
    "app.kubernetes.io/component": "controller",
    "app.kubernetes.io/instance": "cert-manager",
  };
  return {
    namespace: PLATFORM_NAMESPACES.certManager,
    fromApiServer: [
      {
        pods: { "app.kubernetes.io/component": "webhook", "app.kubernetes.io/instance": "cert-manager" },
        ports: [10250],
      },
    ],
    ...(privateCa
      ? {}
      : { egress: [{ pods: controller, to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [80, 443] }] }),
  };
}

export interface CertManagerArgs {
  /** The API server as NetworkPolicy peers (`substrate.apiServer`): the namespace is default-deny. */
  readonly apiServer: ApiServerPeers;
  /** Controller and webhook replicas (2 for HA in prod). @default 1 */
  readonly replicas?: number;
  /** Registry mirrors every cert-manager image is pulled through (`substrate.registryMirrors`). @default {} */
  readonly registryMirrors?: pulumi.Input<RegistryMirrors>;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
  /** Create the private CA with this common name. @default none (a customer issuer only) */
  readonly privateCaName?: string;
  /**
   * Certificates are signed by issuers outside the cluster (ACME, Vault), so the controller may
   * reach any address on 80 and 443. @default true unless `privateCaName` is set
   */
  readonly externalIssuers?: boolean;
  /**
   * cert-manager is already installed (the existing-cluster substrate installs it for its data
   * services' certificates): no namespace and no release here, only the private CA, after these.
   * @default undefined (install cert-manager)
   */
  readonly installed?: readonly pulumi.Resource[];
  /**
   * Create the model CA (`MODEL_CA`, components/lib/model-tls.ts) with this common name: the
   * issuer of the model servers' certificates. @default none
   */
  readonly modelCaName?: string;
  /**
   * Create the Kueue CA (`KUEUE_CA`, components/lib/kueue-tls.ts) with this common name: the
   * issuer of Kueue's webhook, visibility and metrics certificates. @default none
   */
  readonly kueueCaName?: string;
}

export class CertManager extends pulumi.ComponentResource {
  /** The release, unless cert-manager was already installed (`installed`). */
  readonly release: k8s.helm.v3.Release | undefined;
  /** What a Certificate of the platform must wait for: the release (CRDs, webhook) and the CA issuer. */
  readonly ready: pulumi.Resource[];
  /** What a model server's or caller's Certificate waits for: the release and the model CA issuer. */
  readonly modelCaReady: pulumi.Resource[];
  /** What Kueue's release and a Kueue CA bundle wait for: the release and the Kueue CA issuer. */
  readonly kueueCaReady: pulumi.Resource[];

  constructor(name: string, args: CertManagerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:CertManager", name, {}, opts);
    this.release = args.installed ? undefined : this.install(name, args);
    const installed = args.installed ? [...args.installed] : [this.release!];
    this.ready = installed;
    if (args.privateCaName !== undefined) {
      let prev: pulumi.Resource[] = installed;
      for (const o of privateCaObjects(args.privateCaName)) {
        prev = [
          new k8s.apiextensions.CustomResource(`${name}-${o.kind.toLowerCase()}-${o.metadata.name}`, o, {
            parent: this,
            dependsOn: prev,
          }),
        ];
      }
      this.ready = [...installed, ...prev];
    }
    this.modelCaReady =
      args.modelCaName === undefined
        ? installed
        : this.ca(`${name}-model-ca`, args.modelCaName, MODEL_CA, installed);
    this.kueueCaReady =
      args.kueueCaName === undefined
        ? installed
        : this.ca(`${name}-kueue-ca`, args.kueueCaName, KUEUE_CA, installed);
    this.registerOutputs({});
  }

  /** A private CA of its own (`privateCaObjects`), one object after the other; what waits for its issuer. */
  private ca(
    prefix: string,
    commonName: string,
    names: PrivateCaNames,
    installed: pulumi.Resource[],
  ): pulumi.Resource[] {
    let prev: pulumi.Resource[] = installed;
    for (const o of privateCaObjects(commonName, PLATFORM_NAMESPACES.certManager, names)) {
      prev = [
        new k8s.apiextensions.CustomResource(`${prefix}-${o.kind.toLowerCase()}-${o.metadata.name}`, o, {
          parent: this,
          dependsOn: prev,
        }),
      ];
    }
    return [...installed, ...prev];
  }

  private install(name: string, args: CertManagerArgs): k8s.helm.v3.Release {
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: PLATFORM_NAMESPACES.certManager,
          labels: k8sLabels("cert-manager", name, { "pod-security.kubernetes.io/enforce": "restricted" }),
        },
      },
      { parent: this },
    );
    // Default-deny both ways plus exactly the flows above, before the chart installs (its
    // startup check and webhook run under them).
    const policies = chartNamespacePolicyResources(
      name,
      certManagerFlows(!(args.externalIssuers ?? args.privateCaName === undefined)),
      args.apiServer,
      { parent: this, dependsOn: [ns] },
    );
    return new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "cert-manager",
        ...chartSource(CHARTS.certManager, args.chartMirror),
        namespace: ns.metadata.name,
        values: pulumi
          .output(args.registryMirrors ?? {})
          .apply((m) => certManagerValues(args.replicas ?? 1, m)),
        maxHistory: 5,
      },
      { parent: this, dependsOn: [ns, ...policies] },
    );
  }
}

/**
 * A caller's model CA bundle (a component's `modelCa` arg: a Certificate of the model CA in the
 * caller's namespace, components/lib/model-tls.ts).
 */
export interface ModelCaBundle {
  /** What its Certificate waits for: cert-manager and the model CA issuer. @default [] */
  readonly dependsOn?: readonly pulumi.Resource[];
}
