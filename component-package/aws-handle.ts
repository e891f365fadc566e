/**
 * The AWS substrate handle: what the package's `AwsSubstrate` created, as plain data a package
 * schema carries between languages (docs/component-package.md, docs/decisions/0008).
 *
 * On AWS a workload's binding is an IAM role (its object-store scopes), a policy and an EKS Pod
 * Identity association, and a service's Postgres login is a role created by a Job with the
 * database's master credentials (with its password in Secrets Manager, or IAM authentication and
 * its client role's right to `rds-db:connect`). `AwsSubstrate` creates all of that up front, for
 * every workload and login the platform's settings plan (`plannedWorkloads`,
 * `plannedPostgresLogins`), under the names the stack program gives them. A part's substrate
 * ({@link awsSubstrateFromHandle}) then creates only Kubernetes objects in the workload's
 * namespace: the ServiceAccount the association names, the Postgres CA bundle and, with
 * password logins, the `username`/`password` Secret. A part needs no AWS provider and no AWS
 * rights.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_STORAGE_CLASS } from "../components/aws/eks";
import { workloadServiceAccount } from "../components/aws/identity";
import { poolPlacement, resolvePool } from "../components/aws/karpenter";
import { subnetLayout } from "../components/aws/layout";
import { deliverPostgresLogin, POSTGRES_CA_KEY } from "../components/aws/postgres-login";
import { rdsCaBundle } from "../components/aws/database";
import { bucketName } from "../components/aws/storage";
import {
  awsApiServerPeers,
  awsLoadBalancerAnnotations,
  awsWorkloadEnv,
  type AwsSubstrate as TypedAwsSubstrate,
} from "../components/aws/substrate";
import { flywheelTeams } from "../components/flywheel/plan";
import { flywheelRoleOf } from "../components/lib/contracts";
import { PLATFORM_NAMESPACES, teamNamespace } from "../components/lib/naming";
import { BUCKET_ROLES, workloadScopes, type BucketRole } from "../components/lib/scopes";
import type { PostgresConnection, PostgresService, Substrate } from "../components/substrate";
import { postgresDatabaseOf } from "../components/substrate";
import type { StackConfig } from "../stacks/config/schema";
import { resolveSettings } from "../stacks/config/settings";
import { awsSubstrateArgs } from "../stacks/wiring/aws";
import {
  checkEgress,
  egressRules,
  handleError,
  isText,
  plannedWorkloads,
  sameScopes,
  type EgressHandle,
  type ObjectStoreHandle,
  type PlannedWorkload,
  type ScopeHandle,
} from "./handle";

/** The identity of one workload on AWS, registered by `AwsSubstrate`. */
export interface AwsWorkloadIdentity {
  /** `model-server`, `gateway`, `training` or `flywheel`. */
  kind: string;
  /** The ServiceAccount its pods use (the part creates it; the association names it). */
  serviceAccountName: string;
  /** The namespace of that ServiceAccount. */
  namespace: string;
  /** Its team, for team workloads. */
  team?: string;
  /** What its role may do in the buckets. */
  scopes: ScopeHandle[];
  /** The IAM role its pods get through EKS Pod Identity. */
  roleArn: string;
  /** The Pod Identity association binding the ServiceAccount to the role. */
  associationArn: string;
}

/** The login of one Postgres service on RDS. */
export interface AwsPostgresLoginHandle {
  /** The database it connects to. */
  database: string;
  /** Its password (secret); absent with IAM authentication. */
  password?: string;
}

/** Postgres (RDS). */
export interface AwsPostgresHandle {
  host: string;
  port: number;
  /** Whether services log in with IAM tokens their workload identity signs (no passwords). */
  iamAuth: boolean;
  /** Login per service (`gateway`, and `fw-<team>` for each team that turns the flywheel on). */
  logins: { [service: string]: AwsPostgresLoginHandle };
}

/** What the package's `AwsSubstrate` created, for the package's AWS parts. */
export interface AwsSubstrateHandle {
  /** The substrate kind: `aws`. */
  kind: string;
  /** The AWS region. */
  region: string;
  /** The EKS cluster's name. */
  clusterName: string;
  /** The kubeconfig of the EKS cluster (secret). */
  kubeconfig: string;
  objectStore: ObjectStoreHandle;
  egress: EgressHandle;
  /** Registry mirror prefix per upstream registry host (ECR pull-through caches, configured mirrors). */
  registryMirrors: { [host: string]: string };
  postgres: AwsPostgresHandle;
  /** Identity per workload binding name (e.g. `gateway-workload`, `tenancy-<team>-trainer`). */
  workloads: { [name: string]: AwsWorkloadIdentity };
}

