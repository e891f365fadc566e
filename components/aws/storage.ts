/**
 * S3 buckets for models, datasets, checkpoints and inference logs, plus an access-log bucket.
 * Every data bucket: SSE-KMS with the customer key and bucket keys, versioning, all public
 * access blocked, ACLs disabled, a policy denying plain HTTP and non-KMS uploads, lifecycle
 * rules, server access logging; optional object lock on the inference-log bucket.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BUCKET_ROLES, type BucketRole, type Expiration } from "../lib/scopes";
import { dataOpts, policyJson, type Statement, type Tags } from "./common";

/** Bucket-name suffix per role. */
export const BUCKET_SUFFIX: Readonly<Record<BucketRole, string>> = {
  models: "models",
  datasets: "datasets",
  checkpoints: "checkpoints",
  inferenceLogs: "inference-logs",
};

export function bucketName(prefix: string, role: BucketRole | "accessLogs"): string {
  return `${prefix}-${role === "accessLogs" ? "access-logs" : BUCKET_SUFFIX[role]}`;
}

/**
 * The TLS-only statement denies every S3 action (`s3:*`) over plain HTTP: a Deny is the one
 * place a wildcard action belongs (it can only take rights away), and it is the form AWS
 * Security Hub control S3.5 checks. Allow statements never use a wildcard (`policyDocument`).
 */
export const S3_TLS_DENIED_ACTION = "s3:*";

