/**
 * Rules over every image a stack runs (the image plan, `stacks/wiring/images.ts`): each can be
 * pulled (without internet egress, through a mirror or an ECR pull-through cache) and each
 * comes from a registry `policy.allowedRegistries` admits, so admission never rejects the
 * kit's own pods after `pulumi up`.
 */
import { PULL_THROUGH_UPSTREAMS } from "../../../components/aws/registries";
import {
  MIRROR_PREFIX,
  REGISTRY_HOST,
  mirrorFor,
  normalizeRegistry,
  registryOf,
} from "../../../components/lib/images";
import type { ImageKey } from "../../../components/lib/versions";
import {
  accountEcr,
  registryRoute,
  stackImages,
  type ImagePlanInput,
  type PlannedImage,
  type RouteContext,
} from "../../wiring/images";
import type { ConfigIssue } from "../errors";
import {
  entries,
  int,
  isRecord,
  issue,
  profileOf,
  section,
  str,
  strings,
  substrateKind,
  type RawConfig,
  type Rule,
} from "./helpers";

const IMAGE_KEYS: readonly ImageKey[] = ["vllm", "vllmCpu", "opa", "gateway"];

/** The image plan input read from a raw config, or undefined without a known substrate. */
export function planFromRaw(raw: RawConfig): ImagePlanInput | undefined {
  const substrate = substrateKind(raw);
  if (!substrate) return undefined;
  const imgs = section(raw, "images");
  const images: Partial<Record<ImageKey, string>> = {};
  for (const k of IMAGE_KEYS) {
    const v = str(imgs[k]);
    if (v !== undefined) images[k] = v;
  }
  const receiver = str(section(section(raw, "observability"), "alertmanager").receiver) ?? "none";
  return {
    substrate,
    profile: profileOf(raw) ?? "dev",
    images,
    gatewayImage: str(section(raw, "gateway").image),
    models: entries(raw, "models").map(({ value }) => ({ pool: str(value.pool), image: str(value.image) })),
    keda: entries(raw, "models").some(({ value }) => {
      const r = section(value, "replicas");
      const min = int(r.min) ?? 1;
      return min === 0 || (int(r.max) ?? 1) > min;
    }),
    gpuPools: entries(raw, "gpuPools").length > 0,
    training: section(raw, "training").enabled !== false,
    alertmanager: receiver !== "none",
    postgresVersion: str(section(raw, "database").version) ?? "16",
  };
}

/** Well-formed entries of `registryMirrors` (the schema reports malformed ones). */
function mirrorsOf(raw: RawConfig): Record<string, string> {
  const m = raw.registryMirrors;
  if (!isRecord(m)) return {};
  return Object.fromEntries(
    Object.entries(m).filter(
      (e): e is [string, string] =>
        REGISTRY_HOST.test(e[0]) && typeof e[1] === "string" && MIRROR_PREFIX.test(e[1]),
    ),
  );
}

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

function resolve(raw: RawConfig, plan: ImagePlanInput): Resolution[] {
  const net = section(raw, "network");
  const creds = isRecord(net.registryCredentialArns) ? net.registryCredentialArns : {};
  const ctx: RouteContext = {
    mirrors: mirrorsOf(raw),
    isolated: plan.substrate === "aws" && net.egress === "private",
    region: str(section(raw, "substrate").region) ?? "",
    credentialed: Object.keys(creds).filter((k) => typeof creds[k] === "string"),
  };
  return stackImages(plan).map((image) => {
    const registry = registryOf(image.image);
    switch (registryRoute(registry, ctx)) {
      case "mirror":
        return { image, from: normalizeRegistry(mirrorFor(registry, ctx.mirrors)!.split("/")[0]) };
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
export const imagesReachable: Rule = (raw) => {
  const plan = planFromRaw(raw);
  if (!plan) return [];
  const out: ConfigIssue[] = [];
  for (const [registry, rs] of groupBy(resolve(raw, plan), (r) => r.unreachable)) {
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
export const imagesAllowed: Rule = (raw) => {
  const plan = planFromRaw(raw);
  const allowedRaw = section(raw, "policy").allowedRegistries;
  if (!plan || !Array.isArray(allowedRaw) || allowedRaw.length === 0) return [];
  const allowed = strings(allowedRaw).map(normalizeRegistry);
  const region = str(section(raw, "substrate").region) ?? "";
  const ok = (from: string) =>
    from === PULL_THROUGH ? allowed.some((a) => accountEcr(region).test(a)) : allowed.includes(from);
  const out: ConfigIssue[] = [];
  for (const [from, rs] of groupBy(resolve(raw, plan), (r) => (r.from && !ok(r.from) ? r.from : undefined))) {
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
