/**
 * The Postgres login of one service on RDS. A one-shot Job in the substrate's own namespace
 * creates the role and its database with the managed master credentials (RDS rotates them in
 * Secrets Manager; the Job's Secret is re-read from there on every update). Then either:
 * - IAM authentication (`iamAuth`, prod): the role is granted `rds_iam` and has no password; the
 *   service signs a fresh IAM token per connection with its Pod Identity. Nothing static exists.
 * - a password: generated, kept in Secrets Manager (KMS-encrypted) and projected into a
 *   Kubernetes Secret (`username`, `password`) in the service's namespace (a dev option).
 * Services connect with TLS, verifying the server (`verify-full`).
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { FLYWHEEL_WRITER_CONNECTION_LIMIT } from "../lib/contracts";
import { k8sLabels } from "../lib/labels";
import type { Tags } from "./common";

/**
 * Idempotent SQL run by the login job: create the role when missing, (re)set its password,
 * create its database when missing. Values come in as psql variables, quoted by `format()`.
 */
export const LOGIN_SQL = [
  "SELECT format('CREATE ROLE %I LOGIN', :'svc') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'svc')\\gexec",
  "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'svc', :'pw')\\gexec",
  "SELECT format('GRANT %I TO CURRENT_USER', :'svc')\\gexec",
  "SELECT format('CREATE DATABASE %I OWNER %I', :'svc', :'svc') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'svc')\\gexec",
  "SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'svc')\\gexec",
].join("\n");

/**
 * The SQL of a role that logs in with IAM tokens only: no password (a previous one is removed)
 * and membership of `rds_iam`, which RDS creates and which makes it refuse password logins.
 */
export const IAM_LOGIN_SQL = [
  "SELECT format('CREATE ROLE %I LOGIN', :'svc') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'svc')\\gexec",
  "SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD NULL', :'svc')\\gexec",
  "SELECT format('GRANT rds_iam TO %I', :'svc')\\gexec",
  "SELECT format('GRANT %I TO CURRENT_USER', :'svc')\\gexec",
  "SELECT format('CREATE DATABASE %I OWNER %I', :'svc', :'svc') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'svc')\\gexec",
  "SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'svc')\\gexec",
].join("\n");

/**
 * The SQL of a login without a database of its own (`ownDatabase: false`: a team's flywheel
 * writer, which connects to the gateway's database; the gateway grants it CONNECT and its rights
 * there).
 */
export function loginSql(iamAuth: boolean, ownDatabase = true): string {
  const sql = iamAuth ? IAM_LOGIN_SQL : LOGIN_SQL;
  return ownDatabase
    ? sql
    : [
        ...sql.split("\n").filter((l) => !/CREATE DATABASE|ON DATABASE/.test(l)),
        // A writer in another service's database holds few connections (contracts.ts).
        `SELECT format('ALTER ROLE %I CONNECTION LIMIT ${FLYWHEEL_WRITER_CONNECTION_LIMIT}', :'svc')\\gexec`,
      ].join("\n");
}

export function loginScript(iamAuth = false, ownDatabase = true): string {
  const sql = loginSql(iamAuth, ownDatabase);
  return iamAuth
    ? `set -eu\npsql -v ON_ERROR_STOP=1 -v svc="$SERVICE" <<'SQL'\n${sql}\nSQL\n`
    : `set -eu\npsql -v ON_ERROR_STOP=1 -v svc="$SERVICE" -v pw="$SERVICE_PASSWORD" <<'SQL'\n${sql}\nSQL\n`;
}

