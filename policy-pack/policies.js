"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.POLICIES = exports.STACK_POLICIES = exports.RESOURCE_POLICIES = exports.PACK_NAME = void 0;
const allowed_images_1 = require("./rules/allowed-images");
const cmk_encryption_1 = require("./rules/cmk-encryption");
const control_plane_logs_1 = require("./rules/control-plane-logs");
const gpu_through_kueue_1 = require("./rules/gpu-through-kueue");
const imdsv2_required_1 = require("./rules/imdsv2-required");
const no_open_ingress_1 = require("./rules/no-open-ingress");
const no_public_buckets_1 = require("./rules/no-public-buckets");
const no_public_databases_1 = require("./rules/no-public-databases");
const private_eks_endpoint_1 = require("./rules/private-eks-endpoint");
const prod_data_protection_1 = require("./rules/prod-data-protection");
const region_allowlist_1 = require("./rules/region-allowlist");
const required_tags_1 = require("./rules/required-tags");
const s3_bucket_baseline_1 = require("./rules/s3-bucket-baseline");
const s3_tls_only_1 = require("./rules/s3-tls-only");
exports.PACK_NAME = "sovereign-baseline";
exports.RESOURCE_POLICIES = [
    cmk_encryption_1.cmkEncryption,
    no_public_buckets_1.noPublicBuckets,
    no_public_databases_1.noPublicDatabases,
    no_open_ingress_1.noOpenIngress,
    imdsv2_required_1.imdsv2Required,
    private_eks_endpoint_1.privateEksEndpoint,
    control_plane_logs_1.controlPlaneLogs,
    prod_data_protection_1.prodDataProtection,
    region_allowlist_1.regionAllowlist,
    required_tags_1.requiredTags,
    allowed_images_1.allowedImages,
    gpu_through_kueue_1.gpuThroughKueue,
];
exports.STACK_POLICIES = [s3_bucket_baseline_1.s3BucketBaseline, s3_tls_only_1.s3TlsOnly];
exports.POLICIES = [
    ...exports.RESOURCE_POLICIES,
    ...exports.STACK_POLICIES,
];
