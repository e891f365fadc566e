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
