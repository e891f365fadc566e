/**
 * s3-bucket-baseline (stack-wide): every bucket has its companions: a public access block and a
 * default encryption configuration with a customer-managed KMS key. The one exception AWS
 * imposes: the target bucket of S3 server access logging only accepts SSE-S3 (AES256).
 */
import type { PolicyResource } from "@pulumi/policy";
import {
  type Props,
  BUCKET_LOGGING_TYPES,
  BUCKET_SSE_TYPES,
  BUCKET_TYPES,
  KMS_ALGORITHMS,
  PUBLIC_ACCESS_BLOCK_TYPE,
  cmkProblem,
  quote,
  stackRule,
  violation,
} from "../lib";

export const RULE = "s3-bucket-baseline";

const urnsOf = (r: PolicyResource, prop: string) => (r.propertyDependencies?.[prop] ?? []).map((d) => d.urn);

/** Whether `r` (a companion with a `bucket` input) is attached to `bucket`. */
export function attachedTo(r: PolicyResource, bucket: PolicyResource): boolean {
  const viaProperty = urnsOf(r, "bucket").includes(bucket.urn);
  const viaDependency = (r.dependencies ?? []).some((d) => d.urn === bucket.urn);
  const name = bucket.props.bucket;
  const viaName = typeof name === "string" && r.props.bucket === name;
  return viaProperty || viaDependency || viaName;
}

/** Whether input `pa` of `a` and input `pc` of `c` name the same bucket (same value or same source). */
function sameBucket(a: PolicyResource, pa: string, c: PolicyResource, pc: string): boolean {
  const va = a.props[pa];
  if (typeof va === "string" && va !== "" && va === c.props[pc]) return true;
  const ua = urnsOf(a, pa);
  return urnsOf(c, pc).some((u) => ua.includes(u));
}

/** The bucket receives S3 server access logs of another bucket. */
function isLogTarget(
  bucket: PolicyResource,
  sse: PolicyResource | undefined,
  loggings: PolicyResource[],
): boolean {
  return loggings.some(
    (l) =>
      urnsOf(l, "targetBucket").includes(bucket.urn) ||
      (typeof bucket.props.bucket === "string" && l.props.targetBucket === bucket.props.bucket) ||
      (sse !== undefined && sameBucket(sse, "bucket", l, "targetBucket")),
  );
}

function encryptionProblem(rule: Props | undefined, logTarget: boolean): string | undefined {
  const d = rule?.applyServerSideEncryptionByDefault;
  if (logTarget)
    return d?.sseAlgorithm === "AES256"
      ? undefined
      : `is an access-log target with ${quote(d?.sseAlgorithm)}`;
  if (!KMS_ALGORITHMS.includes(d?.sseAlgorithm))
    return `is encrypted with ${quote(d?.sseAlgorithm)}, not aws:kms`;
  const key = cmkProblem("kmsMasterKeyId", d?.kmsMasterKeyId);
  if (key) return `${key} (without a customer-managed key ARN the AWS-managed key is used)`;
  return undefined;
}

export const s3BucketBaseline = stackRule({
  name: RULE,
  description:
    "Every S3 bucket has a public access block and customer-managed KMS default encryption (SSE-S3 only for the access-log target).",
  appliesTo: (r) => BUCKET_TYPES.includes(r.type),
  check: (args, buckets, reportViolation) => {
    const blocks = args.resources.filter((r) => r.type === PUBLIC_ACCESS_BLOCK_TYPE);
    const sses = args.resources.filter((r) => BUCKET_SSE_TYPES.includes(r.type));
    const loggings = args.resources.filter((r) => BUCKET_LOGGING_TYPES.includes(r.type));
    for (const b of buckets) {
      if (!blocks.some((x) => attachedTo(x, b)))
        reportViolation(
          violation(
            RULE,
            `bucket ${quote(b.name)} has no BucketPublicAccessBlock`,
            "add aws.s3.BucketPublicAccessBlock for it with all four switches true",
          ),
          b.urn,
        );
      const mine = sses.filter((x) => attachedTo(x, b));
      const inline = b.props.serverSideEncryptionConfiguration as Props | undefined;
      if (mine.length === 0 && !inline) {
        reportViolation(
          violation(
            RULE,
            `bucket ${quote(b.name)} has no default encryption configuration`,
            'add aws.s3.BucketServerSideEncryptionConfiguration with sseAlgorithm "aws:kms" and a customer-managed key',
          ),
          b.urn,
        );
        continue;
      }
      const rules: { rule: Props | undefined; sse?: PolicyResource }[] = [
        ...mine.flatMap((sse) =>
          ((sse.props.rules ?? [undefined]) as (Props | undefined)[]).map((rule) => ({ rule, sse })),
        ),
        ...(inline ? [{ rule: inline.rule as Props | undefined }] : []),
      ];
      for (const { rule, sse } of rules) {
        const logTarget = isLogTarget(b, sse, loggings);
        const problem = encryptionProblem(rule, logTarget);
        if (problem)
          reportViolation(
            violation(
              RULE,
              `bucket ${quote(b.name)} ${problem}`,
              logTarget
                ? 'use sseAlgorithm "AES256" (S3 server access logging cannot deliver to SSE-KMS buckets)'
                : 'set applyServerSideEncryptionByDefault to { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }',
            ),
            sse?.urn ?? b.urn,
          );
      }
    }
  },
});
