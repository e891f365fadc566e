/**
 * s3-tls-only (stack-wide): every bucket has a bucket policy that denies every S3 action
 * (`s3:*`) to every principal over plain HTTP, on the bucket and on its objects (FSBP S3.5).
 * The values are checked, not the keys: the effect, principal, action, both resources and the
 * `aws:SecureTransport` condition.
 */
import type { PolicyResource } from "@pulumi/policy";
import { type Props, BUCKET_POLICY_TYPE, BUCKET_TYPES, quote, stackRule, violation } from "../lib";
import { attachedTo } from "./s3-bucket-baseline";

export const RULE = "s3-tls-only";

function statementsOf(policy: unknown): Props[] {
  try {
    const doc = (typeof policy === "string" ? JSON.parse(policy) : policy) as Props;
    return ([] as Props[]).concat(doc?.Statement ?? []);
  } catch {
    return [];
  }
}

/** What is missing from `s` to be a TLS-only deny, or undefined when it is one. */
export function tlsDenyProblem(s: Props): string | undefined {
  if (s.Effect !== "Deny") return `effect ${quote(s.Effect)}`;
  const p = s.Principal;
  if (!(p === "*" || p?.AWS === "*")) return `principal ${quote(p)}`;
  if (!([] as unknown[]).concat(s.Action ?? []).includes("s3:*"))
    return `actions ${quote(s.Action)} (not s3:*)`;
  const resources = ([] as unknown[])
    .concat(s.Resource ?? [])
    .filter((r): r is string => typeof r === "string");
  const bucketArn = resources.find((r) => /^arn:[^:]+:s3:::[^/]+$/.test(r));
  if (!bucketArn || !resources.includes(`${bucketArn}/*`))
    return `resources ${quote(s.Resource)} (need the bucket and its objects)`;
  const secure = s.Condition?.Bool?.["aws:SecureTransport"];
  if (!(secure === false || secure === "false")) return `condition ${quote(s.Condition)}`;
  return undefined;
}

export const s3TlsOnly = stackRule({
  name: RULE,
  description:
    "Every S3 bucket's policy denies s3:* to every principal over plain HTTP, on the bucket and its objects (FSBP S3.5).",
  appliesTo: (r) => BUCKET_TYPES.includes(r.type),
  check: (args, buckets, reportViolation) => {
    const policies = args.resources.filter((r) => r.type === BUCKET_POLICY_TYPE);
    for (const b of buckets) {
      const mine: PolicyResource[] = policies.filter((x) => attachedTo(x, b));
      const statements = mine.flatMap((x) => statementsOf(x.props.policy));
      const candidates = statements.filter((s) => s.Condition?.Bool?.["aws:SecureTransport"] !== undefined);
      if (statements.some((s) => tlsDenyProblem(s) === undefined)) continue;
      const why =
        candidates.length > 0 ? candidates.map((s) => tlsDenyProblem(s)).join("; ") : "no such statement";
      reportViolation(
        violation(
          RULE,
          `bucket ${quote(b.name)} allows plain HTTP: ${why}`,
          'add to its bucket policy { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [bucketArn, `${bucketArn}/*`], Condition: { Bool: { "aws:SecureTransport": false } } }',
        ),
        b.urn,
      );
    }
  },
});
