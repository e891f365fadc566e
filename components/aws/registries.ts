/**
 * ECR pull-through cache planning (pure, no Pulumi imports): which upstream registries the
 * kit's images come from, and how an image is addressed through the account's cache.
 */

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

/** Registry host of an image reference (`docker.io` when none is named). */
export function registryOf(image: string): string {
  const first = image.split("/")[0];
  return image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
    ? first
    : "docker.io";
}

/** The image as pulled through the account's ECR cache, or undefined for an unsupported registry. */
export function pullThroughImage(image: string, ecrHost: string): string | undefined {
  const reg = registryOf(image);
  const up = PULL_THROUGH_UPSTREAMS[reg];
  if (!up) return undefined;
  let rest = image.startsWith(`${reg}/`) ? image.slice(reg.length + 1) : image;
  if (reg === "docker.io" && !rest.includes("/")) rest = `library/${rest}`;
  return `${ecrHost}/${up.prefix}/${rest}`;
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
