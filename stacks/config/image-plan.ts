/**
 * The image plan of a stack: every container image it runs, the kit's own and those of the
 * third-party charts, before any mirror is applied (pure). The AWS substrate creates its ECR
 * pull-through rules from it, the config rules check it against the mirrors and
 * `policy.allowedRegistries`, and `npm run images` prints it. It lives next to the schema
 * (computed once from the validated config) so that the rules and the wiring both import it and
 * neither imports the other.
 */
import { PULL_THROUGH_UPSTREAMS, pullThroughMirrors } from "../../components/aws/registries";
import { CHART_IMAGES, type ChartImage } from "../../components/lib/chart-images";
import { mirrorFor, mirrorImage, registryOf, type RegistryMirrors } from "../../components/lib/images";
import { AWS_SUBSTRATE_IMAGES, KARPENTER_IMAGES } from "../../components/aws/versions";
import { IMAGES, SUBSTRATE_IMAGES, TRAINER_IMAGE, type ImageKey } from "../../components/lib/versions";
import { autoscales } from "../../components/lib/scheduling";
import { retentionExpirations } from "../../components/lib/scopes";
import type { StackConfig } from "./schema";
import { resolveSettings } from "./settings";

/** What decides which images a stack runs. */
export interface ImagePlanInput {
  readonly substrate: "aws" | "existing-cluster";
  /** Whether node-exporter runs (the monitoring stack's `full` footprint). */
  readonly nodeExporter: boolean;
  /** `images` overrides. */
  readonly images: Readonly<Partial<Record<ImageKey, string>>>;
  /** `gateway.image`. */
  readonly gatewayImage?: string;
  /** Per model: whether it has a GPU pool, and its own image override. */
  readonly models: readonly { readonly pool?: string; readonly image?: string }[];
  /** Whether some model autoscales (KEDA is installed). */
  readonly keda: boolean;
  /**
   * cert-manager for the gateway's certificate: `private-ca` (the kit's CA), `issuer` (the
   * customer's issuer, which may be ACME: the HTTP-01 solver image too), `none` (`secret`/`off`).
   */
  readonly certManager: "private-ca" | "issuer" | "none";
  /** Whether any GPU pool is configured (device plugin and DCGM). */
  readonly gpuPools: boolean;
  readonly training: boolean;
  /** Whether a team's flywheel retention is set (in-cluster it runs as a job of the runner image). @default false */
  readonly retentionJobs?: boolean;
  /** Whether an Alertmanager is deployed (a receiver other than `none`). */
  readonly alertmanager: boolean;
  /** PostgreSQL major version (existing-cluster substrate operand). */
  readonly postgresVersion: string;
}

export interface PlannedImage {
  /** The upstream reference, before mirrors. */
  readonly image: string;
  /** Who runs it: `kit` or a chart key, and its role. */
  readonly source: string;
  readonly role: string;
}

/**
 * The image table of every third-party chart: the shared charts' (`CHART_IMAGES`) and the AWS
 * substrate's Karpenter.
 */
export const CHART_IMAGE_TABLES = { ...CHART_IMAGES, karpenter: KARPENTER_IMAGES } as const;
export type ChartImageTable = keyof typeof CHART_IMAGE_TABLES;

/** Chart images that run with the kit's values (entries behind a `when` only when that is on). */
function chartImages(key: ChartImageTable, on: (i: ChartImage) => boolean = () => false): PlannedImage[] {
  return (CHART_IMAGE_TABLES[key] as readonly ChartImage[])
    .filter((i) => i.when === undefined || on(i))
    .map((i) => ({ image: i.image, source: key, role: i.role }));
}

