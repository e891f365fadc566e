/**
 * Shared pieces of the sovereign-baseline rules: the violation message format, config schema
 * fragments, and readers for Kubernetes workloads, images and AWS tags. Pure functions only.
 */
import type {
  PolicyConfigSchema,
  PolicyProviderResource,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";

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
  /** Findings accepted for one resource, each with a written reason (policy.suppressions). */
  readonly suppressions: readonly Suppression[];
}

/** A rule switched off for one resource, cdk-nag style: refused without a written reason. */
export interface Suppression {
  /** The rule id (`cmk-encryption`). */
  readonly rule: string;
  /** The resource: its logical name (as violations quote it) or its full URN. */
  readonly resource: string;
  /** Why the finding is accepted; at least MIN_REASON_LENGTH characters of prose. */
  readonly reason: string;
}

/** The shortest reason a suppression may carry (cdk-nag asks for 10; a sentence is longer). */
export const MIN_REASON_LENGTH = 20;

/** Defaults when the pack runs without a config file: the strictest reading. */
export const PACK_CONFIG_DEFAULTS: PackConfig = {
  profile: "prod",
  allowedRegions: [],
  allowedRegistries: [],
  publicLoadBalancer: false,
  suppressions: [],
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
  suppressions: {
    type: "array",
    default: [],
    description: "Findings accepted for one resource, each with a written reason.",
    items: {
      type: "object",
      additionalProperties: false,
      required: ["rule", "resource", "reason"],
      properties: {
        rule: { type: "string", minLength: 1 },
        resource: { type: "string", minLength: 1 },
        reason: { type: "string", minLength: MIN_REASON_LENGTH },
      },
    },
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

/** A KMS key ARN, the form that names one customer-managed key (aliases are refused: `alias/aws/*` is AWS-managed). */
const KMS_KEY_ARN = /^arn:aws(-[a-z]+)*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key\/[A-Za-z0-9-]+$/;

/**
 * What is wrong with `value` as the customer-managed key of `field`, or undefined when it is the
 * ARN of a KMS key. The value is checked, not only its presence: an alias (`alias/aws/rds` is
 * the AWS-managed key), an empty string or a non-KMS ARN is reported, quoted.
 */
export function cmkProblem(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return `${field} is ${quote(value)}`;
  if (typeof value !== "string") return `${field} is ${quote(value)}, not a KMS key ARN`;
  if (/(^|:)alias\/aws\//.test(value)) return `${field} is ${quote(value)}, an AWS-managed key`;
  if (!KMS_KEY_ARN.test(value))
    return `${field} is ${quote(value)}, not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`;
  return undefined;
}

/** What is wrong with a suppression's reason, or undefined when it is a written reason. */
export function reasonProblem(reason: unknown): string | undefined {
  if (typeof reason !== "string" || reason.trim() === "") return "it carries no reason";
  const r = reason.trim();
  if (r.length < MIN_REASON_LENGTH)
    return `its reason ${quote(r)} is shorter than ${MIN_REASON_LENGTH} characters`;
  if (!/[a-z]{2,}\s+[a-z]{2,}/i.test(r)) return `its reason ${quote(r)} is not written prose`;
  return undefined;
}

/** The suppressions of `rule` that name a resource (by logical name or URN). */
function suppressionsOf(rule: string, config: unknown, name: string, urn: string): Suppression[] {
  const list = ((config as { suppressions?: unknown })?.suppressions ?? []) as Suppression[];
  if (!Array.isArray(list)) return [];
  return list.filter((s) => s?.rule === rule && (s.resource === name || s.resource === urn));
}

const SUPPRESSION_FIX =
  "give policy.suppressions[].reason a written reason (why the finding is accepted, who accepted it), or remove the suppression";

/**
 * Reports `messages` for one resource, unless a suppression with a written reason covers the
 * rule there. A suppression without one is refused: reported, and the findings with it.
 */
function reportUnlessSuppressed(
  rule: string,
  config: unknown,
  where: { name: string; urn: string; type: string },
  messages: readonly string[],
  report: (m: string) => void,
): void {
  const mine = suppressionsOf(rule, config, where.name, where.urn);
  const refused = mine.filter((s) => reasonProblem(s.reason) !== undefined);
  for (const s of refused)
    report(
      violation(
        rule,
        `the suppression of ${rule} for ${where.type} ${quote(where.name)} is refused: ${reasonProblem(s.reason)}`,
        SUPPRESSION_FIX,
      ),
    );
  if (mine.length > refused.length) return;
  for (const m of messages) report(m);
}

/** The sovereign form of a resource rule: its scope, its check, and the policy built from them. */
export interface ResourceRule extends ResourceValidationPolicy {
  /** The resources the rule inspects; anything else is reported not applicable. */
  readonly appliesTo: (type: string, props: Props) => boolean;
  /** The check alone, without scope or suppressions: returns the violations it finds. */
  readonly check: (args: ResourceValidationArgs) => string[];
}

/**
 * A mandatory resource rule. Outside `appliesTo` it tells the engine it does not apply (and the
 * coverage test counts where it does); inside, `check` runs and its findings are reported unless
 * suppressed with a written reason (see Suppression).
 */
export function resourceRule(spec: {
  name: string;
  description: string;
  configKeys?: (keyof PackConfig)[];
  appliesTo: (type: string, props: Props) => boolean;
  check: (args: ResourceValidationArgs, report: (message: string) => void) => void;
}): ResourceRule {
  const check = (args: ResourceValidationArgs): string[] => {
    const out: string[] = [];
    spec.check(args, (m) => out.push(m));
    return out;
  };
  return {
    name: spec.name,
    description: spec.description,
    enforcementLevel: "mandatory",
    configSchema: configSchema(...(spec.configKeys ?? []), "suppressions"),
    appliesTo: spec.appliesTo,
    check,
    validateResource: (args, reportViolation) => {
      if (!spec.appliesTo(args.type, args.props)) args.notApplicable(`${args.type} is outside ${spec.name}`);
      reportUnlessSuppressed(spec.name, args.getConfig(), args, check(args), (m) => reportViolation(m));
    },
  };
}

/** The sovereign form of a stack rule: the resources it judges, and its check over the stack. */
export interface StackRule extends StackValidationPolicy {
  readonly appliesTo: (r: PolicyResource) => boolean;
  /** The check alone: its violations, each with the URN it is about. */
  readonly check: (args: StackValidationArgs) => { message: string; urn: string }[];
}

/**
 * A mandatory stack rule: not applicable to a stack without a resource in its scope; each
 * finding is about one resource (`urn`), and is suppressed there only with a written reason.
 */
export function stackRule(spec: {
  name: string;
  description: string;
  appliesTo: (r: PolicyResource) => boolean;
  check: (
    args: StackValidationArgs,
    subjects: PolicyResource[],
    report: (message: string, urn: string) => void,
  ) => void;
}): StackRule {
  const check = (args: StackValidationArgs) => {
    const out: { message: string; urn: string }[] = [];
    spec.check(args, args.resources.filter(spec.appliesTo), (message, urn) => out.push({ message, urn }));
    return out;
  };
  return {
    name: spec.name,
    description: spec.description,
    enforcementLevel: "mandatory",
    configSchema: configSchema("suppressions"),
    appliesTo: spec.appliesTo,
    check,
    validateStack: (args, reportViolation: ReportViolation) => {
      if (!args.resources.some(spec.appliesTo))
        args.notApplicable(`no resource in the scope of ${spec.name}`);
      const found = check(args);
      const config = args.getConfig();
      for (const r of args.resources) {
        const mine = found.filter((f) => f.urn === r.urn).map((f) => f.message);
        const hasSuppression = suppressionsOf(spec.name, config, r.name, r.urn).length > 0;
        if (mine.length > 0 || hasSuppression)
          reportUnlessSuppressed(spec.name, config, r, mine, (m) => reportViolation(m, r.urn));
      }
      for (const f of found)
        if (!args.resources.some((r) => r.urn === f.urn)) reportViolation(f.message, f.urn || undefined);
    },
  };
}

/** Data classification levels (the same list as components/lib/classification.ts; a test compares them). */
export const CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"] as const;
