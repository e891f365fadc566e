/**
 * Shared pieces of the sovereign-baseline rules: the violation message format, config schema
 * fragments, and readers for Kubernetes workloads, images and AWS tags. Pure functions only.
 */
import type { PolicyConfigSchema, PolicyProviderResource } from "@pulumi/policy";

/** `<rule-id>: <what is wrong, quoting the value>. Fix: <how>.` Every violation uses this form. */
export function violation(rule: string, what: string, fix: string): string {
  return `${rule}: ${what}. Fix: ${fix}.`;
}

/** A value as it appears in a message. */
export function quote(v: unknown): string {
  return v === undefined ? "unset" : JSON.stringify(v);
}

export type Profile = "dev" | "prod";

/** Settings the rules read; each rule declares the subset it uses with these defaults. */
export interface PackConfig {
  /** `prod` applies the production-only rules (private endpoint, data protection). */
  readonly profile: Profile;
  /** AWS regions data may reside in. Empty: residency not configured, reported as such. */
  readonly allowedRegions: readonly string[];
  /** Registries container images may come from (`docker.io`, `123456789012.dkr.ecr.eu-central-1.amazonaws.com`). */
  readonly allowedRegistries: readonly string[];
  /** The stack explicitly enabled a public load balancer (network.publicLoadBalancer). */
  readonly publicLoadBalancer: boolean;
}

/** Defaults when the pack runs without a config file: the strictest reading. */
export const PACK_CONFIG_DEFAULTS: PackConfig = {
  profile: "prod",
  allowedRegions: [],
  allowedRegistries: [],
  publicLoadBalancer: false,
};

const PROPERTY_SCHEMAS = {
  profile: {
    type: "string",
    enum: ["dev", "prod"],
    default: PACK_CONFIG_DEFAULTS.profile,
    description: "Stack profile; prod applies the production-only checks.",
  },
  allowedRegions: {
    type: "array",
    items: { type: "string" },
    default: [],
    description: "AWS regions data may reside in.",
  },
  allowedRegistries: {
    type: "array",
    items: { type: "string" },
    default: [],
    description: "Registries container images may be pulled from.",
  },
  publicLoadBalancer: {
    type: "boolean",
    default: false,
    description: "The stack explicitly enabled a public load-balancer listener.",
  },
} as const;

/** The JSON schema for the given config keys (what `--policy-pack-config` is validated against). */
export function configSchema(...keys: (keyof PackConfig)[]): PolicyConfigSchema {
  const properties: PolicyConfigSchema["properties"] = {};
  for (const k of keys) properties[k] = { ...PROPERTY_SCHEMAS[k] } as never;
  return { properties };
}

export function isTrue(v: unknown): boolean {
  return v === true || v === "true";
}

// ---------------------------------------------------------------------------------------
// Kubernetes workloads
// ---------------------------------------------------------------------------------------

export interface Container {
  readonly name?: string;
  readonly image?: string;
  readonly resources?: {
    readonly limits?: Record<string, unknown>;
    readonly requests?: Record<string, unknown>;
  };
}

export interface PodSpecLike {
  readonly containers?: Container[];
  readonly initContainers?: Container[];
  readonly ephemeralContainers?: Container[];
}

export interface Workload {
  readonly kind: string;
  /** The workload object's own labels. */
  readonly labels: Record<string, string>;
  /** Labels of the pod template (for a Pod: its own labels). */
  readonly podLabels: Record<string, string>;
  readonly podSpec: PodSpecLike;
}

/**
 * Resource inputs as the engine hands them to a policy: untyped JSON. Rules read them
 * defensively (optional chaining) and quote what they find.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Props = Record<string, any>;

/** Pod-bearing Kubernetes kinds and where their pod template lives. */
const POD_TEMPLATE: Record<string, (p: Props) => Props | undefined> = {
  "kubernetes:core/v1:Pod": (p) => p,
  "kubernetes:apps/v1:Deployment": (p) => p.spec?.template,
  "kubernetes:apps/v1:StatefulSet": (p) => p.spec?.template,
  "kubernetes:apps/v1:DaemonSet": (p) => p.spec?.template,
  "kubernetes:apps/v1:ReplicaSet": (p) => p.spec?.template,
  "kubernetes:batch/v1:Job": (p) => p.spec?.template,
  "kubernetes:batch/v1:CronJob": (p) => p.spec?.jobTemplate?.spec?.template,
  "kubernetes:core/v1:ReplicationController": (p) => p.spec?.template,
};

/** The pod template of a Kubernetes workload resource, or undefined for anything else. */
export function workloadOf(type: string, props: Props): Workload | undefined {
  const pick = POD_TEMPLATE[type];
  if (!pick) return undefined;
  const template = pick(props) ?? {};
  return {
    kind: type.split(":").pop()!,
    labels: (props.metadata?.labels ?? {}) as Record<string, string>,
    podLabels: (template.metadata?.labels ?? {}) as Record<string, string>,
    podSpec: (template.spec ?? {}) as PodSpecLike,
  };
}

