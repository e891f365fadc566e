/**
 * no-public-buckets: no bucket is readable or writable by the world: no public canned ACL or
 * grant, every public access block has all four switches on, and no bucket policy allows
 * `Principal: "*"` without a condition.
 */
import {
  type Props,
  BUCKET_ACL_TYPES,
  BUCKET_POLICY_TYPE,
  BUCKET_TYPES,
  PUBLIC_ACCESS_BLOCK_FLAGS,
  PUBLIC_ACCESS_BLOCK_TYPE,
  isTrue,
  quote,
  resourceRule,
  violation,
} from "../lib";

export const RULE = "no-public-buckets";

const PUBLIC_ACLS = ["public-read", "public-read-write", "authenticated-read"];
const PUBLIC_GRANTEES = [
  "http://acs.amazonaws.com/groups/global/AllUsers",
  "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

function publicStatements(policy: unknown): Props[] {
  let doc: Props;
  try {
    doc = (typeof policy === "string" ? JSON.parse(policy) : policy) as Props;
  } catch {
    return [];
  }
  const statements = ([] as Props[]).concat(doc?.Statement ?? []);
  return statements.filter((s) => {
    if (s.Effect !== "Allow" || s.Condition) return false;
    const p = s.Principal;
    return p === "*" || p?.AWS === "*" || (Array.isArray(p?.AWS) && p.AWS.includes("*"));
  });
}

/** The account-wide block (FSBP S3.1, components/aws/account-baseline.ts), held to the same switches. */
const ACCOUNT_BLOCK_TYPE = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock";

const TYPES = [
  ...BUCKET_TYPES,
  ...BUCKET_ACL_TYPES,
  PUBLIC_ACCESS_BLOCK_TYPE,
  ACCOUNT_BLOCK_TYPE,
  BUCKET_POLICY_TYPE,
];

export const noPublicBuckets = resourceRule({
  name: RULE,
  description:
    "No S3 bucket is public: no public ACL, full public access block, no unconditioned public policy.",
  appliesTo: (type) => TYPES.includes(type),
  check: (args, reportViolation) => {
    const p = args.props as Props;
    const where = `${args.type} ${quote(args.name)}`;
    if (
      (BUCKET_TYPES.includes(args.type) || BUCKET_ACL_TYPES.includes(args.type)) &&
      PUBLIC_ACLS.includes(p.acl)
    ) {
      reportViolation(
        violation(
          RULE,
          `${where} has the public canned ACL ${quote(p.acl)}`,
          'remove the ACL (use "private" and bucket-owner-enforced ownership)',
        ),
      );
    }
    if (BUCKET_ACL_TYPES.includes(args.type)) {
      const grants = (p.accessControlPolicy?.grants ?? []) as Props[];
      const open = grants.find((g) => PUBLIC_GRANTEES.includes(g.grantee?.uri));
      if (open)
        reportViolation(
          violation(
            RULE,
            `${where} grants ${quote(open.permission)} to ${quote(open.grantee.uri)}`,
            "remove grants to AllUsers/AuthenticatedUsers",
          ),
        );
    }
    if (args.type === PUBLIC_ACCESS_BLOCK_TYPE || args.type === ACCOUNT_BLOCK_TYPE) {
      const off = PUBLIC_ACCESS_BLOCK_FLAGS.filter((f) => !isTrue(p[f]));
      if (off.length > 0)
        reportViolation(
          violation(
            RULE,
            `${where} leaves ${off.map((f) => `${f}=${quote(p[f])}`).join(", ")}`,
            `set ${PUBLIC_ACCESS_BLOCK_FLAGS.join(", ")} to true`,
          ),
        );
    }
    if (args.type === BUCKET_POLICY_TYPE) {
      const open = publicStatements(p.policy);
      if (open.length > 0)
        reportViolation(
          violation(
            RULE,
            `${where} allows Principal "*" without a condition (actions ${quote(open.map((s) => s.Action))})`,
            "name the principals, or add a Condition (e.g. aws:SourceVpce)",
          ),
        );
    }
  },
});
