/**
 * cmk-encryption: everything that stores data at rest is encrypted with a customer-managed KMS
 * key (not the AWS-owned default), and every CMK rotates. S3 default encryption needs the
 * bucket's context (the access-log target cannot use KMS) and is checked by s3-bucket-baseline.
 */
import { type Props, cmkProblem, isTrue, quote, resourceRule, violation } from "../lib";

export const RULE = "cmk-encryption";

/** Returns a description of the problem, or undefined when the resource complies. */
type Check = (p: Props) => string | undefined;

/** The customer-managed key in `field`: its value must be a KMS key ARN (not an alias, not empty). */
const needKey = (field: string, p: Props) => cmkProblem(field, p[field]);

const CHECKS: Record<string, { check: Check; fix: string }> = {
  "aws:rds/instance:Instance": {
    check: (p) =>
      !isTrue(p.storageEncrypted)
        ? `storageEncrypted is ${quote(p.storageEncrypted)}`
        : needKey("kmsKeyId", p),
    fix: "set storageEncrypted: true and kmsKeyId: key.arn",
  },
  "aws:rds/cluster:Cluster": {
    check: (p) =>
      !isTrue(p.storageEncrypted)
        ? `storageEncrypted is ${quote(p.storageEncrypted)}`
        : needKey("kmsKeyId", p),
    fix: "set storageEncrypted: true and kmsKeyId: key.arn",
  },
  "aws:eks/cluster:Cluster": {
    check: (p) => {
      const e = p.encryptionConfig;
      if (!e?.provider?.keyArn)
        return "Kubernetes secrets are not envelope-encrypted (no encryptionConfig.provider.keyArn)";
      const key = cmkProblem("encryptionConfig.provider.keyArn", e.provider.keyArn);
      if (key) return key;
      if (!(e.resources ?? []).includes("secrets"))
        return `encryptionConfig.resources is ${quote(e.resources)}, without "secrets"`;
      return undefined;
    },
    fix: 'set encryptionConfig: { provider: { keyArn: key.arn }, resources: ["secrets"] }',
  },
  "aws:ebs/volume:Volume": {
    check: (p) => (!isTrue(p.encrypted) ? `encrypted is ${quote(p.encrypted)}` : needKey("kmsKeyId", p)),
    fix: "set encrypted: true and kmsKeyId: key.arn",
  },
  "aws:ec2/launchTemplate:LaunchTemplate": {
    check: (p) => {
      for (const m of (p.blockDeviceMappings ?? []) as Props[]) {
        if (!m.ebs) continue;
        if (!isTrue(m.ebs.encrypted))
          return `block device ${quote(m.deviceName)} has encrypted ${quote(m.ebs.encrypted)}`;
        const key = cmkProblem("kmsKeyId", m.ebs.kmsKeyId);
        if (key) return `block device ${quote(m.deviceName)}: ${key}`;
      }
      return undefined;
    },
    fix: 'set blockDeviceMappings[].ebs.encrypted: "true" and kmsKeyId: key.arn',
  },
  "aws:cloudwatch/logGroup:LogGroup": {
    check: (p) => needKey("kmsKeyId", p),
    fix: "set kmsKeyId: key.arn (the key policy must allow logs.<region>.amazonaws.com)",
  },
  "aws:secretsmanager/secret:Secret": {
    check: (p) => needKey("kmsKeyId", p),
    fix: "set kmsKeyId: key.arn",
  },
  "aws:sns/topic:Topic": {
    check: (p) => needKey("kmsMasterKeyId", p),
    fix: "set kmsMasterKeyId: key.arn",
  },
  "aws:sqs/queue:Queue": {
    check: (p) => needKey("kmsMasterKeyId", p),
    fix: "set kmsMasterKeyId: key.arn (sqsManagedSseEnabled uses an AWS-owned key); when EventBridge feeds the queue, the key policy must allow events.amazonaws.com kms:GenerateDataKey and kms:Decrypt",
  },
  "aws:ecr/repository:Repository": {
    check: (p) => {
      const c = ((p.encryptionConfigurations ?? []) as Props[])[0];
      if (c?.encryptionType !== "KMS") return `encryptionType is ${quote(c?.encryptionType)}, not KMS`;
      return cmkProblem("kmsKey", c.kmsKey);
    },
    fix: 'set encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: key.arn }]',
  },
  "aws:efs/fileSystem:FileSystem": {
    check: (p) => (!isTrue(p.encrypted) ? `encrypted is ${quote(p.encrypted)}` : needKey("kmsKeyId", p)),
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

export const cmkEncryption = resourceRule({
  name: RULE,
  description: "Data at rest is encrypted with customer-managed KMS keys, and the keys rotate.",
  appliesTo: (type) => type in CHECKS,
  check: (args, reportViolation) => {
    const c = CHECKS[args.type];
    const problem = c.check(args.props);
    if (problem) reportViolation(violation(RULE, `${args.type} ${quote(args.name)}: ${problem}`, c.fix));
  },
});