/** Every image the stack runs, upstream references, de-duplicated by reference and role. */
export function stackImages(p: ImagePlanInput): PlannedImage[] {
  const kit = (role: string, image: string): PlannedImage => ({ image, source: "kit", role });
  const out: PlannedImage[] = [
    kit("OPA", p.images.opa ?? IMAGES.opa),
    kit("gateway", p.images.gateway ?? p.gatewayImage ?? IMAGES.gateway),
    ...p.models.map((m) =>
      kit(
        m.pool ? "vLLM" : "vLLM CPU simulator",
        m.image ?? (m.pool ? (p.images.vllm ?? IMAGES.vllm) : (p.images.vllmCpu ?? IMAGES.vllmCpu)),
      ),
    ),
    ...chartImages("gatekeeper"),
    ...(p.keda ? chartImages("keda") : []),
    ...(p.certManager !== "none" ? chartImages("certManager", () => p.certManager === "issuer") : []),
    ...chartImages("kubePrometheusStack", (i) =>
      i.role === "Alertmanager" ? p.alertmanager : i.role === "node exporter" ? p.nodeExporter : false,
    ),
    ...(p.gpuPools ? [...chartImages("nvidiaDevicePlugin"), ...chartImages("dcgmExporter")] : []),
    ...(p.training ? [...chartImages("kueue"), kit("training runner", TRAINER_IMAGE)] : []),
  ];
  if (p.substrate === "aws") {
    out.push(...chartImages("karpenter"), kit("Postgres login job", AWS_SUBSTRATE_IMAGES.postgresClient));
  } else {
    const pg = SUBSTRATE_IMAGES.postgres[p.postgresVersion.split(".")[0]];
    out.push(...chartImages("seaweedfs"), kit("SeaweedFS bucket job", SUBSTRATE_IMAGES.seaweedfs));
    out.push(...chartImages("cloudnativePg"), ...(pg ? [kit("PostgreSQL", pg)] : []));
    if (p.retentionJobs) out.push(kit("flywheel retention job", TRAINER_IMAGE));
  }
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = `${i.image} ${i.source} ${i.role}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** The image plan input of a validated config. */
export function imagePlanOf(config: StackConfig): ImagePlanInput {
  return {
    substrate: config.substrate.kind,
    nodeExporter: resolveSettings(config).observability.footprint === "full",
    images: config.images,
    gatewayImage: config.gateway.image,
    models: config.models.map((m) => ({ pool: m.pool, image: m.image })),
    keda: config.models.some(autoscales),
    certManager:
      config.gateway.tls.mode === "private-ca" || config.gateway.tls.mode === "issuer"
        ? config.gateway.tls.mode
        : "none",
    gpuPools: config.gpuPools.length > 0,
    training: config.training.enabled,
    retentionJobs: retentionExpirations(config.teams).length > 0,
    alertmanager: config.observability.alertmanager.receiver !== "none",
    postgresVersion: config.database.version,
  };
}

/** The account's ECR in a region, any account id (the config does not know it). */
export const accountEcr = (region: string): RegExp =>
  new RegExp(`^\\d{12}\\.dkr\\.ecr\\.${region}\\.amazonaws\\.com$`);

/** What decides how a cluster reaches a registry. */
export interface RouteContext {
  readonly mirrors: RegistryMirrors;
  /** AWS with egress `private`: no internet. */
  readonly isolated: boolean;
  readonly region: string;
  /** Registries with an ECR pull-through credential (`network.registryCredentialArns`). */
  readonly credentialed: readonly string[];
}

/**
 * How pods reach one upstream registry: a configured `mirror`; `direct` with egress (or the
 * account's own ECR through its endpoint); the ECR `pull-through` cache without egress; or
 * `unreachable` (no egress, and ECR cannot cache it or has no credential for it).
 */
export function registryRoute(
  registry: string,
  ctx: RouteContext,
): "mirror" | "direct" | "pull-through" | "unreachable" {
  if (mirrorFor(registry, ctx.mirrors) !== undefined) return "mirror";
  if (!ctx.isolated || accountEcr(ctx.region).test(registry)) return "direct";
  const up = PULL_THROUGH_UPSTREAMS[registry];
  return up && (!up.needsCredential || ctx.credentialed.includes(registry)) ? "pull-through" : "unreachable";
}

/** How a stack pulls one image. */
export interface ImageRoute extends PlannedImage {
  /** The reference pods pull. */
  readonly pull: string;
  /** `direct`: from the named registry; `mirror`: a configured mirror (copy it there unless it is a proxy cache);
   * `pull-through`: the account's ECR pull-through cache fills itself on first pull. */
  readonly via: "direct" | "mirror" | "pull-through";
}

/** The route context of a validated config. */
export function routeContextOf(config: StackConfig): RouteContext {
  return {
    mirrors: config.registryMirrors,
    isolated: config.substrate.kind === "aws" && config.network.egress === "private",
    region: config.substrate.kind === "aws" ? config.substrate.region : "",
    credentialed: Object.keys(config.network.registryCredentialArns),
  };
}

/** Every image of a stack with its upstream registry and how pods reach it. */
export function imageResolutions(config: StackConfig): {
  readonly image: PlannedImage;
  readonly registry: string;
  readonly route: ReturnType<typeof registryRoute>;
}[] {
  const ctx = routeContextOf(config);
  return stackImages(imagePlanOf(config)).map((image) => {
    const registry = registryOf(image.image);
    return { image, registry, route: registryRoute(registry, ctx) };
  });
}

/**
 * Where each image of a stack is pulled from. The AWS account id is not in the config: pass the
 * ECR host, or get a `<account>` placeholder.
 */
export function imageRoutes(config: StackConfig, ecrHost?: string): ImageRoute[] {
  const region = routeContextOf(config).region;
  const host = ecrHost ?? `<account>.dkr.ecr.${region}.amazonaws.com`;
  return imageResolutions(config).map(({ image: i, registry, route }) => {
    switch (route) {
      case "mirror":
        return { ...i, pull: mirrorImage(i.image, config.registryMirrors), via: "mirror" };
      case "pull-through":
        return {
          ...i,
          pull: mirrorImage(i.image, pullThroughMirrors(host, [registry])),
          via: "pull-through",
        };
      default:
        // `unreachable` cannot pass the config rules; a validated config pulls it as named.
        return { ...i, pull: i.image, via: "direct" };
    }
  });
}
