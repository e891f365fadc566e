"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.cmkEncryption = exports.COVERED_TYPES = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "cmk-encryption";
const needKey = (field, p, what) => (p[field] ? undefined : `${what} has no ${field}`);
const CHECKS = {
    "aws:rds/instance:Instance": {
        check: (p) => !(0, lib_1.isTrue)(p.storageEncrypted)
            ? `storageEncrypted is ${(0, lib_1.quote)(p.storageEncrypted)}`
            : needKey("kmsKeyId", p, "the instance"),
        fix: "set storageEncrypted: true and kmsKeyId: key.arn",
    },
    "aws:rds/cluster:Cluster": {
        check: (p) => !(0, lib_1.isTrue)(p.storageEncrypted)
            ? `storageEncrypted is ${(0, lib_1.quote)(p.storageEncrypted)}`
            : needKey("kmsKeyId", p, "the cluster"),
        fix: "set storageEncrypted: true and kmsKeyId: key.arn",
    },
    "aws:eks/cluster:Cluster": {
        check: (p) => {
            const e = p.encryptionConfig;
            if (!e?.provider?.keyArn)
                return "Kubernetes secrets are not envelope-encrypted (no encryptionConfig.provider.keyArn)";
            if (!(e.resources ?? []).includes("secrets"))
                return `encryptionConfig.resources is ${(0, lib_1.quote)(e.resources)}, without "secrets"`;
            return undefined;
        },
        fix: 'set encryptionConfig: { provider: { keyArn: key.arn }, resources: ["secrets"] }',
    },
    "aws:ebs/volume:Volume": {
        check: (p) => !(0, lib_1.isTrue)(p.encrypted) ? `encrypted is ${(0, lib_1.quote)(p.encrypted)}` : needKey("kmsKeyId", p, "the volume"),
        fix: "set encrypted: true and kmsKeyId: key.arn",
    },
    "aws:ec2/launchTemplate:LaunchTemplate": {
        check: (p) => {
            for (const m of (p.blockDeviceMappings ?? [])) {
                if (!m.ebs)
                    continue;
                if (!(0, lib_1.isTrue)(m.ebs.encrypted))
                    return `block device ${(0, lib_1.quote)(m.deviceName)} has encrypted ${(0, lib_1.quote)(m.ebs.encrypted)}`;
                if (!m.ebs.kmsKeyId)
                    return `block device ${(0, lib_1.quote)(m.deviceName)} has no kmsKeyId`;
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
            const c = (p.encryptionConfigurations ?? [])[0];
            if (c?.encryptionType !== "KMS")
                return `encryptionType is ${(0, lib_1.quote)(c?.encryptionType)}, not KMS`;
            return c.kmsKey ? undefined : "the repository names no kmsKey";
        },
        fix: 'set encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: key.arn }]',
    },
    "aws:efs/fileSystem:FileSystem": {
        check: (p) => !(0, lib_1.isTrue)(p.encrypted) ? `encrypted is ${(0, lib_1.quote)(p.encrypted)}` : needKey("kmsKeyId", p, "the file system"),
        fix: "set encrypted: true and kmsKeyId: key.arn",
    },
    "aws:kms/key:Key": {
        check: (p) => (0, lib_1.isTrue)(p.enableKeyRotation) ? undefined : `enableKeyRotation is ${(0, lib_1.quote)(p.enableKeyRotation)}`,
        fix: "set enableKeyRotation: true",
    },
};
/** Resource types this rule inspects. */
exports.COVERED_TYPES = Object.keys(CHECKS);
exports.cmkEncryption = {
    name: exports.RULE,
    description: "Data at rest is encrypted with customer-managed KMS keys, and the keys rotate.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const c = CHECKS[args.type];
        if (!c)
            return;
        const problem = c.check(args.props);
        if (problem)
            reportViolation((0, lib_1.violation)(exports.RULE, `${args.type} ${(0, lib_1.quote)(args.name)}: ${problem}`, c.fix));
    },
};
