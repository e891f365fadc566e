/**
 * Rules over every image a stack runs (the image plan, `../image-plan.ts`): each can be pulled
 * (without internet egress, through a mirror or an ECR pull-through cache) and each comes from a
 * registry `policy.allowedRegistries` admits, so admission never rejects the kit's own pods
 * after `pulumi up`.
 */
import { PULL_THROUGH_UPSTREAMS } from "../../../components/aws/registries";
import { mirrorFor, normalizeRegistry } from "../../../components/lib/images";
import type { ConfigIssue } from "../errors";
import { accountEcr, imageResolutions, type PlannedImage } from "../image-plan";
import type { StackConfig } from "../schema";
import { issue, type Rule } from "./helpers";

/** `a, b, c and 2 more` */
function listed(images: readonly PlannedImage[]): string {
  const refs = [...new Set(images.map((i) => i.image))];
  return refs.length > 3 ? `${refs.slice(0, 3).join(", ")} and ${refs.length - 3} more` : refs.join(", ");
}

/** Marker for "through the account's ECR pull-through cache". */
const PULL_THROUGH = "the account's ECR (pull-through cache)";

interface Resolution {
  readonly image: PlannedImage;
  /** Registry the cluster pulls from after mirrors, or PULL_THROUGH. */
  readonly from?: string;
  /** Upstream registry that nothing can reach, when unresolved. */
  readonly unreachable?: string;
}

function resolve(config: StackConfig): Resolution[] {
  return imageResolutions(config).map(({ image, registry, route }) => {
    switch (route) {
      case "mirror":
        return { image, from: normalizeRegistry(mirrorFor(registry, config.registryMirrors)!.split("/")[0]) };
      case "direct":
        return { image, from: registry };
      case "pull-through":
        return { image, from: PULL_THROUGH };
      case "unreachable":
        return { image, unreachable: registry };
    }
  });
}

/** Group resolutions by a key, keeping first-seen order. */
function groupBy(
  rs: readonly Resolution[],
  key: (r: Resolution) => string | undefined,
): Map<string, Resolution[]> {
  const out = new Map<string, Resolution[]>();
  for (const r of rs) {
    const k = key(r);
    if (k === undefined) continue;
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

/** Without internet egress, every image's registry is mirrored or cached by ECR. */
export const imagesReachable: Rule = ({ config }) => {
  const out: ConfigIssue[] = [];
  for (const [registry, rs] of groupBy(resolve(config), (r) => r.unreachable)) {
    const up = PULL_THROUGH_UPSTREAMS[registry];
    const how = up
      ? `ECR caches it only with network.registryCredentialArns."${registry}"`
      : "ECR pull-through cannot cache it";
    out.push(
      issue(
        "registryMirrors",
        `expected a mirror for "${registry}" with network.egress "private" (no route to it; ${how}), ` +
          `found none; it serves ${listed(rs.map((r) => r.image))}`,
      ),
    );
  }
  return out;
};

/** Every image, after mirrors, comes from a registry admission allows. */
export const imagesAllowed: Rule = ({ config }) => {
  const allowed = config.policy.allowedRegistries.map(normalizeRegistry);
  const region = config.substrate.kind === "aws" ? config.substrate.region : "";
  const ok = (from: string) =>
    from === PULL_THROUGH ? allowed.some((a) => accountEcr(region).test(a)) : allowed.includes(from);
  const out: ConfigIssue[] = [];
  for (const [from, rs] of groupBy(resolve(config), (r) => (r.from && !ok(r.from) ? r.from : undefined))) {
    const what = from === PULL_THROUGH ? `the account's ECR in ${region || "the region"}` : `"${from}"`;
    out.push(
      issue(
        "policy.allowedRegistries",
        `expected every image the stack runs to come from an allowed registry, found ${what} ` +
          `not allowed (${listed(rs.map((r) => r.image))}); allow it, or mirror those images (registryMirrors)`,
      ),
    );
  }
  return out;
};

export const IMAGE_RULES: readonly Rule[] = [imagesReachable, imagesAllowed];