export function containersOf(spec: PodSpecLike): Container[] {
  return [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])];
}

export const GPU_RESOURCE = "nvidia.com/gpu";

/** Whether a container asks for at least one GPU (limits or requests). */
export function requestsGpu(c: Container): boolean {
  const q = c.resources?.limits?.[GPU_RESOURCE] ?? c.resources?.requests?.[GPU_RESOURCE];
  if (q === undefined || q === null) return false;
  const n = Number(q);
  return Number.isNaN(n) ? true : n > 0;
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

export interface ImageRef {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/**
 * Parses an image reference the way container runtimes do: the first path component is a
 * registry only if it has a `.` or `:` or is `localhost`; otherwise the image is on docker.io.
 */
export function parseImage(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const hasRegistry = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  const registry = hasRegistry ? first : "docker.io";
  let path = hasRegistry ? rest.slice(slash + 1) : rest;
  let tag: string | undefined;
  const colon = path.lastIndexOf(":");
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  return { registry, repository: path, tag, digest };
}

/** An image a Helm release's values set: where, and the registry it names. */
export interface ValueImage {
  readonly path: string;
  readonly registry: string;
  readonly ref: string;
}

/**
 * Images a chart's values set explicitly, in the layouts charts use: `{registry, repository}`,
 * `{registry, imageName}`, `{repository}` / `{crdRepository}` holding `host/path`, and a plain
 * `image: "host/path:tag"` string. What a chart takes from its own defaults is not visible here.
 */
export function chartValueImages(values: unknown, path = "values"): ValueImage[] {
  const out: ValueImage[] = [];
  if (Array.isArray(values)) {
    values.forEach((v, i) => out.push(...chartValueImages(v, `${path}[${i}]`)));
    return out;
  }
  if (!values || typeof values !== "object") return out;
  const o = values as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === "string" && o[k] !== "" ? o[k] : undefined);
  const registry = str("registry");
  const names = ["repository", "imageName", "crdRepository"].filter((k) => str(k) !== undefined);
  for (const k of names) {
    const ref = registry ? `${registry}/${str(k)}` : str(k)!;
    out.push({ path: `${path}.${k}`, registry: parseImage(ref).registry, ref });
  }
  for (const [k, v] of Object.entries(o)) {
    if (k === "image" && typeof v === "string" && v !== "")
      out.push({ path: `${path}.image`, registry: parseImage(v).registry, ref: v });
    else if (v && typeof v === "object") out.push(...chartValueImages(v, `${path}.${k}`));
  }
  return out;
}

/** Registry host without a default port and in lower case, for comparison. */
export function normalizeRegistry(r: string): string {
  const host = r.toLowerCase().replace(/\/+$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

// ---------------------------------------------------------------------------------------
// AWS
// ---------------------------------------------------------------------------------------

export const REQUIRED_TAGS = ["owner", "cost-center", "data-classification"] as const;

/** Tags in effect for an AWS resource: the provider's default tags, then its own. */
export function effectiveTags(props: Props, provider?: PolicyProviderResource): Record<string, unknown> {
  const defaults = (provider?.props?.defaultTags?.tags ?? {}) as Record<string, unknown>;
  return { ...defaults, ...((props.tags ?? {}) as Record<string, unknown>) };
}

export const BUCKET_TYPES = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];
export const PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
export const BUCKET_SSE_TYPES = [
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
];
export const BUCKET_ACL_TYPES = ["aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"];
export const BUCKET_POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy";

/** The four switches of an S3 public access block. */
export const PUBLIC_ACCESS_BLOCK_FLAGS = [
  "blockPublicAcls",
  "blockPublicPolicy",
  "ignorePublicAcls",
  "restrictPublicBuckets",
] as const;

/** Marker tag for the one security-group rule that may admit 0.0.0.0/0: a public LB listener. */
export const PUBLIC_LISTENER_TAG = "sovereign:public-listener";
/** Ports such a listener may open. */
export const PUBLIC_LISTENER_PORTS = [443, 80];

/** The rule's config with the pack defaults filled in (the engine fills schema defaults too). */
export function packConfig(args: { getConfig<T extends object>(): T }): PackConfig {
  const given = args.getConfig<Partial<PackConfig>>() ?? {};
  const out: Record<string, unknown> = { ...PACK_CONFIG_DEFAULTS };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  return out as unknown as PackConfig;
}

export const BUCKET_LOGGING_TYPES = [
  "aws:s3/bucketLogging:BucketLogging",
  "aws:s3/bucketLoggingV2:BucketLoggingV2",
];
/** SSE algorithms that use a KMS key. */
export const KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];
