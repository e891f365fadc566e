/**
 * The state backend of the kit, created once per account and region before any stack: a
 * versioned S3 bucket for Pulumi state encrypted with its own customer key, and a KMS key for
 * Pulumi's secrets provider. Both keys and the bucket are protected and retained on delete:
 * losing them loses every stack's state and secrets.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyJson, type Statement } from "../components/aws/common";
import { KEY_ADMIN_ACTIONS, KEY_USE_ACTIONS } from "../components/aws/keys";
import { tlsOnlyStatement } from "../components/aws/storage";
import { isBucketName } from "../components/lib/naming";

export interface StateBackendArgs {
  /** State bucket name (DNS-compatible, no dots). */
  readonly bucketName: string;
  readonly region: string;
  readonly accountId: pulumi.Input<string>;
  readonly partition: pulumi.Input<string>;
  readonly tags: Readonly<Record<string, string>>;
  /** Alias of the secrets-provider key. @default sovereign-pulumi-secrets */
  readonly secretsKeyAlias?: string;
  /** Days after which noncurrent state versions expire. @default 365 */
  readonly noncurrentVersionDays?: number;
}

/** `pulumi login` URL of the bucket. */
export function loginUrl(bucket: string, region: string): string {
  return `s3://${bucket}?region=${region}&awssdk=v2`;
}

/** `--secrets-provider` URL of the key alias. */
export function secretsProviderUrl(alias: string, region: string): string {
  return `awskms://alias/${alias}?region=${region}`;
}

/** Key policy: the account administers (no `kms:*`) and uses the key through IAM. */
export function backendKeyPolicy(
  accountId: pulumi.Input<string>,
  partition: pulumi.Input<string>,
): Statement[] {
  const root = pulumi.interpolate`arn:${partition}:iam::${accountId}:root`;
  return [
    {
      Sid: "KeyAdministration",
      Effect: "Allow",
      Principal: { AWS: root },
      Action: KEY_ADMIN_ACTIONS,
      Resource: "*",
    },
    {
      Sid: "UseThroughIam",
      Effect: "Allow",
      Principal: { AWS: root },
      Action: KEY_USE_ACTIONS,
      Resource: "*",
      Condition: { StringEquals: { "kms:CallerAccount": accountId } },
    },
  ];
}

export class StateBackend extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly stateKey: aws.kms.Key;
  readonly secretsKey: aws.kms.Key;
  readonly loginUrl: string;
  readonly secretsProviderUrl: string;

  constructor(name: string, args: StateBackendArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:bootstrap:StateBackend", name, {}, opts);
    if (!isBucketName(args.bucketName))
      throw new Error(`expected a DNS-compatible bucket name without dots, found "${args.bucketName}"`);
    const keep = { parent: this, protect: true, retainOnDelete: true };
    const tags = { ...args.tags };
    const alias = args.secretsKeyAlias ?? "sovereign-pulumi-secrets";
    const key = (role: string, description: string) =>
      new aws.kms.Key(
        `${name}-${role}-key`,
        {
          description,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          policy: policyJson(backendKeyPolicy(args.accountId, args.partition)),
          tags,
        },
        keep,
      );
    this.stateKey = key("state", "sovereign: Pulumi state bucket encryption");
    this.secretsKey = key("secrets", "sovereign: Pulumi secrets provider");
    new aws.kms.Alias(
      `${name}-secrets-alias`,
      { name: `alias/${alias}`, targetKeyId: this.secretsKey.keyId },
      keep,
    );

    this.bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucket: args.bucketName, forceDestroy: false, tags },
      keep,
    );
    const b = this.bucket.id;
    new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: b,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      keep,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket: b, rule: { objectOwnership: "BucketOwnerEnforced" } },
      keep,
    );
    const versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: b, versioningConfiguration: { status: "Enabled" } },
      keep,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-sse`,
      {
        bucket: b,
        rules: [
          {
            applyServerSideEncryptionByDefault: {
              sseAlgorithm: "aws:kms",
              kmsMasterKeyId: this.stateKey.arn,
            },
            bucketKeyEnabled: true,
          },
        ],
      },
      keep,
    );
    new aws.s3.BucketPolicy(
      `${name}-policy`,
      { bucket: b, policy: policyJson([tlsOnlyStatement(this.bucket.arn)]) },
      keep,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: b,
        rules: [
          {
            id: "noncurrent-state",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays ?? 365 },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      { ...keep, dependsOn: [versioning] },
    );
    this.loginUrl = loginUrl(args.bucketName, args.region);
    this.secretsProviderUrl = secretsProviderUrl(alias, args.region);
    this.registerOutputs({ loginUrl: this.loginUrl, secretsProviderUrl: this.secretsProviderUrl });
  }
}