/** The namespace a planned workload runs in (the stack program's). Pure. */
export function plannedNamespace(w: PlannedWorkload): string {
  switch (w.request.kind) {
    case "model-server":
      return PLATFORM_NAMESPACES.serving;
    case "gateway":
      return PLATFORM_NAMESPACES.gateway;
    default:
      return teamNamespace(w.request.team!);
  }
}

/** One Postgres login the platform connects: the `connectPostgres` name, the service and its client binding. */
export interface PlannedLogin {
  readonly name: string;
  readonly service: PostgresService;
  /** The workload binding of the service's pods (IAM authentication grants its role). */
  readonly client: string;
  /** Where in the platform's settings the login comes from (for error messages). */
  readonly path: string;
}

/**
 * Every Postgres login the platform connects for a config, under the names the typed components
 * give them (`Gateway` named `gateway`, `Flywheel` named `flywheel`: stacks/wiring); the seam
 * test (test/package/aws-components.test.ts) goes red where they drift. Pure.
 */
export function plannedPostgresLogins(config: StackConfig): PlannedLogin[] {
  return [
    { name: "gateway-postgres", service: "gateway", client: "gateway-workload", path: "gateway" },
    ...flywheelTeams(config).map((f) => ({
      name: `flywheel-${f.team}-postgres`,
      service: flywheelRoleOf(f.team),
      client: `flywheel-${f.team}`,
      path: `teams[${config.teams.findIndex((t) => t.name === f.team)}].flywheel`,
    })),
  ];
}

/**
 * Registers, on the typed AWS substrate, the AWS side of every planned binding and login, and
 * returns the handle's `workloads` and `postgres.logins` plus what they wait for.
 */
export function registerAwsBindings(
  s: TypedAwsSubstrate,
  config: StackConfig,
): {
  workloads: Record<string, pulumi.Input<AwsWorkloadIdentity>>;
  logins: Record<string, pulumi.Input<AwsPostgresLoginHandle>>;
  ready: pulumi.Resource[];
} {
  const workloads: Record<string, pulumi.Input<AwsWorkloadIdentity>> = {};
  const identities = new Map<string, ReturnType<TypedAwsSubstrate["registerWorkload"]>>();
  const ready: pulumi.Resource[] = [];
  for (const w of plannedWorkloads(config)) {
    const namespace = plannedNamespace(w);
    const identity = s.registerWorkload(w.name, { ...w.request, namespace });
    identities.set(w.name, identity);
    ready.push(...identity.ready);
    workloads[w.name] = {
      kind: w.request.kind,
      serviceAccountName: w.request.serviceAccountName,
      namespace,
      ...(w.request.team ? { team: w.request.team } : {}),
      scopes: workloadScopes(w.request.kind, w.request.team, w.request.readModels).map((sc) => ({ ...sc })),
      roleArn: identity.role.arn,
      associationArn: identity.association.associationArn,
    } as unknown as pulumi.Input<AwsWorkloadIdentity>;
  }
  const logins: Record<string, pulumi.Input<AwsPostgresLoginHandle>> = {};
  for (const l of plannedPostgresLogins(config)) {
    const r = s.registerPostgresLogin(l.name, l.service, identities.get(l.client));
    ready.push(...r.ready);
    logins[l.service] = {
      database: postgresDatabaseOf(l.service),
      ...(r.login.servicePassword ? { password: r.login.servicePassword } : {}),
    } as unknown as pulumi.Input<AwsPostgresLoginHandle>;
  }
  return { workloads, logins, ready };
}

/** The region the settings name (the AWS substrate's). */
function regionOf(config: StackConfig): string {
  if (config.substrate.kind !== "aws")
    throw new Error(`expected substrate kind "aws", found "${config.substrate.kind}"`);
  return config.substrate.region;
}

/**
 * Checks an AWS handle against the settings of the part that uses it: the kind, the region, the
 * buckets, the login form and, per planned workload and login, that the substrate registered it
 * (with the same scopes, account and namespace). Throws an {@link pulumi.InputPropertiesError}
 * naming the setting the handle lacks. Pure.
 */
