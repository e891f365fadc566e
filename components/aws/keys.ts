/**
 * Customer-managed KMS keys, one per purpose, with rotation on and least-privilege key
 * policies: administration by the account, use only through the owning AWS service.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { dataOpts, policyJson, type Statement, type Tags } from "./common";

export type KeyPurpose = "eks" | "s3" | "rds" | "logs" | "ebs";
export const KEY_PURPOSES: readonly KeyPurpose[] = ["eks", "s3", "rds", "logs", "ebs"];

export interface KeysArgs {
  readonly accountId: pulumi.Input<string>;
  readonly partition: pulumi.Input<string>;
  readonly region: string;
  readonly tags: Tags;
  /** Protect the keys from `pulumi destroy` and retain them on delete (prod). */
  readonly protectData: boolean;
  /** Days a deleted key waits before it is gone. @default 30 when protectData, else 7 */
  readonly deletionWindowInDays?: number;
  /** Alias prefix: keys get `alias/<prefix>-<purpose>` (must not start with `aws`). @default the component name */
  readonly aliasPrefix?: string;
}

/**
 * Key administration without `kms:*`: every action listed. Creating grants is not
 * administration: a grant can hand out `Decrypt`, so only AWS services may create them
 * (`GRANT_ACTIONS`, below).
 */
export const KEY_ADMIN_ACTIONS = [
  "kms:CreateAlias",
  "kms:DescribeKey",
  "kms:EnableKey",
  "kms:EnableKeyRotation",
  "kms:DisableKey",
  "kms:DisableKeyRotation",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListAliases",
  "kms:ListGrants",
  "kms:ListKeyPolicies",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:UpdateAlias",
  "kms:UpdateKeyDescription",
  "kms:RevokeGrant",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
  "kms:DeleteAlias",
  "kms:RotateKeyOnDemand",
];

/** Grant changes, allowed only for grants an AWS service makes for its resources. */
export const GRANT_ACTIONS = ["kms:CreateGrant", "kms:RevokeGrant"];

export const KEY_USE_ACTIONS = [
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncryptFrom",
  "kms:ReEncryptTo",
  "kms:GenerateDataKey",
  "kms:GenerateDataKeyWithoutPlaintext",
  "kms:DescribeKey",
];

/**
 * AWS services whose calls may use a key of each purpose (`kms:ViaService`):
 * - `rds` also encrypts the Secrets Manager secrets of the database (managed master, logins);
 * - `logs` also encrypts the Karpenter interruption queue (SQS).
 *
 * EKS secrets encryption calls KMS with the cluster role directly, so that key is scoped by
 * IAM instead.
 */
export function viaService(purpose: KeyPurpose, region: string): string[] | undefined {
  const svc = {
    eks: undefined,
    s3: ["s3"],
    rds: ["rds", "secretsmanager"],
    logs: ["logs", "sqs"],
    ebs: ["ec2"],
  }[purpose];
  return svc?.map((x) => `${x}.${region}.amazonaws.com`);
}

