/**
 * The rules of the sovereign-baseline pack, in one list (tests and index.ts share it).
 * Importing this module starts nothing; index.ts is the pack's entry point.
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import type { ResourceRule, StackRule } from "./lib";
import { allowedImages } from "./rules/allowed-images";
import { cmkEncryption } from "./rules/cmk-encryption";
import { controlPlaneLogs } from "./rules/control-plane-logs";
import { gpuThroughKueue } from "./rules/gpu-through-kueue";
import { imdsv2Required } from "./rules/imdsv2-required";
import { noOpenIngress } from "./rules/no-open-ingress";
import { noPublicBuckets } from "./rules/no-public-buckets";
import { noPublicDatabases } from "./rules/no-public-databases";
import { privateEksEndpoint } from "./rules/private-eks-endpoint";
import { prodDataProtection } from "./rules/prod-data-protection";
import { regionAllowlist } from "./rules/region-allowlist";
import { requiredTags } from "./rules/required-tags";
import { s3BucketBaseline } from "./rules/s3-bucket-baseline";
import { s3TlsOnly } from "./rules/s3-tls-only";
import { suppressionReport } from "./rules/suppressions";

export const PACK_NAME = "sovereign-baseline";

/** The mandatory per-resource rules. */
export const RESOURCE_POLICIES: readonly ResourceRule[] = [
  cmkEncryption,
  noPublicBuckets,
  noPublicDatabases,
  noOpenIngress,
  imdsv2Required,
  privateEksEndpoint,
  controlPlaneLogs,
  prodDataProtection,
  regionAllowlist,
  requiredTags,
  allowedImages,
  gpuThroughKueue,
];

/** The mandatory stack-wide rules. */
export const MANDATORY_STACK_POLICIES: readonly StackRule[] = [s3BucketBaseline, s3TlsOnly];

/** Every mandatory rule: each asserts values, applies to a shipped stack, and honours suppressions. */
export const RULES: readonly (ResourceRule | StackRule)[] = [
  ...RESOURCE_POLICIES,
  ...MANDATORY_STACK_POLICIES,
];

/** The advisory report of the suppressions in effect (not a rule: it judges nothing). */
export const SUPPRESSION_REPORT: StackValidationPolicy = suppressionReport(RULES);

export const STACK_POLICIES: readonly StackValidationPolicy[] = [
  ...MANDATORY_STACK_POLICIES,
  SUPPRESSION_REPORT,
];

export const POLICIES: readonly (ResourceRule | StackValidationPolicy)[] = [...RULES, SUPPRESSION_REPORT];