export interface PostgresLoginArgs {
  /** Service name: role, database and Secret are named after it. */
  readonly service: string;
  /**
   * Namespace of the service (gets the CA ConfigMap and the `username`/`password` Secret).
   * Undefined: only the role, its Job and its password (the component package's `AwsSubstrate`
   * registers logins up front; the service's part delivers them with {@link deliverPostgresLogin}).
   */
  readonly namespace: pulumi.Input<string> | undefined;
  /** Namespace where the login Job and the master credentials live. */
  readonly jobNamespace: pulumi.Input<string>;
  readonly host: pulumi.Input<string>;
  readonly port: pulumi.Input<number>;
  readonly masterSecretArn: pulumi.Input<string>;
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly provider: k8s.Provider;
  readonly image: pulumi.Input<string>;
  readonly tags: Tags;
  /** The CA bundle (PEM) the server's certificate chains to: the Job and the service verify it (verify-full). */
  readonly caBundle: string;
  /** Keep the Secrets Manager copy this many days after deletion. @default 7 */
  readonly recoveryWindowDays?: number;
  /** The role logs in with IAM tokens (`rds_iam`, no password, no Secrets). @default false */
  readonly iamAuth?: boolean;
  /**
   * The database the login connects to: the service's own, created by the Job, or another
   * service's (a team's flywheel writer logs in to the gateway's database and has none).
   * @default service
   */
  readonly database?: string;
}

/** Key of the CA bundle in the `<service>-postgres-ca` ConfigMaps. */
export const POSTGRES_CA_KEY = "ca.crt";
const CA_DIR = "/etc/postgres-ca";

/** What a service's namespace gets of its login: the CA bundle and (password logins) the Secret. */
export interface PostgresDelivery {
  /** The `username`/`password` Secret; none with IAM authentication. */
  readonly secret: k8s.core.v1.Secret | undefined;
  /** ConfigMap holding the CA bundle ({@link POSTGRES_CA_KEY}). */
  readonly caConfigMap: k8s.core.v1.ConfigMap;
}

/**
 * The service's side of a login, in its namespace: the CA bundle (`<service>-postgres-ca`) and,
 * with a password (`password` set), the `<service>-postgres` Secret. Resource names are
 * `<name>-ca` and `<name>-credentials`.
 */
export function deliverPostgresLogin(
  name: string,
  a: {
    readonly service: string;
    readonly namespace: pulumi.Input<string>;
    readonly caBundle: string;
    readonly password: pulumi.Input<string> | undefined;
  },
  opts: pulumi.CustomResourceOptions,
): PostgresDelivery {
  const labels = k8sLabels("postgres-login", a.service);
  const caConfigMap = new k8s.core.v1.ConfigMap(
    `${name}-ca`,
    {
      metadata: { name: `${a.service}-postgres-ca`, namespace: a.namespace, labels },
      data: { [POSTGRES_CA_KEY]: a.caBundle },
    },
    opts,
  );
  const secret =
    a.password === undefined
      ? undefined
      : new k8s.core.v1.Secret(
          `${name}-credentials`,
          {
            metadata: { name: `${a.service}-postgres`, namespace: a.namespace, labels },
            type: "Opaque",
            stringData: { username: a.service, password: a.password },
          },
          opts,
        );
  return { secret, caConfigMap };
}

export class PostgresLogin extends pulumi.ComponentResource {
  /** The `username`/`password` Secret in the service's namespace; none with `iamAuth` or no `namespace`. */
  readonly secretName: pulumi.Output<string> | undefined;
  /** ConfigMap in the service's namespace holding the CA bundle ({@link POSTGRES_CA_KEY}); none without `namespace`. */
  readonly caConfigMapName: pulumi.Output<string> | undefined;
  /** The role's generated password (secret); none with `iamAuth`. */
  readonly servicePassword: pulumi.Output<string> | undefined;
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: PostgresLoginArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:PostgresLogin", name, {}, opts);
    const kp = { parent: this, provider: args.provider };
    const svc = args.service;
    const iam = args.iamAuth ?? false;
    const secretPassword = iam ? undefined : this.password(name, args);

