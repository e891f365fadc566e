/**
 * The data services' certificates on the existing-cluster substrate: one long-lived CA per stack
 * (cert-manager, ten years, its key never leaves cert-manager's namespace), the serving
 * certificates of Postgres and the S3 API it signs, and one certificate per client namespace
 * whose Secret carries the CA (`ca.crt`) the clients verify the servers with. CloudNativePG's own
 * CA lives 90 days, so a client pinning it would break; this one outlives every renewal of the
 * serving certificates it signs. See docs/existing-cluster.md#tls.
 */
import { k8sLabels } from "../lib/labels";
import type { CertManagerObject, IssuerRef, PrivateCaNames } from "../platform/cert-manager";

/** Names of the data CA (distinct from the gateway's `sovereign-ca`, so both may exist). */
export const DATA_CA: PrivateCaNames = {
  selfSignedIssuer: "sovereign-data-selfsigned",
  certificate: "sovereign-data-ca",
  secret: "sovereign-data-ca",
  issuer: "sovereign-data-ca",
};

/** The ClusterIssuer that signs the data services' certificates and their clients'. */
export const DATA_CA_ISSUER: IssuerRef = {
  name: DATA_CA.issuer,
  kind: "ClusterIssuer",
  group: "cert-manager.io",
};

/** Key of the CA certificate in every Secret cert-manager writes for a CA issuer. */
export const CA_CERT_KEY = "ca.crt";

/** The names a Service answers to inside the cluster, shortest first. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

export interface ServingCertificateInput {
  readonly name: string;
  readonly namespace: string;
  readonly secretName: string;
  /** Every name clients connect to; the first fully qualified one becomes the common name. */
  readonly dnsNames: readonly string[];
  readonly issuer: IssuerRef;
  /** Labels cert-manager puts on the Secret (CloudNativePG reloads on `cnpg.io/reload`). @default {} */
  readonly secretLabels?: Readonly<Record<string, string>>;
}

const issuerRef = (i: IssuerRef) => ({ name: i.name, kind: i.kind, group: i.group ?? "cert-manager.io" });

/** A serving Certificate (ECDSA P-256, 90 days, renewed 30 days before, a new key each time). */
export function servingCertificate(c: ServingCertificateInput): CertManagerObject {
  if (c.dnsNames.length === 0)
    throw new Error(`certificate ${c.name}: expected at least one DNS name, found none`);
  const fqdn = c.dnsNames.find((n) => n.endsWith(".svc.cluster.local")) ?? c.dnsNames[0];
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: c.name, namespace: c.namespace, labels: k8sLabels("data-tls", c.name) },
    spec: {
      secretName: c.secretName,
      ...(c.secretLabels ? { secretTemplate: { labels: { ...c.secretLabels } } } : {}),
      commonName: fqdn,
      dnsNames: [...c.dnsNames],
      duration: "2160h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["server auth", "digital signature", "key encipherment"],
      issuerRef: issuerRef(c.issuer),
    },
  };
}

/**
 * A client Certificate in a client's namespace, for `commonName` (the Postgres role, or the
 * object-store identity). Its Secret's `ca.crt` is the data CA: the client mounts that key to
 * verify the servers. The certificate itself is not used to log in (docs/existing-cluster.md#tls
 * says why).
 */
export function clientCertificate(c: {
  readonly name: string;
  readonly namespace: string;
  readonly secretName: string;
  readonly commonName: string;
  readonly issuer: IssuerRef;
}): CertManagerObject {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: c.name, namespace: c.namespace, labels: k8sLabels("data-tls", c.name) },
    spec: {
      secretName: c.secretName,
      commonName: c.commonName,
      duration: "2160h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["client auth", "digital signature", "key encipherment"],
      issuerRef: issuerRef(c.issuer),
    },
  };
}
