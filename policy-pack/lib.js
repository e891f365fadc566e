"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.KMS_ALGORITHMS = exports.BUCKET_LOGGING_TYPES = exports.PUBLIC_LISTENER_PORTS = exports.PUBLIC_LISTENER_TAG = exports.PUBLIC_ACCESS_BLOCK_FLAGS = exports.BUCKET_POLICY_TYPE = exports.BUCKET_ACL_TYPES = exports.BUCKET_SSE_TYPES = exports.PUBLIC_ACCESS_BLOCK_TYPE = exports.BUCKET_TYPES = exports.REQUIRED_TAGS = exports.GPU_RESOURCE = exports.PACK_CONFIG_DEFAULTS = void 0;
exports.violation = violation;
exports.quote = quote;
exports.configSchema = configSchema;
exports.isTrue = isTrue;
exports.workloadOf = workloadOf;
exports.containersOf = containersOf;
exports.requestsGpu = requestsGpu;
exports.parseImage = parseImage;
exports.chartValueImages = chartValueImages;
exports.normalizeRegistry = normalizeRegistry;
exports.effectiveTags = effectiveTags;
exports.packConfig = packConfig;
/** `<rule-id>: <what is wrong, quoting the value>. Fix: <how>.` Every violation uses this form. */
function violation(rule, what, fix) {
    return `${rule}: ${what}. Fix: ${fix}.`;
}
/** A value as it appears in a message. */
function quote(v) {
    return v === undefined ? "unset" : JSON.stringify(v);
}
/** Defaults when the pack runs without a config file: the strictest reading. */
exports.PACK_CONFIG_DEFAULTS = {
    profile: "prod",
    allowedRegions: [],
    allowedRegistries: [],
    publicLoadBalancer: false,
};
const PROPERTY_SCHEMAS = {
    profile: {
        type: "string",
        enum: ["dev", "prod"],
        default: exports.PACK_CONFIG_DEFAULTS.profile,
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
};
/** The JSON schema for the given config keys (what `--policy-pack-config` is validated against). */
function configSchema(...keys) {
    const properties = {};
    for (const k of keys)
        properties[k] = { ...PROPERTY_SCHEMAS[k] };
    return { properties };
}
function isTrue(v) {
    return v === true || v === "true";
}
/** Pod-bearing Kubernetes kinds and where their pod template lives. */
const POD_TEMPLATE = {
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
function workloadOf(type, props) {
    const pick = POD_TEMPLATE[type];
    if (!pick)
        return undefined;
    const template = pick(props) ?? {};
    return {
        kind: type.split(":").pop(),
        labels: (props.metadata?.labels ?? {}),
        podLabels: (template.metadata?.labels ?? {}),
        podSpec: (template.spec ?? {}),
    };
}
function containersOf(spec) {
    return [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])];
}
exports.GPU_RESOURCE = "nvidia.com/gpu";
/** Whether a container asks for at least one GPU (limits or requests). */
function requestsGpu(c) {
    const q = c.resources?.limits?.[exports.GPU_RESOURCE] ?? c.resources?.requests?.[exports.GPU_RESOURCE];
    if (q === undefined || q === null)
        return false;
    const n = Number(q);
    return Number.isNaN(n) ? true : n > 0;
}
/**
 * Parses an image reference the way container runtimes do: the first path component is a
 * registry only if it has a `.` or `:` or is `localhost`; otherwise the image is on docker.io.
 */
function parseImage(ref) {
    let rest = ref.trim();
    let digest;
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
    let tag;
    const colon = path.lastIndexOf(":");
    if (colon >= 0) {
        tag = path.slice(colon + 1);
        path = path.slice(0, colon);
    }
    return { registry, repository: path, tag, digest };
}
/**
 * Images a chart's values set explicitly, in the layouts charts use: `{registry, repository}`,
 * `{registry, imageName}`, `{repository}` / `{crdRepository}` holding `host/path`, and a plain
 * `image: "host/path:tag"` string. What a chart takes from its own defaults is not visible here.
 */
function chartValueImages(values, path = "values") {
    const out = [];
    if (Array.isArray(values)) {
        values.forEach((v, i) => out.push(...chartValueImages(v, `${path}[${i}]`)));
        return out;
    }
    if (!values || typeof values !== "object")
        return out;
    const o = values;
    const str = (k) => (typeof o[k] === "string" && o[k] !== "" ? o[k] : undefined);
    const registry = str("registry");
    const names = ["repository", "imageName", "crdRepository"].filter((k) => str(k) !== undefined);
    for (const k of names) {
        const ref = registry ? `${registry}/${str(k)}` : str(k);
        out.push({ path: `${path}.${k}`, registry: parseImage(ref).registry, ref });
    }
    for (const [k, v] of Object.entries(o)) {
        if (k === "image" && typeof v === "string" && v !== "")
            out.push({ path: `${path}.image`, registry: parseImage(v).registry, ref: v });
        else if (v && typeof v === "object")
            out.push(...chartValueImages(v, `${path}.${k}`));
    }
    return out;
}
/** Registry host without a default port and in lower case, for comparison. */
function normalizeRegistry(r) {
    const host = r.toLowerCase().replace(/\/+$/, "");
    return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}
// ---------------------------------------------------------------------------------------
// AWS
// ---------------------------------------------------------------------------------------
exports.REQUIRED_TAGS = ["owner", "cost-center", "data-classification"];
/** Tags in effect for an AWS resource: the provider's default tags, then its own. */
function effectiveTags(props, provider) {
    const defaults = (provider?.props?.defaultTags?.tags ?? {});
    return { ...defaults, ...(props.tags ?? {}) };
}
exports.BUCKET_TYPES = ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"];
exports.PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
exports.BUCKET_SSE_TYPES = [
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
];
exports.BUCKET_ACL_TYPES = ["aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"];
exports.BUCKET_POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy";
/** The four switches of an S3 public access block. */
exports.PUBLIC_ACCESS_BLOCK_FLAGS = [
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
];
/** Marker tag for the one security-group rule that may admit 0.0.0.0/0: a public LB listener. */
exports.PUBLIC_LISTENER_TAG = "sovereign:public-listener";
/** Ports such a listener may open. */
exports.PUBLIC_LISTENER_PORTS = [443, 80];
/** The rule's config with the pack defaults filled in (the engine fills schema defaults too). */
function packConfig(args) {
    const given = (args.getConfig() ?? {});
    const out = { ...exports.PACK_CONFIG_DEFAULTS };
    for (const [k, v] of Object.entries(given))
        if (v !== undefined)
            out[k] = v;
    return out;
}
exports.BUCKET_LOGGING_TYPES = [
    "aws:s3/bucketLogging:BucketLogging",
    "aws:s3/bucketLoggingV2:BucketLoggingV2",
];
/** SSE algorithms that use a KMS key. */
exports.KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];
