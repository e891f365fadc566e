"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.s3BucketBaseline = exports.RULE = void 0;
exports.attachedTo = attachedTo;
const lib_1 = require("../lib");
exports.RULE = "s3-bucket-baseline";
const urnsOf = (r, prop) => (r.propertyDependencies?.[prop] ?? []).map((d) => d.urn);
/** Whether `r` (a companion with a `bucket` input) is attached to `bucket`. */
function attachedTo(r, bucket) {
    const viaProperty = urnsOf(r, "bucket").includes(bucket.urn);
    const viaDependency = (r.dependencies ?? []).some((d) => d.urn === bucket.urn);
    const name = bucket.props.bucket;
    const viaName = typeof name === "string" && r.props.bucket === name;
    return viaProperty || viaDependency || viaName;
}
/** Whether input `pa` of `a` and input `pc` of `c` name the same bucket (same value or same source). */
function sameBucket(a, pa, c, pc) {
    const va = a.props[pa];
    if (typeof va === "string" && va !== "" && va === c.props[pc])
        return true;
    const ua = urnsOf(a, pa);
    return urnsOf(c, pc).some((u) => ua.includes(u));
}
/** The bucket receives S3 server access logs of another bucket. */
function isLogTarget(bucket, sse, loggings) {
    return loggings.some((l) => urnsOf(l, "targetBucket").includes(bucket.urn) ||
        (typeof bucket.props.bucket === "string" && l.props.targetBucket === bucket.props.bucket) ||
        (sse !== undefined && sameBucket(sse, "bucket", l, "targetBucket")));
}
function encryptionProblem(rule, logTarget) {
    const d = rule?.applyServerSideEncryptionByDefault;
    if (logTarget)
        return d?.sseAlgorithm === "AES256"
            ? undefined
            : `is an access-log target with ${(0, lib_1.quote)(d?.sseAlgorithm)}`;
    if (!lib_1.KMS_ALGORITHMS.includes(d?.sseAlgorithm))
        return `is encrypted with ${(0, lib_1.quote)(d?.sseAlgorithm)}, not aws:kms`;
    if (!d?.kmsMasterKeyId)
        return "names no kmsMasterKeyId (the AWS-managed key would be used)";
    return undefined;
}
exports.s3BucketBaseline = {
    name: exports.RULE,
    description: "Every S3 bucket has a public access block and customer-managed KMS default encryption (SSE-S3 only for the access-log target).",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const buckets = args.resources.filter((r) => lib_1.BUCKET_TYPES.includes(r.type));
        const blocks = args.resources.filter((r) => r.type === lib_1.PUBLIC_ACCESS_BLOCK_TYPE);
        const sses = args.resources.filter((r) => lib_1.BUCKET_SSE_TYPES.includes(r.type));
        const loggings = args.resources.filter((r) => lib_1.BUCKET_LOGGING_TYPES.includes(r.type));
        for (const b of buckets) {
            if (!blocks.some((x) => attachedTo(x, b)))
                reportViolation((0, lib_1.violation)(exports.RULE, `bucket ${(0, lib_1.quote)(b.name)} has no BucketPublicAccessBlock`, "add aws.s3.BucketPublicAccessBlock for it with all four switches true"), b.urn);
            const mine = sses.filter((x) => attachedTo(x, b));
            const inline = b.props.serverSideEncryptionConfiguration;
            if (mine.length === 0 && !inline) {
                reportViolation((0, lib_1.violation)(exports.RULE, `bucket ${(0, lib_1.quote)(b.name)} has no default encryption configuration`, 'add aws.s3.BucketServerSideEncryptionConfiguration with sseAlgorithm "aws:kms" and a customer-managed key'), b.urn);
                continue;
            }
            const rules = [
                ...mine.flatMap((sse) => (sse.props.rules ?? [undefined]).map((rule) => ({ rule, sse }))),
                ...(inline ? [{ rule: inline.rule }] : []),
            ];
            for (const { rule, sse } of rules) {
                const logTarget = isLogTarget(b, sse, loggings);
                const problem = encryptionProblem(rule, logTarget);
                if (problem)
                    reportViolation((0, lib_1.violation)(exports.RULE, `bucket ${(0, lib_1.quote)(b.name)} ${problem}`, logTarget
                        ? 'use sseAlgorithm "AES256" (S3 server access logging cannot deliver to SSE-KMS buckets)'
                        : 'set applyServerSideEncryptionByDefault to { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }'), sse?.urn ?? b.urn);
            }
        }
    },
};
