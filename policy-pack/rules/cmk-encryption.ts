/**
 * cmk-encryption: everything that stores data at rest is encrypted with a customer-managed KMS
 * key (not the AWS-owned default), and every CMK rotates. S3 default encryption needs the
 * bucket's context (the access-log target cannot use KMS) and is checked by s3-bucket-baseline.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { type Props, isTrue, quote, violation } from "../lib";

export const RULE = "cmk-encryption";

/** Returns a description of the problem, or undefined when the resource complies. */
type Check = (p: Props) => string | undefined;

const needKey = (field: string, p: Props, what: string) => (p[field] ? undefined : `${what} has no ${field}`);

const CHECKS: Record<string, { check: Check; fix: string }> = {
  "aws:rds/instance:Instance": {
    check: (p) =>
      !isTrue(p.storageEncrypted)
        ? `storageEncrypted is ${quote(p.storageEncrypted)}`
        : needKey("kmsKeyId", p, "the instance"),
    fix: "set storageEncrypted: true and kmsKeyId: key.arn",
  },
  "aws:rds/cluster:Cluster": {
    check: (p) =>
      !isTrue(p.storageEncrypted)
        ? `storageEncrypted is ${quote(p.storageEncrypted)}`
        : needKey("kmsKeyId", p, "the cluster"),
    fix: "set storageEncrypted: true and kmsKeyId: key.arn",
  },
  "aws:eks/cluster:Cluster": {
    check: (p) => {
      const e = p.encryptionConfig;
      if (!e?.provider?.keyArn)
        return "Kubernetes secrets are not envelope-encrypted (no encryptionConfig.provider.keyArn)";
      if (!(e.resources ?? []).includes("secrets"))
        return `encryptionConfig.resources is ${quote(e.resources)}, without "secrets"`;
      return undefined;
    },
    fix: 'set encryptionConfig: { provider: { keyArn: key.arn }, resources: ["secrets"] }',
  },
  "aws:ebs/volume:Volume": {
    check: (p) =>
      !isTrue(p.encrypted) ? `encrypted is ${quote(p.encrypted)}` : needKey("kmsKeyId", p, "the volume"),
    fix: "set encrypted: true and kmsKeyId: key.arn",
  },
  "aws:ec2/launchTemplate:LaunchTemplate": {
    check: (p) => {
      for (const m of (p.blockDeviceMappings ?? []) as Props[]) {
        if (!m.ebs) continue;
        if (!isTrue(m.ebs.encrypted))
          return `block device ${quote(m.deviceName)} has encrypted ${quote(m.ebs.encrypted)}`;
        if (!m.ebs.kmsKeyId) return `block device ${quote(m.deviceName)} has no kmsKeyId`;
      }
      return undefined;
    },
    fix: 'set blockDeviceMappings[].ebs.encrypted: "true" and kmsKeyId: key.arn',
  },
  "aws:cloudwatch/logGroup:LogGroup": {
    check: (p) => needKey("kmsKeyId", p, "the log group"),
    fix: "set kmsKeyId: key.arn (the key policy must allow logs.<region>.amazonaws.com)",
  },
  "aws:secretsmanager/secret:Secret": {
    check: (p) => needKey("kmsKeyId", p, "the secret"),
    fix: "set kmsKeyId: key.arn",
  },
  "aws:sns/topic:Topic": {
    check: (p) => needKey("kmsMasterKeyId", p, "the topic"),
    fix: "set kmsMasterKeyId: key.arn",
  },
  "aws:sqs/queue:Queue": {
    check: (p) => needKey("kmsMasterKeyId", p, "the queue"),
    fix: "set kmsMasterKeyId: key.arn (sqsManagedSseEnabled uses an AWS-owned key); when EventBridge feeds the queue, the key policy must allow events.amazonaws.com kms:GenerateDataKey and kms:Decrypt",
  },
  "aws:ecr/repository:Repository": {
    check: (p) => {
      const c = ((p.encryptionConfigurations ?? []) as Props[])[0];
      if (c?.encryptionType !== "KMS") return `encryptionType is ${quote(c?.encryptionType)}, not KMS`;
      return c.kmsKey ? undefined : "the repository names no kmsKey";
    },
    fix: 'set encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: key.arn }]',
  },
  "aws:efs/fileSystem:FileSystem": {
    check: (p) =>
      !isTrue(p.encrypted) ? `encrypted is ${quote(p.encrypted)}` : needKey("kmsKeyId", p, "the file system"),
    fix: "set encrypted: true and kmsKeyId: key.arn",
  },
  "aws:kms/key:Key": {
    check: (p) =>
      isTrue(p.enableKeyRotation) ? undefined : `enableKeyRotation is ${quote(p.enableKeyRotation)}`,
    fix: "set enableKeyRotation: true",
  },
};

/** Resource types this rule inspects. */
export const COVERED_TYPES = Object.keys(CHECKS);

export const cmkEncryption: ResourceValidationPolicy = {
  name: RULE,
  description: "Data at rest is encrypted with customer-managed KMS keys, and the keys rotate.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const c = CHECKS[args.type];
    if (!c) return;
    const problem = c.check(args.props);
    if (problem) reportViolation(violation(RULE, `${args.type} ${quote(args.name)}: ${problem}`, c.fix));
  },
};