/** Denies any request over plain HTTP. */
export function tlsOnlyStatement(bucketArn: pulumi.Input<string>): Statement {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: S3_TLS_DENIED_ACTION,
    Resource: [bucketArn, pulumi.interpolate`${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": false } },
  };
}

/**
 * Bucket policy of a data bucket: TLS only; uploads must be SSE-KMS with the customer key.
 * A request without an encryption header gets the bucket default, which is that key. A request
 * that asks for `aws:kms` must name the key: without a key id S3 would use the AWS managed
 * `aws/s3` key instead.
 */
export function dataBucketPolicy(bucketArn: pulumi.Input<string>, keyArn: pulumi.Input<string>): Statement[] {
  const objects = pulumi.interpolate`${bucketArn}/*`;
  return [
    tlsOnlyStatement(bucketArn),
    {
      Sid: "DenyNonKmsUploads",
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:PutObject"],
      Resource: objects,
      Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
    },
    {
      Sid: "DenyOtherKmsKeys",
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:PutObject"],
      Resource: objects,
      Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn } },
    },
    {
      Sid: "DenyKmsWithoutKeyId",
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:PutObject"],
      Resource: objects,
      Condition: {
        StringEquals: { "s3:x-amz-server-side-encryption": "aws:kms" },
        Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "true" },
      },
    },
  ];
}

/** Bucket policy of the access-log bucket: TLS only; S3 log delivery from this account's buckets. */
export function accessLogBucketPolicy(
  bucketArn: pulumi.Input<string>,
  accountId: pulumi.Input<string>,
  sourceBucketArns: pulumi.Input<string>[],
): Statement[] {
  return [
    tlsOnlyStatement(bucketArn),
    {
      Sid: "S3ServerAccessLogs",
      Effect: "Allow",
      Principal: { Service: "logging.s3.amazonaws.com" },
      Action: ["s3:PutObject"],
      Resource: pulumi.interpolate`${bucketArn}/*`,
      Condition: {
        StringEquals: { "aws:SourceAccount": accountId },
        ArnLike: { "aws:SourceArn": sourceBucketArns },
      },
    },
  ];
}

export interface ObjectStorageArgs {
  /** Bucket names are `${bucketPrefix}-models` etc. */
  readonly bucketPrefix: string;
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly accountId: pulumi.Input<string>;
  /** Allow `pulumi destroy` to delete non-empty buckets (dev only). */
  readonly forceDestroy: boolean;
  /** Protect the buckets and retain them on delete (prod). */
  readonly protectData: boolean;
  readonly tags: Tags;
  /** Days after which noncurrent object versions expire. @default 30 */
  readonly noncurrentVersionDays?: number;
  /** Object lock (governance retention) on the inference-log bucket. @default false */
  readonly objectLock?: boolean;
  /** Default retention of locked inference logs, days. @default 30 */
  readonly objectLockDays?: number;
  /** Days access logs are kept. @default 365 */
  readonly accessLogDays?: number;
  /** Objects that expire under a prefix (`retentionExpirations`). @default none: nothing expires */
  readonly expirations?: readonly Expiration[];
}

export class ObjectStorage extends pulumi.ComponentResource {
  readonly buckets: Readonly<Record<BucketRole, aws.s3.Bucket>>;
  readonly bucketNames: Readonly<Record<BucketRole, pulumi.Output<string>>>;
  readonly bucketArns: Readonly<Record<BucketRole, pulumi.Output<string>>>;
  readonly accessLogBucket: aws.s3.Bucket;

  constructor(name: string, args: ObjectStorageArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:ObjectStorage", name, {}, opts);
    const o = dataOpts(args.protectData, { parent: this });
    const tags = { ...args.tags };
    const noncurrentDays = args.noncurrentVersionDays ?? 30;

    const common = (role: string, bucket: aws.s3.Bucket, sse: "kms" | "s3") => {
      new aws.s3.BucketPublicAccessBlock(
        `${name}-${role}-public-access`,
        {
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        o,
      );
      new aws.s3.BucketOwnershipControls(
        `${name}-${role}-ownership`,
        { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
        o,
      );
      new aws.s3.BucketServerSideEncryptionConfiguration(
        `${name}-${role}-sse`,
        {
          bucket: bucket.id,
          rules: [
            sse === "kms"
              ? {
                  applyServerSideEncryptionByDefault: {
                    sseAlgorithm: "aws:kms",
                    kmsMasterKeyId: args.kmsKeyArn,
                  },
                  bucketKeyEnabled: true,
                }
              : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
          ],
        },
        o,
      );
      return new aws.s3.BucketVersioning(
        `${name}-${role}-versioning`,
        { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
        o,
      );
    };

    // Access logs: S3 server access logging delivers only to SSE-S3 buckets (not SSE-KMS).
    const logs = new aws.s3.Bucket(
      `${name}-access-logs`,
      { bucket: bucketName(args.bucketPrefix, "accessLogs"), forceDestroy: args.forceDestroy, tags },
      o,
    );
    this.accessLogBucket = logs;
    const logsVersioning = common("access-logs", logs, "s3");
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-access-logs-lifecycle`,
      {
        bucket: logs.id,
        rules: [
          {
            id: "expire-logs",
            status: "Enabled",
            filter: {},
            expiration: { days: args.accessLogDays ?? 365 },
            noncurrentVersionExpiration: { noncurrentDays: 7 },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      { ...o, dependsOn: [logsVersioning] },
    );

    const buckets = {} as Record<BucketRole, aws.s3.Bucket>;
    for (const role of BUCKET_ROLES) {
      const r = BUCKET_SUFFIX[role];
      const lock = role === "inferenceLogs" && (args.objectLock ?? false);
      const bucket = new aws.s3.Bucket(
        `${name}-${r}`,
        {
          bucket: bucketName(args.bucketPrefix, role),
          forceDestroy: args.forceDestroy,
          objectLockEnabled: lock,
          tags,
        },
        o,
      );
      buckets[role] = bucket;
      const versioning = common(r, bucket, "kms");
      new aws.s3.BucketPolicy(
        `${name}-${r}-policy`,
        { bucket: bucket.id, policy: policyJson(dataBucketPolicy(bucket.arn, args.kmsKeyArn)) },
        o,
      );
      new aws.s3.BucketLifecycleConfiguration(
        `${name}-${r}-lifecycle`,
        {
          bucket: bucket.id,
          rules: [
            {
              id: "noncurrent-and-multipart",
              status: "Enabled",
              filter: {},
              noncurrentVersionExpiration: { noncurrentDays: noncurrentDays },
              abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
            },
            ...(args.expirations ?? [])
              .filter((e) => e.bucket === role)
              .map((e, i) => ({
                id: `retention-${i}`,
                status: "Enabled",
                filter: { prefix: e.prefix },
                expiration: { days: e.days },
              })),
          ],
        },
        { ...o, dependsOn: [versioning] },
      );
      new aws.s3.BucketLogging(
        `${name}-${r}-logging`,
        { bucket: bucket.id, targetBucket: logs.id, targetPrefix: `${r}/` },
        o,
      );
      if (lock) {
        new aws.s3.BucketObjectLockConfiguration(
          `${name}-${r}-object-lock`,
          {
            bucket: bucket.id,
            rule: { defaultRetention: { mode: "GOVERNANCE", days: args.objectLockDays ?? 30 } },
          },
          { ...o, dependsOn: [versioning] },
        );
      }
    }
    new aws.s3.BucketPolicy(
      `${name}-access-logs-policy`,
      {
        bucket: logs.id,
        policy: policyJson(
          accessLogBucketPolicy(
            logs.arn,
            args.accountId,
            BUCKET_ROLES.map((b) => buckets[b].arn),
          ),
        ),
      },
      o,
    );
    this.buckets = buckets;
    this.bucketNames = Object.fromEntries(BUCKET_ROLES.map((b) => [b, buckets[b].bucket])) as Record<
      BucketRole,
      pulumi.Output<string>
    >;
    this.bucketArns = Object.fromEntries(BUCKET_ROLES.map((b) => [b, buckets[b].arn])) as Record<
      BucketRole,
      pulumi.Output<string>
    >;
    this.registerOutputs({ buckets: this.bucketNames });
  }
}
