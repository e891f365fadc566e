/**
 * TLS to the model servers (docs/architecture.md, "Transport"): names and cert-manager objects
 * (pure). Every model server serves HTTPS with a certificate from the stack's **model CA**, a
 * private CA of its own (cert-manager; its key never leaves cert-manager's namespace), and every
 * caller verifies it against that CA alone and checks the host name:
 *
 *   - the server: Certificate `model-<model>-tls` in the serving namespace (its Service's names,
 *     plus {@link MODEL_SCRAPE_SERVER_NAME} for Prometheus, which scrapes pod addresses);
 *   - a caller's namespace: Certificate `model-server-ca`, whose Secret's `ca.crt` is the model
 *     CA (cert-manager writes the issuing CA into every Secret a CA issuer signs); the caller
 *     mounts that key only. The certificate itself authenticates nobody (the servers ask for no
 *     client certificate); it is how the CA reaches the namespace and stays current.
 *
 * A separate CA, not the gateway's or the data CA: a caller that trusts it trusts model servers
 * only, and it exists on every substrate whatever the gateway's TLS mode.
 */
import { caBundleCertificate, caCommonName, type CaCertificate } from "./stack-ca";
import { modelServiceName } from "./endpoints";
import { k8sLabels } from "./labels";
import { PLATFORM_NAMESPACES } from "./naming";

/** Names of the model CA's objects (cluster-scoped issuers; the CA Secret in cert-manager's namespace). */
export const MODEL_CA = {
  selfSignedIssuer: "sovereign-model-selfsigned",
  certificate: "sovereign-model-ca",
  secret: "sovereign-model-ca",
  issuer: "sovereign-model-ca",
} as const;

/** The model CA's common name (`caCommonName`). */
export function modelCaCommonName(stack: string): string {
  return caCommonName(stack, "model CA");
}

/** The ClusterIssuer that signs the model servers' certificates and the callers' CA bundles. */
export const MODEL_CA_ISSUER = {
  name: MODEL_CA.issuer,
  kind: "ClusterIssuer",
  group: "cert-manager.io",
} as const;

/** The name of the model servers' HTTPS port (container and Service). */
export const MODEL_SERVER_PORT_NAME = "https";

/**
 * A name every model server's certificate carries besides its Service's: Prometheus scrapes
 * pod addresses with one TLS server name for all model servers. `.invalid` never resolves and
 * no Service can take it, so it names no address a caller could be sent to.
 */
export const MODEL_SCRAPE_SERVER_NAME = "model-servers.sovereign-serving.invalid";

/** The Secret with a model server's certificate and key (in the serving namespace). */
export function modelTlsSecretName(model: string): string {
  return `${modelServiceName(model)}-tls`;
}

/** The fully qualified name callers connect to and check the certificate against. */
export function modelServerHost(model: string, namespace: string = PLATFORM_NAMESPACES.serving): string {
  return `${modelServiceName(model)}.${namespace}.svc.cluster.local`;
}

/** Every name a model server's certificate carries: its Service's, then the scrape name. */
export function modelServerDnsNames(
  model: string,
  namespace: string = PLATFORM_NAMESPACES.serving,
): string[] {
  const svc = modelServiceName(model);
  return [
    svc,
    `${svc}.${namespace}`,
    `${svc}.${namespace}.svc`,
    modelServerHost(model, namespace),
    MODEL_SCRAPE_SERVER_NAME,
  ];
}

/** The Secret (and its Certificate) in a caller's namespace whose `ca.crt` is the model CA. */
export const MODEL_CA_BUNDLE_SECRET = "model-server-ca";
/** Its key: the CA certificate (PEM). */
export const MODEL_CA_BUNDLE_KEY = "ca.crt";
/** Where callers mount the bundle (the key alone, never the Secret's `tls.key`). */
export const MODEL_CA_DIR = "/etc/sovereign/model-server-ca";
export const MODEL_CA_FILE = `${MODEL_CA_DIR}/${MODEL_CA_BUNDLE_KEY}`;
/** Where the server mounts its certificate and key. */
export const MODEL_TLS_DIR = "/etc/sovereign/model-tls";

/** A cert-manager Certificate as plain data. */
export type ModelTlsCertificate = CaCertificate;

const issuerRef = () => ({ ...MODEL_CA_ISSUER });

/**
 * A model server's serving Certificate: ECDSA P-256, 90 days, renewed 30 days before with a new
 * key. The servers reload it without a restart (vLLM `--enable-ssl-refresh`, the simulator on
 * its own). Its names are subject alternative names only (what callers check): no commonName,
 * which cert-manager refuses over 64 characters (the host of a model named with 23 or more).
 */
export function modelServerCertificate(
  model: string,
  namespace: string = PLATFORM_NAMESPACES.serving,
): ModelTlsCertificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: modelTlsSecretName(model), namespace, labels: k8sLabels("model-tls", model) },
    spec: {
      secretName: modelTlsSecretName(model),
      dnsNames: modelServerDnsNames(model, namespace),
      duration: "2160h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["server auth", "digital signature", "key encipherment"],
      issuerRef: issuerRef(),
    },
  };
}

/** The CA bundle of a caller's namespace (see the file's comment: only its `ca.crt` is used). */
export function modelCaBundleCertificate(namespace: string): ModelTlsCertificate {
  return caBundleCertificate({
    secret: MODEL_CA_BUNDLE_SECRET,
    namespace,
    component: "model-tls",
    issuer: MODEL_CA_ISSUER,
  });
}

/** The volume of a caller's CA bundle: `ca.crt` only (not the bundle certificate's key). */
export function modelCaVolume(name = "model-server-ca"): Record<string, unknown> & { name: string } {
  return {
    name,
    secret: {
      secretName: MODEL_CA_BUNDLE_SECRET,
      items: [{ key: MODEL_CA_BUNDLE_KEY, path: MODEL_CA_BUNDLE_KEY }],
    },
  };
}
