"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.noPublicBuckets = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "no-public-buckets";
const PUBLIC_ACLS = ["public-read", "public-read-write", "authenticated-read"];
const PUBLIC_GRANTEES = [
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];
function publicStatements(policy) {
    let doc;
    try {
        doc = (typeof policy === "string" ? JSON.parse(policy) : policy);
    }
    catch {
        return [];
    }
    const statements = [].concat(doc?.Statement ?? []);
    return statements.filter((s) => {
        if (s.Effect !== "Allow" || s.Condition)
            return false;
        const p = s.Principal;
        return p === "*" || p?.AWS === "*" || (Array.isArray(p?.AWS) && p.AWS.includes("*"));
    });
}
exports.noPublicBuckets = {
    name: exports.RULE,
    description: "No S3 bucket is public: no public ACL, full public access block, no unconditioned public policy.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const p = args.props;
        const where = `${args.type} ${(0, lib_1.quote)(args.name)}`;
        if ((lib_1.BUCKET_TYPES.includes(args.type) || lib_1.BUCKET_ACL_TYPES.includes(args.type)) &&
            PUBLIC_ACLS.includes(p.acl)) {
            reportViolation((0, lib_1.violation)(exports.RULE, `${where} has the public canned ACL ${(0, lib_1.quote)(p.acl)}`, 'remove the ACL (use "private" and bucket-owner-enforced ownership)'));
        }
        if (lib_1.BUCKET_ACL_TYPES.includes(args.type)) {
            const grants = (p.accessControlPolicy?.grants ?? []);
            const open = grants.find((g) => PUBLIC_GRANTEES.includes(g.grantee?.uri));
            if (open)
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} grants ${(0, lib_1.quote)(open.permission)} to ${(0, lib_1.quote)(open.grantee.uri)}`, "remove grants to AllUsers/AuthenticatedUsers"));
        }
        if (args.type === lib_1.PUBLIC_ACCESS_BLOCK_TYPE) {
            const off = lib_1.PUBLIC_ACCESS_BLOCK_FLAGS.filter((f) => !(0, lib_1.isTrue)(p[f]));
            if (off.length > 0)
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} leaves ${off.map((f) => `${f}=${(0, lib_1.quote)(p[f])}`).join(", ")}`, `set ${lib_1.PUBLIC_ACCESS_BLOCK_FLAGS.join(", ")} to true`));
        }
        if (args.type === lib_1.BUCKET_POLICY_TYPE) {
            const open = publicStatements(p.policy);
            if (open.length > 0)
                reportViolation((0, lib_1.violation)(exports.RULE, `${where} allows Principal "*" without a condition (actions ${(0, lib_1.quote)(open.map((s) => s.Action))})`, "name the principals, or add a Condition (e.g. aws:SourceVpce)"));
        }
    },
};
