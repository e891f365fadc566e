"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
/**
 * sovereign-baseline: the kit's security promises about its own infrastructure, enforced on
 * every preview and update. Every rule is mandatory.
 *
 *   pulumi preview --policy-pack policy-pack --policy-pack-config policy-pack/config/<stack>.json
 */
const policy_1 = require("@pulumi/policy");
const policies_1 = require("./policies");
new policy_1.PolicyPack(policies_1.PACK_NAME, {
    enforcementLevel: "mandatory",
    policies: [...policies_1.POLICIES],
});
