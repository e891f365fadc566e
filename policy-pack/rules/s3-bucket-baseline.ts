/**
 * s3-bucket-baseline (stack-wide): every bucket has its companions: a public access block and a
 * default encryption configuration with a KMS key. The companion resources are checked
 * themselves by no-public-buckets and cmk-encryption; this rule makes sure they exist.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { BUCKET_SSE_TYPES, BUCKET_TYPES, PUBLIC_ACCESS_BLOCK_TYPE, quote, violation } from "../lib";

export const RULE = "s3-bucket-baseline";

/** Whether `r` (a companion with a `bucket` input) is attached to `bucket`. */
export function attachedTo(r: PolicyResource, bucket: PolicyResource): boolean {
  const viaProperty = (r.propertyDependencies?.bucket ?? []).some((d) => d.urn === bucket.urn);
  const viaDependency = (r.dependencies ?? []).some((d) => d.urn === bucket.urn);
  const name = bucket.props.bucket;
  const viaName = typeof name === "string" && r.props.bucket === name;
  return viaProperty || viaDependency || viaName;
}

export const s3BucketBaseline: StackValidationPolicy = {
  name: RULE,
  description: "Every S3 bucket has a public access block and KMS default encryption.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const buckets = args.resources.filter((r) => BUCKET_TYPES.includes(r.type));
    const blocks = args.resources.filter((r) => r.type === PUBLIC_ACCESS_BLOCK_TYPE);
    const sse = args.resources.filter((r) => BUCKET_SSE_TYPES.includes(r.type));
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
      if (!b.props.serverSideEncryptionConfiguration && !sse.some((x) => attachedTo(x, b)))
        reportViolation(
          violation(
            RULE,
            `bucket ${quote(b.name)} has no default encryption configuration`,
            'add aws.s3.BucketServerSideEncryptionConfiguration with sseAlgorithm "aws:kms" and a customer-managed key',
          ),
          b.urn,
        );
    }
  },
};