    const master = aws.secretsmanager
      .getSecretVersionOutput({ secretId: args.masterSecretArn }, { parent: this })
      .apply((v) => JSON.parse(v.secretString ?? "{}") as { username?: string; password?: string });
    const labels = k8sLabels("postgres-login", svc);
    const jobSecret = new k8s.core.v1.Secret(
      `${name}-job-secret`,
      {
        metadata: { name: `${svc}-postgres-login`, namespace: args.jobNamespace, labels },
        type: "Opaque",
        stringData: {
          PGUSER: pulumi.secret(master.apply((m) => m.username ?? "")),
          PGPASSWORD: pulumi.secret(master.apply((m) => m.password ?? "")),
          ...(secretPassword ? { SERVICE_PASSWORD: secretPassword } : {}),
        },
      },
      kp,
    );
    // The CA bundle next to the Job (its namespace) and next to the service (verify-full both).
    const jobCa = new k8s.core.v1.ConfigMap(
      `${name}-job-ca`,
      {
        metadata: { name: `${svc}-postgres-ca`, namespace: args.jobNamespace, labels },
        data: { [POSTGRES_CA_KEY]: args.caBundle },
      },
      kp,
    );
    const fromSecret = (key: string) => ({
      name: key,
      valueFrom: { secretKeyRef: { name: jobSecret.metadata.name, key } },
    });
    const job = new k8s.batch.v1.Job(
      `${name}-job`,
      {
        metadata: { name: `${svc}-postgres-login`, namespace: args.jobNamespace, labels },
        spec: {
          backoffLimit: 6,
          activeDeadlineSeconds: 900,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "OnFailure",
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 70,
                runAsGroup: 70,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "login",
                  image: args.image,
                  command: [
                    "/bin/sh",
                    "-c",
                    loginScript(iam, (args.database ?? args.service) === args.service),
                  ],
                  env: [
                    { name: "PGHOST", value: args.host },
                    { name: "PGPORT", value: pulumi.output(args.port).apply(String) },
                    { name: "PGDATABASE", value: "postgres" },
                    { name: "PGSSLMODE", value: "verify-full" },
                    { name: "PGSSLROOTCERT", value: `${CA_DIR}/${POSTGRES_CA_KEY}` },
                    { name: "SERVICE", value: svc },
                    fromSecret("PGUSER"),
                    fromSecret("PGPASSWORD"),
                    ...(secretPassword ? [fromSecret("SERVICE_PASSWORD")] : []),
                  ],
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                  },
                  volumeMounts: [{ name: "postgres-ca", mountPath: CA_DIR, readOnly: true }],
                },
              ],
              volumes: [{ name: "postgres-ca", configMap: { name: jobCa.metadata.name } }],
            },
          },
        },
      },
      { ...kp, deleteBeforeReplace: true, dependsOn: [jobCa] },
    );

    this.servicePassword = secretPassword;
    const delivered =
      args.namespace === undefined
        ? undefined
        : deliverPostgresLogin(
            name,
            { service: svc, namespace: args.namespace, caBundle: args.caBundle, password: secretPassword },
            kp,
          );
    this.secretName = delivered?.secret?.metadata.name;
    this.caConfigMapName = delivered?.caConfigMap.metadata.name;
    this.ready = [
      ...(delivered ? [...(delivered.secret ? [delivered.secret] : []), delivered.caConfigMap] : []),
      job,
    ];
    this.registerOutputs({ secretName: this.secretName });
  }

  /** A generated password for the role, with its copy in Secrets Manager (password logins only). */
  private password(name: string, args: PostgresLoginArgs): pulumi.Output<string> {
    const p = { parent: this };
    const svc = args.service;
    const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, p);
    const secretPassword = pulumi.secret(password.result);
    // The copy in Secrets Manager (operators and rotation tooling read it there).
    const sm = new aws.secretsmanager.Secret(
      `${name}-secret`,
      {
        namePrefix: `sovereign/${svc}-postgres-`,
        description: `Postgres login of ${svc}`,
        kmsKeyId: args.kmsKeyArn,
        recoveryWindowInDays: args.recoveryWindowDays ?? 7,
        tags: { ...args.tags },
      },
      p,
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-secret-value`,
      {
        secretId: sm.id,
        secretString: pulumi.secret(
          pulumi.jsonStringify({
            username: svc,
            password: secretPassword,
            host: args.host,
            port: args.port,
            dbname: args.database ?? svc,
          }),
        ),
      },
      p,
    );

    return secretPassword;
  }
}
