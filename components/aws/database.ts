/**
 * Postgres for the platform: Amazon RDS for PostgreSQL (16 or later) in the database subnets,
 * KMS-encrypted, never public, TLS forced by the parameter group, IAM auth on, the master
 * password managed by Secrets Manager, Performance Insights encrypted with the customer key;
 * in prod multi-AZ, deletion protection, a final snapshot and longer backups. Its security
 * group admits only the cluster's nodes and pods.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { dataOpts, policyJson, serviceTrust, type Statement, type Tags } from "./common";
import { RDS_CA_ROOTS } from "./rds-ca-bundle";

/** The certificate authority RDS signs the instance's server certificate with. */
export const RDS_CA_IDENTIFIER = "rds-ca-rsa2048-g1";

/**
 * The CA bundle Postgres clients verify RDS in `region` against (`sslmode=verify-full`): the
 * region's G1 roots from the pinned bundle (components/aws/rds-ca-bundle.ts), all three, so
 * that changing the instance's CA between them needs no client change.
 */
export function rdsCaBundle(region: string): string {
  const roots = Object.hasOwn(RDS_CA_ROOTS, region) ? RDS_CA_ROOTS[region] : undefined;
  if (!roots)
    throw new Error(
      `expected a region the pinned RDS CA bundle covers (${Object.keys(RDS_CA_ROOTS).join(", ")}), found "${region}"`,
    );
  return `${roots.join("\n")}\n`;
}

/** The RDS instance identifier of a stack's database (unique per account and region). */
export function databaseIdentifier(clusterName: string): string {
  return `${clusterName}-pg`;
}

/**
 * The ARN IAM authentication checks `rds-db:connect` against: one database user of one
 * instance, named by the instance's resource id (`db-...`, stable across renames) and the role.
 */
export function rdsDbUserArn(a: {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly resourceId: string;
  readonly user: string;
}): string {
  return `arn:${a.partition}:rds-db:${a.region}:${a.accountId}:dbuser:${a.resourceId}/${a.user}`;
}

/** The statement letting a workload log in as `user` with IAM tokens, and as nobody else. */
export function rdsConnectStatement(a: {
  readonly partition: pulumi.Input<string>;
  readonly region: string;
  readonly accountId: pulumi.Input<string>;
  readonly resourceId: pulumi.Input<string>;
  readonly user: string;
}): Statement {
  return {
    Sid: "RdsIamConnect",
    Effect: "Allow",
    Action: ["rds-db:connect"],
    Resource: pulumi
      .all([a.partition, a.accountId, a.resourceId])
      .apply(([partition, accountId, resourceId]) =>
        rdsDbUserArn({ partition, region: a.region, accountId, resourceId, user: a.user }),
      ),
  };
}

/** Parameter group family of a PostgreSQL version (`16.4` → `postgres16`). */
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
  /** The only security group admitted on the database port: the cluster's (nodes and pods). */
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
  /** Port the instance listens on; a non-default one satisfies FSBP RDS.23. @default 5432 */
  readonly port?: number;
}

export class Database extends pulumi.ComponentResource {
  readonly instance: aws.rds.Instance;
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** The instance's resource id (`db-...`), which IAM authentication ARNs name. */
  readonly resourceId: pulumi.Output<string>;
  /** Secrets Manager ARN of the managed master credentials. */
  readonly masterSecretArn: pulumi.Output<string>;
  readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:Database", name, {}, opts);
    const p = { parent: this };
    const tags = { ...args.tags };
    const prot = protection(args.protectData, args.identifier);
    const port = args.port ?? 5432;

    const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds, tags }, p);
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: "Postgres from the cluster's nodes and pods only",
        ingress: [
          {
            protocol: "tcp",
            fromPort: port,
            toPort: port,
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
        port,
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
        caCertIdentifier: RDS_CA_IDENTIFIER,
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
    this.resourceId = this.instance.resourceId;
    this.masterSecretArn = this.instance.masterUserSecrets.apply((s) => s?.[0]?.secretArn ?? "");
    this.registerOutputs({ host: this.host });
  }
}
