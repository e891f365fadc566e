/**
 * The rules of the sovereign-baseline pack, in one list (tests and index.ts share it).
 * Importing this module starts nothing; index.ts is the pack's entry point.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
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

export const PACK_NAME = "sovereign-baseline";

export const RESOURCE_POLICIES: readonly ResourceValidationPolicy[] = [
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

export const STACK_POLICIES: readonly StackValidationPolicy[] = [s3BucketBaseline, s3TlsOnly];

export const POLICIES: readonly (ResourceValidationPolicy | StackValidationPolicy)[] = [
  ...RESOURCE_POLICIES,
  ...STACK_POLICIES,
];
