/**
 * AccountBaseline: the account-wide settings FSBP checks that no single stack owns:
 * - S3.1: the account-level S3 public access block, all four switches on;
 * - EC2.7: EBS encryption by default, so a volume created outside the kit is encrypted too.
 *
 * Off by default (`accountBaseline.enabled`), because it changes every bucket and volume of the
 * account, the customer's own included. Both resources are retained on delete: destroying one
 * stack must not switch the account's protections off. The default EBS key stays the AWS-managed
 * `aws/ebs`: pointing the account default at this stack's key would break every later volume
 * once the stack (and its key) is gone; the kit's own volumes name their customer key anyway.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** The four switches of the account-level public access block (all on). */
export const ACCOUNT_PUBLIC_ACCESS_BLOCK = {
  blockPublicAcls: true,
  blockPublicPolicy: true,
  ignorePublicAcls: true,
  restrictPublicBuckets: true,
} as const;

export class AccountBaseline extends pulumi.ComponentResource {
  readonly publicAccessBlock: aws.s3.AccountPublicAccessBlock;
  readonly ebsEncryptionByDefault: aws.ebs.EncryptionByDefault;

  constructor(name: string, args: Record<string, never> = {}, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:AccountBaseline", name, args, opts);
    const p = { parent: this, retainOnDelete: true };
    this.publicAccessBlock = new aws.s3.AccountPublicAccessBlock(
      `${name}-s3-public-access`,
      { ...ACCOUNT_PUBLIC_ACCESS_BLOCK },
      p,
    );
    this.ebsEncryptionByDefault = new aws.ebs.EncryptionByDefault(
      `${name}-ebs-encryption`,
      { enabled: true },
      p,
    );
    this.registerOutputs({});
  }
}
