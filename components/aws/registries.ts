/**
 * ECR pull-through cache planning (pure, no Pulumi imports): which upstream registries the
 * kit's images come from, and the prefix each is pulled through in the account's ECR.
 */
import { registryOf } from "../lib/images";

/** Upstream registries ECR pull-through cache supports, keyed by the host images name. */
export const PULL_THROUGH_UPSTREAMS: Readonly<
  Record<string, { readonly prefix: string; readonly upstream: string; readonly needsCredential: boolean }>
> = {
  "docker.io": { prefix: "docker-hub", upstream: "registry-1.docker.io", needsCredential: true },
  "ghcr.io": { prefix: "github", upstream: "ghcr.io", needsCredential: true },
  "quay.io": { prefix: "quay", upstream: "quay.io", needsCredential: false },
  "registry.k8s.io": { prefix: "k8s", upstream: "registry.k8s.io", needsCredential: false },
  "public.ecr.aws": { prefix: "ecr-public", upstream: "public.ecr.aws", needsCredential: false },
};

/** The pull-through mirror prefix per supported upstream registry, for one ECR host. */
export function pullThroughMirrors(ecrHost: string, registries?: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    Object.entries(PULL_THROUGH_UPSTREAMS)
      .filter(([reg]) => registries === undefined || registries.includes(reg))
      .map(([reg, up]) => [reg, `${ecrHost}/${up.prefix}`]),
  );
}

export interface PullThroughPlan {
  /** Registries that get a cache rule. */
  readonly rules: readonly { registry: string; prefix: string; upstream: string; credentialArn?: string }[];
  /** Registries the images use that cannot be cached (unsupported, or no credential given). */
  readonly uncovered: readonly string[];
}

/** Which pull-through cache rules the images need. */
export function pullThroughPlan(
  images: readonly string[],
  credentialArns: Readonly<Record<string, string>>,
): PullThroughPlan {
  const registries = [...new Set(images.map(registryOf))].sort();
  const rules: PullThroughPlan["rules"][number][] = [];
  const uncovered: string[] = [];
  for (const registry of registries) {
    const up = PULL_THROUGH_UPSTREAMS[registry];
    const credentialArn = credentialArns[registry];
    if (!up || (up.needsCredential && credentialArn === undefined)) uncovered.push(registry);
    else
      rules.push({
        registry,
        prefix: up.prefix,
        upstream: up.upstream,
        ...(credentialArn ? { credentialArn } : {}),
      });
  }
  return { rules, uncovered };
}
