/**
 * TLS of Kueue's controller manager (docs/observability.md, "Kueue"): names and cert-manager
 * objects (pure). The pinned Kueue chart (0.19, `enableCertManager` with `certManager.issuerRef`)
 * asks cert-manager for its three serving certificates (admission and conversion webhooks, the
 * visibility API, the secure metrics endpoint) instead of generating them itself. The kit points
 * it at the stack's **Kueue CA**, a private CA of its own (cert-manager; its key never leaves
 * cert-manager's namespace):
 *
 *   - the chart's Certificate `kueue-metrics-cert` names the metrics Service
 *     (`kueue-controller-manager-metrics-service.kueue-system.svc` and `….svc.cluster.local`);
 *     the controller manager serves /metrics with it (and still asks every scraper for a
 *     Kubernetes token);
 *   - cert-manager's CA injector writes the CA into the webhook configurations, the CRDs'
 *     conversion webhooks and the visibility APIService (the chart annotates them);
 *   - Prometheus's namespace: Certificate `kueue-metrics-ca`, whose Secret's `ca.crt` is the
 *     Kueue CA (cert-manager writes the issuing CA into every Secret a CA issuer signs);
 *     Prometheus verifies the metrics endpoint with it and checks the Service's name.
 *
 * A separate CA, not the model CA: whoever trusts the model CA (the gateway, the flywheel) trusts
 * model servers only.
 */
import { caBundleCertificate, caCommonName, type CaCertificate } from "./stack-ca";
import { PLATFORM_NAMESPACES } from "./naming";

/** Names of the Kueue CA's objects (cluster-scoped issuers; the CA Secret in cert-manager's namespace). */
export const KUEUE_CA = {
  selfSignedIssuer: "sovereign-kueue-selfsigned",
  certificate: "sovereign-kueue-ca",
  secret: "sovereign-kueue-ca",
  issuer: "sovereign-kueue-ca",
} as const;

/** The ClusterIssuer the Kueue chart's certificates come from (its `certManager.issuerRef`). */
export const KUEUE_CA_ISSUER = {
  name: KUEUE_CA.issuer,
  kind: "ClusterIssuer",
  group: "cert-manager.io",
} as const;

/** The Kueue CA's common name (`caCommonName`). */
export function kueueCaCommonName(stack: string): string {
  return caCommonName(stack, "Kueue CA");
}

/** The Kueue Helm release's name (the chart names its objects after it). */
export const KUEUE_RELEASE = "kueue";

/** The chart's metrics Service (`<fullname>-controller-manager-metrics-service`). */
export const KUEUE_METRICS_SERVICE = `${KUEUE_RELEASE}-controller-manager-metrics-service`;

/**
 * The name Prometheus checks the metrics certificate against: the metrics Service's, one of the
 * two the chart's metrics Certificate carries (it scrapes the pod addresses behind the Service).
 */
export const KUEUE_METRICS_SERVER_NAME = `${KUEUE_METRICS_SERVICE}.${PLATFORM_NAMESPACES.kueue}.svc`;

/** The Secret (and its Certificate) in Prometheus's namespace whose `ca.crt` is the Kueue CA. */
export const KUEUE_CA_BUNDLE_SECRET = "kueue-metrics-ca";
/** Its key: the CA certificate (PEM). */
export const KUEUE_CA_BUNDLE_KEY = "ca.crt";

/**
 * The Kueue CA's bundle in a scraper's namespace: only its `ca.crt` is used; the certificate
 * itself authenticates nobody (the metrics endpoint authenticates with tokens).
 */
export function kueueCaBundleCertificate(namespace: string): CaCertificate {
  return caBundleCertificate({
    secret: KUEUE_CA_BUNDLE_SECRET,
    namespace,
    component: "kueue-tls",
    issuer: KUEUE_CA_ISSUER,
  });
}
