/**
 * sovereign-baseline: the kit's security promises about its own infrastructure, enforced on
 * every preview and update. Every rule is mandatory.
 *
 *   pulumi preview --policy-pack policy-pack --policy-pack-config policy-pack/config/<stack>.json
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, POLICIES } from "./policies";

new PolicyPack(PACK_NAME, {
  enforcementLevel: "mandatory",
  policies: [...POLICIES],
});
