/**
 * Naming helpers shared by every component. Child resources are named `${parent}-<role>`.
 */

/** Name of a child resource: `${parent}-${role}`. */
export function childName(parent: string, role: string): string {
  return `${parent}-${role}`;
}

/** True when `s` is a valid DNS-1123 label (Kubernetes names, namespaces). */
export function isDnsLabel(s: string): boolean {
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) && s.length <= 63;
}

/**
 * True when `s` is a valid S3 bucket name (DNS-compatible, 3-63 chars, no dots
 * so virtual-hosted TLS works, not shaped like an IP address).
 */
export function isBucketName(s: string): boolean {
  return (
    s.length >= 3 &&
    s.length <= 63 &&
    /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(s) &&
    !s.includes("--") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(s) &&
    !s.startsWith("xn--") &&
    !s.endsWith("-s3alias")
  );
}

/** The namespace a team's workloads live in. */
export function teamNamespace(team: string): string {
  return `team-${team}`;
}

/** Platform namespaces (one per concern) used by the platform layer. */
export const PLATFORM_NAMESPACES = {
  serving: "sovereign-serving",
  gateway: "sovereign-gateway",
  policy: "sovereign-policy",
  monitoring: "sovereign-monitoring",
  system: "sovereign-system",
  data: "sovereign-data",
  gpu: "sovereign-gpu",
  keda: "keda",
  certManager: "cert-manager",
  kueue: "kueue-system",
  gatekeeper: "gatekeeper-system",
  training: "sovereign-training",
} as const;

/** EKS cluster name of a stack (also prefixes account-unique names: the RDS identifier, KMS aliases). */
export function clusterNameOf(stack: string): string {
  return `sovereign-${stack}`;
}

/*
 * What the API server and AWS accept, as one-line problems (undefined: accepted). The config
 * rules run them on the names the program builds, before anything is registered; the seam test
 * runs them on what the program registered.
 */

const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What a string holds that a name may not: spaces, non-ASCII letters, emoji. */
function oddCharacters(s: string): string {
  const odd: string[] = [];
  if (/\s/.test(s)) odd.push("spaces");
  if (/\p{Extended_Pictographic}/u.test(s)) odd.push("emoji");
  else if (/[^ -~]/.test(s.replace(/\s/g, ""))) odd.push("non-ASCII letters");
  return odd.length > 0 ? ` (it has ${odd.join(" and ")})` : "";
}

/** A Kubernetes label value: at most 63 of A-Z a-z 0-9 - _ ., starting and ending alphanumeric, or empty. */
export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return `a Kubernetes label value of at most 63 characters, found ${v.length}`;
  if (!LABEL_VALUE.test(v))
    return `a Kubernetes label value (letters A-Z a-z, digits, '-', '_', '.', starting and ending with a letter or digit)${oddCharacters(v)}`;
  return undefined;
}

/** A DNS-1123 label (namespaces, most object names): at most 63 of a-z 0-9 -. */
export function dnsLabelProblem(v: string): string | undefined {
  if (v.length > 63) return `a DNS-1123 label of at most 63 characters, found ${v.length}`;
  if (!DNS_LABEL.test(v))
    return `a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)${oddCharacters(v)}`;
  return undefined;
}

/** A Postgres identifier (a role name): at most 63 bytes (NAMEDATALEN - 1; a longer one is cut). */
export function postgresIdentifierProblem(v: string): string | undefined {
  const n = Buffer.byteLength(v, "utf8");
  if (n > 63) return `a Postgres role name of at most 63 bytes, found ${n}`;
  return undefined;
}

/** A DNS-1123 subdomain (ConfigMaps, StorageClasses, CRD objects): at most 253 of a-z 0-9 - . */
export function dnsSubdomainProblem(v: string): string | undefined {
  if (v.length > 253) return `a DNS-1123 subdomain of at most 253 characters, found ${v.length}`;
  if (!DNS_SUBDOMAIN.test(v))
    return `a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')${oddCharacters(v)}`;
  return undefined;
}

/** A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63. */
export function qualifiedNameProblem(k: string): string | undefined {
  const slash = k.lastIndexOf("/");
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== undefined && dnsSubdomainProblem(prefix))
    return `a key whose prefix "${prefix}" is a DNS subdomain${oddCharacters(prefix)}`;
  if (name.length === 0 || name.length > 63 || !LABEL_VALUE.test(name))
    return `a key name of 1 to 63 of A-Z a-z 0-9 '-' '_' '.', starting and ending alphanumeric${oddCharacters(name)}`;
  return undefined;
}

/** An EKS cluster name: 1 to 100 of A-Z a-z 0-9 - _, starting alphanumeric. */
export function eksClusterNameProblem(v: string): string | undefined {
  if (v.length < 1 || v.length > 100)
    return `an EKS cluster name of at most 100 characters, found ${v.length}`;
  if (!/^[0-9A-Za-z][A-Za-z0-9_-]*$/.test(v))
    return `an EKS cluster name (letters, digits, '-' and '_' only)${oddCharacters(v)}`;
  return undefined;
}

/** An RDS DB instance identifier: 1 to 63 of letters, digits and single '-', starting with a letter. */
export function rdsIdentifierProblem(v: string): string | undefined {
  if (v.length < 1 || v.length > 63)
    return `an RDS instance identifier of at most 63 characters, found ${v.length}`;
  if (!/^[A-Za-z]([A-Za-z0-9]|-(?!-))*$/.test(v) || v.endsWith("-"))
    return `an RDS instance identifier (letters, digits and single '-', starting with a letter)${oddCharacters(v)}`;
  return undefined;
}

/** An IAM role name prefix the provider completes with a 26-character suffix: at most 38 of [\w+=,.@-]. */
export function iamRoleNamePrefixProblem(v: string): string | undefined {
  if (v.length < 1 || v.length > 38)
    return `an IAM role name prefix of at most 38 characters, found ${v.length}`;
  if (!/^[\w+=,.@-]+$/.test(v)) return `an IAM role name (letters, digits and +=,.@_-)${oddCharacters(v)}`;
  return undefined;
}

/** An S3 bucket name: {@link isBucketName}. */
export function bucketNameProblem(v: string): string | undefined {
  return isBucketName(v)
    ? undefined
    : `an S3 bucket name (3 to 63 lowercase letters, digits and single '-')${oddCharacters(v)}`;
}

/** An AWS tag value: at most 256 of Unicode letters, digits, spaces and _ . : / = + - @ (no emoji). */
export function awsTagValueProblem(v: string): string | undefined {
  if ([...v].length > 256) return `an AWS tag value of at most 256 characters, found ${[...v].length}`;
  if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(v))
    return `an AWS tag value (letters, digits, spaces and _ . : / = + - @)${oddCharacters(v)}`;
  return undefined;
}
