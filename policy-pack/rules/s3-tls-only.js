"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.s3TlsOnly = exports.RULE = void 0;
exports.tlsDenyProblem = tlsDenyProblem;
const lib_1 = require("../lib");
const s3_bucket_baseline_1 = require("./s3-bucket-baseline");
exports.RULE = "s3-tls-only";
function statementsOf(policy) {
    try {
        const doc = (typeof policy === "string" ? JSON.parse(policy) : policy);
        return [].concat(doc?.Statement ?? []);
    }
    catch {
        return [];
    }
}
/** What is missing from `s` to be a TLS-only deny, or undefined when it is one. */
function tlsDenyProblem(s) {
    if (s.Effect !== "Deny")
        return `effect ${(0, lib_1.quote)(s.Effect)}`;
    const p = s.Principal;
    if (!(p === "*" || p?.AWS === "*"))
        return `principal ${(0, lib_1.quote)(p)}`;
    if (![].concat(s.Action ?? []).includes("s3:*"))
        return `actions ${(0, lib_1.quote)(s.Action)} (not s3:*)`;
    const resources = []
        .concat(s.Resource ?? [])
        .filter((r) => typeof r === "string");
    const bucketArn = resources.find((r) => /^arn:[^:]+:s3:::[^/]+$/.test(r));
    if (!bucketArn || !resources.includes(`${bucketArn}/*`))
        return `resources ${(0, lib_1.quote)(s.Resource)} (need the bucket and its objects)`;
    const secure = s.Condition?.Bool?.["aws:SecureTransport"];
    if (!(secure === false || secure === "false"))
        return `condition ${(0, lib_1.quote)(s.Condition)}`;
    return undefined;
}
exports.s3TlsOnly = {
    name: exports.RULE,
    description: "Every S3 bucket's policy denies s3:* to every principal over plain HTTP, on the bucket and its objects (FSBP S3.5).",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const buckets = args.resources.filter((r) => lib_1.BUCKET_TYPES.includes(r.type));
        const policies = args.resources.filter((r) => r.type === lib_1.BUCKET_POLICY_TYPE);
        for (const b of buckets) {
            const mine = policies.filter((x) => (0, s3_bucket_baseline_1.attachedTo)(x, b));
            const statements = mine.flatMap((x) => statementsOf(x.props.policy));
            const candidates = statements.filter((s) => s.Condition?.Bool?.["aws:SecureTransport"] !== undefined);
            if (statements.some((s) => tlsDenyProblem(s) === undefined))
                continue;
            const why = candidates.length > 0 ? candidates.map((s) => tlsDenyProblem(s)).join("; ") : "no such statement";
            reportViolation((0, lib_1.violation)(exports.RULE, `bucket ${(0, lib_1.quote)(b.name)} allows plain HTTP: ${why}`, 'add to its bucket policy { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [bucketArn, `${bucketArn}/*`], Condition: { Bool: { "aws:SecureTransport": false } } }'), b.urn);
        }
    },
};
