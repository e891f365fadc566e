/**
 * Postgres for the platform: Amazon RDS for PostgreSQL (16 or later) in the database subnets,
 * KMS-encrypted, never public, TLS forced by the parameter group, IAM auth on, the master
 * password managed by Secrets Manager, Performance Insights encrypted with the customer key;
 * in prod multi-AZ, deletion protection, a final snapshot and longer backups. Its security
 * group admits only the cluster's nodes and pods.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { dataOpts, policyJson, serviceTrust, type Tags } from "./common";

/** Parameter group family of a PostgreSQL version (`16.4` → `postgres16`). */
/** The RDS instance identifier of a stack's database (unique per account and region). */
export function databaseIdentifier(clusterName: string): string {
  return `${clusterName}-pg`;
}

export function parameterFamily(version: string): string {
  const major = Number(version.split(".")[0]);
  if (!Number.isInteger(major) || major < 16)
    throw new Error(`expected PostgreSQL 16 or later, found "${version}"`);
  return `postgres${major}`;
}

/** Parameters every instance gets: TLS only, SCRAM passwords, connection logging. */
export const DB_PARAMETERS: readonly {
  name: string;
  value: string;
  applyMethod: "immediate" | "pending-reboot";
}[] = [
  { name: "rds.force_ssl", value: "1", applyMethod: "pending-reboot" },
  { name: "password_encryption", value: "scram-sha-256", applyMethod: "immediate" },
  { name: "log_connections", value: "1", applyMethod: "immediate" },
  { name: "log_disconnections", value: "1", applyMethod: "immediate" },
];

/** Settings that depend on the profile's data protection. */
export function protection(protectData: boolean, identifier: string) {
  return {
    multiAz: protectData,
    deletionProtection: protectData,
    skipFinalSnapshot: !protectData,
    finalSnapshotIdentifier: protectData ? `${identifier}-final` : undefined,
    deleteAutomatedBackups: !protectData,
  };
}

export interface DatabaseArgs {
  /** RDS instance identifier. */
  readonly identifier: string;
  /** PostgreSQL version (16 or later); a major version picks the newest minor. */
  readonly version: string;
  readonly instanceClass: string;
  readonly storageGiB: number;
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<string>[];
  /** The only security group admitted on 5432: the cluster's (nodes and pods). */
  readonly clientSecurityGroupId: pulumi.Input<string>;
  readonly kmsKeyArn: pulumi.Input<string>;
  /** Prod data protection: multi-AZ, deletion protection, final snapshot, protect + retain. */
  readonly protectData: boolean;
  readonly backupRetentionDays: number;
  readonly tags: Tags;
  /** Multi-AZ standby. @default protectData */
  readonly multiAz?: boolean;
  /** Storage autoscaling ceiling, GiB. @default 4 x storageGiB */
  readonly maxStorageGiB?: number;
  /** Name of the initial database. @default sovereign */
  readonly databaseName?: string;
  /** Enhanced monitoring interval, seconds; 0 is off (FSBP RDS.6). @default 0 */
  readonly enhancedMonitoringSeconds?: 0 | 1 | 5 | 10 | 15 | 30 | 60;
}

export class Database extends pulumi.ComponentResource {
  readonly instance: aws.rds.Instance;
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** Secrets Manager ARN of the managed master credentials. */
  readonly masterSecretArn: pulumi.Output<string>;
  readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Database", name, {}, opts);
    const p = { parent: this };
    const tags = { ...args.tags };
    const prot = protection(args.protectData, args.identifier);

    const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds, tags }, p);
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: "Postgres from the cluster's nodes and pods only",
        ingress: [
          {
            protocol: "tcp",
            fromPort: 5432,
            toPort: 5432,
            securityGroups: [args.clientSecurityGroupId],
            description: "Postgres from the EKS cluster security group",
          },
        ],
        egress: [],
        tags,
      },
      p,
    );
    this.securityGroupId = sg.id;
    const params = new aws.rds.ParameterGroup(
      `${name}-params`,
      {
        family: parameterFamily(args.version),
        description: "sovereign: TLS only, SCRAM passwords",
        parameters: DB_PARAMETERS.map((x) => ({ ...x })),
        tags,
      },
      p,
    );
    // Enhanced monitoring: RDS publishes OS metrics with a role only its monitoring service assumes.
    const monitoringSeconds = args.enhancedMonitoringSeconds ?? 0;
    const monitoringRole =
      monitoringSeconds > 0
        ? new aws.iam.Role(
            `${name}-monitoring-role`,
            { assumeRolePolicy: policyJson(serviceTrust("monitoring.rds.amazonaws.com")), tags },
            p,
          )
        : undefined;
    if (monitoringRole)
      new aws.iam.RolePolicyAttachment(
        `${name}-monitoring-policy`,
        {
          role: monitoringRole.name,
          policyArn: "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
        },
        p,
      );
    this.instance = new aws.rds.Instance(
      `${name}-postgres`,
      {
        identifier: args.identifier,
        engine: "postgres",
        engineVersion: args.version,
        instanceClass: args.instanceClass,
        allocatedStorage: args.storageGiB,
        maxAllocatedStorage: args.maxStorageGiB ?? args.storageGiB * 4,
        storageType: "gp3",
        storageEncrypted: true,
        kmsKeyId: args.kmsKeyArn,
        dbName: args.databaseName ?? "sovereign",
        username: "sovereign_admin",
        manageMasterUserPassword: true,
        masterUserSecretKmsKeyId: args.kmsKeyArn,
        iamDatabaseAuthenticationEnabled: true,
        dbSubnetGroupName: subnets.name,
        vpcSecurityGroupIds: [sg.id],
        publiclyAccessible: false,
        parameterGroupName: params.name,
        caCertIdentifier: "rds-ca-rsa2048-g1",
        backupRetentionPeriod: args.backupRetentionDays,
        copyTagsToSnapshot: true,
        autoMinorVersionUpgrade: true,
        performanceInsightsEnabled: true,
        performanceInsightsKmsKeyId: args.kmsKeyArn,
        performanceInsightsRetentionPeriod: 7,
        enabledCloudwatchLogsExports: ["postgresql", "upgrade"],
        monitoringInterval: monitoringSeconds,
        ...(monitoringRole ? { monitoringRoleArn: monitoringRole.arn } : {}),
        ...prot,
        multiAz: args.multiAz ?? prot.multiAz,
        tags,
      },
      dataOpts(args.protectData, p),
    );
    this.host = this.instance.address;
    this.port = this.instance.port;
    this.masterSecretArn = this.instance.masterUserSecrets.apply((s) => s?.[0]?.secretArn ?? "");
    this.registerOutputs({ host: this.host });
  }
}