export function checkAwsHandle(h: AwsSubstrateHandle | undefined, config: StackConfig): AwsSubstrateHandle {
  const fix = "create the AwsSubstrate component with the same platform settings";
  if (!h || typeof h !== "object") throw handleError("handle", "expected an AwsSubstrate component's handle");
  if (h.kind !== "aws") throw handleError("handle.kind", `expected "aws", found ${JSON.stringify(h.kind)}`);
  const shape: [string, unknown, string][] = [
    ["handle.region", h.region, "string"],
    ["handle.kubeconfig", h.kubeconfig, "string"],
    ["handle.objectStore.endpoint", h.objectStore?.endpoint, "string"],
    ["handle.egress.objectStore", h.egress?.objectStore, "array"],
    ["handle.egress.postgres", h.egress?.postgres, "array"],
    ["handle.registryMirrors", h.registryMirrors, "object"],
    ["handle.postgres.host", h.postgres?.host, "string"],
    ["handle.postgres.port", h.postgres?.port, "number"],
    ["handle.postgres.iamAuth", h.postgres?.iamAuth, "boolean"],
  ];
  for (const [path, value, type] of shape) {
    const found = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
    if (found !== type) throw handleError(path, `expected a ${type}, found ${found}`);
  }
  checkEgress(h.egress);
  const region = regionOf(config);
  if (h.region !== region)
    throw handleError(
      "substrate.region",
      `the substrate is in ${JSON.stringify(h.region)}, these settings name ${JSON.stringify(region)}: ${fix}`,
    );
  for (const role of BUCKET_ROLES) {
    const want = bucketName(config.storage.bucketPrefix, role);
    if (h.objectStore?.buckets?.[role] !== want)
      throw handleError(
        "storage.bucketPrefix",
        `the substrate's ${role} bucket is ${JSON.stringify(h.objectStore?.buckets?.[role])}, these settings name ${JSON.stringify(want)}: ${fix}`,
      );
  }
  const iamAuth = resolveSettings(config).database.iamAuth;
  if (h.postgres.iamAuth !== iamAuth)
    throw handleError(
      "database.iamAuth",
      `the substrate's services log in ${h.postgres.iamAuth ? "with IAM tokens" : "with passwords"}, these settings ask for ${iamAuth ? "IAM tokens" : "passwords"}: ${fix}`,
    );
  for (const w of plannedWorkloads(config)) {
    const got = h.workloads?.[w.name];
    const what = `${w.request.kind} identity ${JSON.stringify(w.name)}`;
    if (!got) throw handleError(w.path, `the substrate has no ${what}: ${fix}`);
    if (
      got.serviceAccountName !== w.request.serviceAccountName ||
      got.namespace !== plannedNamespace(w) ||
      !sameScopes(got.scopes, workloadScopes(w.request.kind, w.request.team, w.request.readModels))
    )
      throw handleError(w.path, `the substrate registered the ${what} with other scopes or account: ${fix}`);
    if (!isText(got.roleArn)) throw handleError(w.path, `the substrate's ${what} has no role: ${fix}`);
  }
  for (const l of plannedPostgresLogins(config)) {
    const got = h.postgres.logins?.[l.service];
    if (!got || (!iamAuth && !isText(got.password)))
      throw handleError(l.path, `the substrate has no Postgres login for the ${l.service} service: ${fix}`);
  }
  return h;
}

/**
 * A `Substrate` rebuilt from an AWS handle, for the parts that run on it, in `parent` (which gets
 * the kubernetes provider). What the typed components need while they are constructed (GPU
 * placements, the API server's and the nodes' subnets, the storage class, the chart mirror, the
 * load-balancer annotations) comes from the validated settings through the substrate's own pure
 * functions; what the substrate created (the kubeconfig, buckets, egress rules, Postgres, the
 * identities and logins) comes from the handle, checked by {@link checkAwsHandle}. `bindWorkload`
 * creates only the ServiceAccount; `connectPostgres` only the CA bundle and, with passwords, the
 * login's Secret, in the service's namespace.
 */