/** The key policy of one purpose. */
export function keyPolicy(
  purpose: KeyPurpose,
  a: { accountId: pulumi.Input<string>; partition: pulumi.Input<string>; region: string },
): Statement[] {
  const root = pulumi.interpolate`arn:${a.partition}:iam::${a.accountId}:root`;
  const via = viaService(purpose, a.region);
  const statements: Statement[] = [
    {
      Sid: "KeyAdministration",
      Effect: "Allow",
      Principal: { AWS: root },
      Action: KEY_ADMIN_ACTIONS,
      Resource: "*",
    },
    {
      Sid: "UseThroughOwningService",
      Effect: "Allow",
      Principal: { AWS: root },
      // ListGrants (read-only) as before: the EKS cluster role lists the key's grants itself.
      Action: [...KEY_USE_ACTIONS, "kms:ListGrants"],
      Resource: "*",
      Condition: {
        StringEquals: {
          "kms:CallerAccount": a.accountId,
          ...(via === undefined ? {} : { "kms:ViaService": via }),
        },
      },
    },
    {
      // EBS attaching a volume, RDS, EKS secrets encryption: services create grants for the
      // resources they run; nobody can grant a principal the key directly.
      Sid: "GrantsForAwsResources",
      Effect: "Allow",
      Principal: { AWS: root },
      Action: GRANT_ACTIONS,
      Resource: "*",
      Condition: {
        // The EKS key is the exception: the cluster role creates its grant with its own
        // credentials (IAM scopes that key, as it scopes the key's use).
        ...(purpose === "eks" ? {} : { Bool: { "kms:GrantIsForAWSResource": true } }),
        StringEquals: {
          "kms:CallerAccount": a.accountId,
          ...(via === undefined ? {} : { "kms:ViaService": via }),
        },
      },
    },
  ];
  if (purpose === "logs") {
    statements.push({
      Sid: "CloudWatchLogs",
      Effect: "Allow",
      Principal: { Service: `logs.${a.region}.amazonaws.com` },
      Action: [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
      ],
      Resource: "*",
      Condition: {
        ArnLike: {
          "kms:EncryptionContext:aws:logs:arn": pulumi.interpolate`arn:${a.partition}:logs:${a.region}:${a.accountId}:log-group:*`,
        },
      },
    });
  }
  if (purpose === "logs") {
    // EventBridge delivers interruption events into the KMS-encrypted Karpenter queue.
    statements.push({
      Sid: "EventBridgeToQueue",
      Effect: "Allow",
      Principal: { Service: "events.amazonaws.com" },
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: "*",
      Condition: { StringEquals: { "aws:SourceAccount": a.accountId } },
    });
  }
  if (purpose === "ebs") {
    // EKS managed node groups launch through Auto Scaling, whose service-linked role must
    // use the key for encrypted root volumes.
    const asg = pulumi.interpolate`arn:${a.partition}:iam::${a.accountId}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
    statements.push(
      {
        Sid: "AutoScalingUse",
        Effect: "Allow",
        Principal: { AWS: asg },
        Action: KEY_USE_ACTIONS,
        Resource: "*",
      },
      {
        Sid: "AutoScalingGrants",
        Effect: "Allow",
        Principal: { AWS: asg },
        Action: ["kms:CreateGrant"],
        Resource: "*",
        Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
      },
    );
  }
  return statements;
}

export class Keys extends pulumi.ComponentResource {
  readonly keys: Readonly<Record<KeyPurpose, aws.kms.Key>>;
  readonly arns: Readonly<Record<KeyPurpose, pulumi.Output<string>>>;

  constructor(name: string, args: KeysArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Keys", name, {}, opts);
    const window = args.deletionWindowInDays ?? (args.protectData ? 30 : 7);
    const make = (purpose: KeyPurpose) => {
      const key = new aws.kms.Key(
        `${name}-${purpose}`,
        {
          description: `sovereign ${purpose} encryption (${name})`,
          enableKeyRotation: true,
          deletionWindowInDays: window,
          keyUsage: "ENCRYPT_DECRYPT",
          customerMasterKeySpec: "SYMMETRIC_DEFAULT",
          policy: policyJson(keyPolicy(purpose, args)),
          tags: { ...args.tags, "sovereign:key-purpose": purpose },
        },
        dataOpts(args.protectData, { parent: this }),
      );
      new aws.kms.Alias(
        `${name}-${purpose}-alias`,
        { name: `alias/${args.aliasPrefix ?? name}-${purpose}`, targetKeyId: key.keyId },
        { parent: this },
      );
      return key;
    };
    const keys = Object.fromEntries(KEY_PURPOSES.map((p) => [p, make(p)])) as Record<KeyPurpose, aws.kms.Key>;
    this.keys = keys;
    this.arns = Object.fromEntries(KEY_PURPOSES.map((p) => [p, keys[p].arn])) as Record<
      KeyPurpose,
      pulumi.Output<string>
    >;
    this.registerOutputs({});
  }
}
