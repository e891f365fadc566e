/**
 * A stack's private CAs (cert-manager): their common names, and the CA bundle a namespace gets
 * of one (pure).
 */
import { k8sLabels } from "./labels";

/**
 * The common name of one of a stack's private CAs: `sovereign <stack> <what>`, or `<stack>
 * <what>` cut to 64 characters where that is longer. cert-manager's webhook refuses a Certificate
 * whose commonName is over 64 characters (X.509's upper bound), and Pulumi allows stack names of
 * 100.
 */
export function caCommonName(stack: string, what: "CA" | "data CA" | "model CA" | "Kueue CA"): string {
  const full = `sovereign ${stack} ${what}`;
  return full.length <= 64 ? full : `${stack} ${what}`.slice(0, 64);
}

/** A cert-manager Certificate as the kit renders it. */
export interface CaCertificate {
  readonly apiVersion: "cert-manager.io/v1";
  readonly kind: "Certificate";
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
  };
  readonly spec: Record<string, unknown>;
}

/**
 * A CA's bundle in a caller's namespace: a Certificate from the CA's issuer whose Secret's
 * `ca.crt` is the CA (cert-manager writes the issuing CA into every Secret a CA issuer signs).
 * Only `ca.crt` is used; the certificate itself authenticates nobody. 90 days, renewed 30 days
 * before with a new key, so a renewed CA reaches the namespace.
 */
export function caBundleCertificate(o: {
  /** The Certificate's and its Secret's name. */
  readonly secret: string;
  readonly namespace: string;
  /** The `app.kubernetes.io/component` of its labels. */
  readonly component: string;
  readonly issuer: { readonly name: string; readonly kind: string; readonly group: string };
}): CaCertificate {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: o.secret, namespace: o.namespace, labels: k8sLabels(o.component, o.namespace) },
    spec: {
      secretName: o.secret,
      commonName: `${o.secret}.${o.namespace}`,
      duration: "2160h",
      renewBefore: "720h",
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["client auth", "digital signature"],
      issuerRef: { ...o.issuer },
    },
  };
}