export function awsSubstrateFromHandle(
  handle: pulumi.Input<AwsSubstrateHandle>,
  config: StackConfig,
  parent: pulumi.Resource,
  name: string,
): { substrate: Substrate; checked: pulumi.Output<AwsSubstrateHandle> } {
  const region = regionOf(config);
  const args = awsSubstrateArgs(
    config,
    { stack: pulumi.getStack() },
    { accountId: "", partition: "", azNames: [] },
  );
  const layout = subnetLayout(args.network.cidr, args.network.azCount);
  const iamAuth = args.database.iamAuth ?? false;
  const h = pulumi.output(handle).apply((v) => checkAwsHandle(v as AwsSubstrateHandle | undefined, config));
  const provider = new k8s.Provider(
    `${name}-k8s`,
    { kubeconfig: pulumi.secret(h.kubeconfig), enableServerSideApply: true },
    { parent },
  );
  const paths = new Map(plannedWorkloads(config).map((w) => [w.name, w.path]));
  const loginPaths = new Map(plannedPostgresLogins(config).map((l) => [l.service, l.path]));
  const substrate: Substrate = {
    kind: "aws",
    provider,
    objectStore: {
      endpoint: h.objectStore.endpoint,
      region,
      forcePathStyle: false,
      buckets: Object.fromEntries(
        BUCKET_ROLES.map((r) => [r, h.objectStore.buckets.apply((b) => b[r])]),
      ) as Record<BucketRole, pulumi.Output<string>>,
    },
    egressTargets: {
      objectStore: h.egress.objectStore.apply(egressRules),
      postgres: h.egress.postgres.apply(egressRules),
    },
    apiServer: awsApiServerPeers(layout.private),
    nodes: layout.private.map((cidr) => ({ ipBlock: { cidr } })),
    storageClasses: { default: DEFAULT_STORAGE_CLASS },
    gpuPools: Object.fromEntries(args.gpuPools.map(resolvePool).map((p) => [p.name, poolPlacement(p)])),
    registryMirrors: h.registryMirrors.apply((m) => ({ ...(m ?? {}) })),
    chartMirror: args.chartMirror,
    // The platform installs cert-manager where it needs it (the AWS substrate installs none).
    ready: [],
    loadBalancerAnnotations: (exposure) => awsLoadBalancerAnnotations(exposure),
    bindWorkload: (name, req, opts) => {
      const scopes = workloadScopes(req.kind, req.team, req.readModels);
      // Each binding the typed components ask for, not only the planned ones (a drift).
      const w = pulumi.all([h.workloads, req.namespace]).apply(([ws, namespace]) => {
        const got = ws[name];
        if (!got)
          throw handleError(
            paths.get(name) ?? "handle.workloads",
            `the substrate has no identity ${JSON.stringify(name)}`,
          );
        if (
          got.serviceAccountName !== req.serviceAccountName ||
          got.namespace !== namespace ||
          !sameScopes(got.scopes, scopes)
        )
          throw handleError(
            paths.get(name) ?? "handle.workloads",
            `the substrate registered identity ${JSON.stringify(name)} with other scopes or account`,
          );
        return got;
      });
      // The ServiceAccount the association names. Its namespace does not wait for the handle (a
      // first preview shows it); the workload's environment does, so a binding the substrate did
      // not register fails the pods that would use it.
      const sa = workloadServiceAccount(name, req.serviceAccountName, req.namespace, {
        parent: opts.parent,
        dependsOn: opts.dependsOn,
        provider,
      });
      return {
        serviceAccountName: sa.metadata.name,
        env: w.apply(() => awsWorkloadEnv(region)),
        scopes,
        dependsOn: [sa],
      };
    },
    connectPostgres: (name, service, namespace, opts): PostgresConnection => {
      const login = h.postgres.logins.apply((l) => {
        if (!l[service] || (!iamAuth && !isText(l[service].password)))
          throw handleError(
            loginPaths.get(service) ?? "handle.postgres.logins",
            `the substrate has no Postgres login for the ${service} service`,
          );
        return l[service];
      });
      const delivered = deliverPostgresLogin(
        name,
        {
          service,
          namespace,
          caBundle: rdsCaBundle(region),
          password: iamAuth ? undefined : pulumi.secret(login.apply((l) => l.password!)),
        },
        { parent: opts.parent, dependsOn: opts.dependsOn, provider },
      );
      // The connection's host waits for the login: a service without one fails where it connects.
      return {
        host: pulumi.all([login, h.postgres.host]).apply(([, host]) => host),
        port: h.postgres.port,
        database: postgresDatabaseOf(service),
        ...(delivered.secret
          ? { secretName: delivered.secret.metadata.name }
          : { iamAuth: { user: service } }),
        sslMode: "verify-full",
        rootCert: { configMapName: delivered.caConfigMap.metadata.name, key: POSTGRES_CA_KEY },
        dependsOn: [...(delivered.secret ? [delivered.secret] : []), delivered.caConfigMap],
      };
    },
  };
  return { substrate, checked: h };
}
