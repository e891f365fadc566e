/**
 * The substrate handle: what a substrate component of the package created, as plain data a
 * package schema can carry between languages (docs/component-package.md, docs/decisions/0008).
 *
 * The typed components take a `Substrate` object whose methods create resources; a Python or
 * YAML program cannot hand one over. So the substrate component does the substrate's part of
 * every binding the platform will ask for up front (the object store's identities must be in its
 * config before it is created), and publishes the result here: endpoints, bucket names, egress
 * rules, the Postgres logins and, per workload, its identity. `substrateFromHandle` rebuilds a
 * `Substrate` from a handle whose `bindWorkload` and `connectPostgres` create only the workload's
 * own objects (ServiceAccount, key Secret, certificates) from that data.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { flywheelTeams, FLYWHEEL_SERVICE_ACCOUNT } from "../components/flywheel/plan";
import { flywheelRoleOf } from "../components/lib/contracts";
import {
  bucketNames,
  CLUSTER_NODES,
  clusterApiServerPeers,
  clusterLoadBalancerAnnotations,
  clusterWorkloadAccess,
  gpuPlacements,
} from "../components/existing-cluster/substrate";
import { OBJECT_STORE_REGION } from "../components/existing-cluster/object-store";
import { postgresLogin } from "../components/existing-cluster/postgres";
import { DATA_CA_ISSUER } from "../components/existing-cluster/tls";
import { modelServiceName } from "../components/lib/endpoints";
import {
  baseModelPrefixes,
  BUCKET_ROLES,
  modelServerPrefixes,
  workloadScopes,
} from "../components/lib/scopes";
import type { BucketRole } from "../components/lib/scopes";
import { GATEWAY_SERVICE_ACCOUNT } from "../components/platform/gateway";
import { gpusOf } from "../components/platform/model-server";
import { planTeam } from "../components/platform/tenancy-plan";
import type { EgressRule, PostgresService, Substrate, WorkloadRequest } from "../components/substrate";
import type { StackConfig } from "../stacks/config/schema";
import { existingClusterSubstrateArgs } from "../stacks/wiring/existing-cluster";
import { servingModels } from "../stacks/wiring/serving";

/** One port of an egress rule. */
export interface EgressPort {
  /** `TCP` or `UDP`. */
  protocol: string;
  port: number;
}

/** One NetworkPolicy egress rule: its peers (`to`, NetworkPolicy peer objects) and ports. */
export interface EgressRuleHandle {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  to: { [key: string]: any }[];
  ports: EgressPort[];
}

/** Egress rules that reach the substrate's services. */
export interface EgressHandle {
  /** Rules reaching the object store. */
  objectStore: EgressRuleHandle[];
  /** Rules reaching Postgres. */
  postgres: EgressRuleHandle[];
}

/** The object store. */
export interface ObjectStoreHandle {
  /** S3 API endpoint reachable from pods (`https://`). */
  endpoint: string;
  /** Region to sign requests for. */
  region: string;
  /** Whether clients use path-style addressing. */
  forcePathStyle: boolean;
  /** Bucket name per role (`models`, `datasets`, `checkpoints`, `inferenceLogs`). */
  buckets: { [role: string]: string };
}

/** The login of one Postgres service (secret). */
export interface PostgresLoginHandle {
  /** The database it connects to. */
  database: string;
  /** Its password (secret). */
  password: string;
}

/** Postgres. */
export interface PostgresHandle {
  host: string;
  port: number;
  /** Login per service (`gateway`, and `fw-<team>` for each team that turns the flywheel on). */
  logins: { [service: string]: PostgresLoginHandle };
}

/** One object-store scope of a workload. */
export interface ScopeHandle {
  /** Bucket role. */
  bucket: string;
  /** Key prefix. */
  prefix: string;
  /** `read` or `read-write`. */
  access: string;
}

/** The identity of one workload, registered in the object store's config. */
export interface WorkloadIdentity {
  /** `model-server`, `gateway`, `training` or `flywheel`. */
  kind: string;
  /** The ServiceAccount its pods use. */
  serviceAccountName: string;
  /** Its team, for team workloads. */
  team?: string;
  /** What its keys may do. */
  scopes: ScopeHandle[];
  /** Its access key (secret). */
  accessKey: string;
  /** Its secret key (secret). */
  secretKey: string;
}

/** What a substrate component created, for the package's platform components. */
export interface SubstrateHandle {
  /** The substrate kind: `existing-cluster`. */
  kind: string;
  /** The kubeconfig context of the cluster. */
  kubeContext: string;
  /** The kubeconfig file (or its contents) the context is in; the standard resolution when absent. */
  kubeconfig?: string;
  /** Whether resources are dropped from state when the cluster is gone. */
  deleteUnreachable: boolean;
  objectStore: ObjectStoreHandle;
  egress: EgressHandle;
  /** Registry mirror prefix per upstream registry host. */
  registryMirrors: { [host: string]: string };
  postgres: PostgresHandle;
  /** Identity per workload binding name (e.g. `gateway-workload`, `tenancy-<team>-trainer`). */
  workloads: { [name: string]: WorkloadIdentity };
}

/** One workload the platform binds for a config: the binding's name, request and config path. */
export interface PlannedWorkload {
  readonly name: string;
  readonly request: Omit<WorkloadRequest, "namespace">;
  /** Where in the platform's settings the workload comes from (for error messages). */
  readonly path: string;
}

/**
 * Every workload the platform binds for a config, in the order the stack program binds them
 * (model servers, trainers, flywheels, the gateway: the object store's config lists them so).
 * The names are those the typed components give their bindings (`Serving` named `serving`,
 * `Tenancy` named `tenancy`, ...: stacks/wiring); the seam test (test/package/components.test.ts)
 * goes red where they drift. Pure.
 */
export function plannedWorkloads(config: StackConfig): PlannedWorkload[] {
  const out: PlannedWorkload[] = [];
  for (const [i, m] of servingModels(config).entries())
    out.push({
      name: `serving-model-${m.name}-identity`,
      path: `models[${i}]`,
      request: {
        kind: "model-server",
        serviceAccountName: modelServiceName(m.name),
        readModels: modelServerPrefixes({ ...m, flywheelAdapters: gpusOf(m) > 0 ? m.flywheelAdapters : [] }),
      },
    });
  for (const [i, t] of config.teams.entries()) {
    const plan = planTeam(t, {
      teams: config.teams,
      trainingEnabled: config.training.enabled,
      cohort: config.training.cohort,
      models: config.models,
    });
    out.push({
      name: `tenancy-${t.name}-trainer`,
      path: `teams[${i}]`,
      request: {
        kind: "training",
        serviceAccountName: plan.serviceAccountName,
        team: plan.team,
        readModels: plan.readModels,
      },
    });
  }
  for (const f of flywheelTeams(config))
    out.push({
      name: `flywheel-${f.team}`,
      path: `teams[${config.teams.findIndex((t) => t.name === f.team)}].flywheel`,
      request: {
        kind: "flywheel",
        serviceAccountName: FLYWHEEL_SERVICE_ACCOUNT,
        team: f.team,
        readModels: baseModelPrefixes(f.baseModelSource ? [f.baseModelSource] : []),
      },
    });
  out.push({
    name: "gateway-workload",
    path: "gateway",
    request: { kind: "gateway", serviceAccountName: GATEWAY_SERVICE_ACCOUNT },
  });
  return out;
}

/** The Postgres services the platform logs in with for a config. */
export function plannedPostgresServices(config: StackConfig): PostgresService[] {
  return ["gateway", ...flywheelTeams(config).map((f) => flywheelRoleOf(f.team))];
}

/**
 * A handle problem as the input-property error a component reports. The handle is known only
 * once the substrate is created, so the error also rejects the inputs of the part's resources
 * (none is registered) and may reach the user as the first of those: its message names the
 * property too, and it carries no stack trace.
 */
export function handleError(propertyPath: string, reason: string): pulumi.InputPropertiesError {
  return inputError(propertyPath, reason, "the substrate handle does not fit these settings: ");
}

/**
 * A part input that does not fit its settings, as the input-property error a component reports:
 * its message is `<prefix><path>: <reason>`, and it carries no stack trace (the engine prints a
 * component's error as its message).
 */
export function inputError(propertyPath: string, reason: string, prefix = ""): pulumi.InputPropertiesError {
  const e = new pulumi.InputPropertiesError({
    message: `${prefix}${propertyPath}: ${reason}`,
    errors: [{ propertyPath, reason }],
  });
  e.stack = e.message;
  return e;
}

const scopeKey = (s: { bucket: string; prefix: string; access: string }) =>
  `${s.bucket}:${s.prefix}:${s.access}`;

/**
 * Whether a binding of the handle carries exactly `want`'s object-store scopes. A handle crosses a
 * language boundary (any JSON may arrive), so scopes that are not a list of objects do not match.
 */
export function sameScopes(got: unknown, want: readonly ScopeHandle[]): boolean {
  if (!Array.isArray(got) || got.some((s) => !s || typeof s !== "object")) return false;
  const keys = (l: readonly ScopeHandle[]) => JSON.stringify(l.map(scopeKey).sort());
  return keys(got as ScopeHandle[]) === keys(want);
}

/** A non-empty string: a key, a password or an ARN in a handle. */
export const isText = (v: unknown): v is string => typeof v === "string" && v !== "";

/**
 * Checks every egress rule of a handle (any JSON may arrive): `to` a list of NetworkPolicy peer
 * objects, `ports` a list of `{ protocol: TCP|UDP, port }`. Throws an input-property error at the
 * rule's path.
 */
export function checkEgress(egress: EgressHandle): void {
  for (const key of ["objectStore", "postgres"] as const)
    egress[key].forEach((r: unknown, i) => {
      const at = `handle.egress.${key}[${i}]`;
      const rule = r as Partial<EgressRuleHandle> | null;
      if (!rule || typeof rule !== "object") throw handleError(at, "expected an egress rule (to, ports)");
      if (!Array.isArray(rule.to) || rule.to.some((t) => !t || typeof t !== "object" || Array.isArray(t)))
        throw handleError(`${at}.to`, "expected a list of NetworkPolicy peer objects");
      if (
        !Array.isArray(rule.ports) ||
        rule.ports.some(
          (p) => !p || (p.protocol !== "TCP" && p.protocol !== "UDP") || !Number.isInteger(p.port),
        )
      )
        throw handleError(`${at}.ports`, 'expected a list of { protocol: "TCP" or "UDP", port: an integer }');
    });
}

/**
 * Checks a handle against the settings of the component that uses it: the kind, the buckets
 * and, per planned workload and login, that the substrate registered it with the same scopes.
 * Throws an {@link pulumi.InputPropertiesError} naming the setting the handle lacks. Pure.
 */
export function checkHandle(h: SubstrateHandle | undefined, config: StackConfig): SubstrateHandle {
  const fix = "create the substrate component with the same platform settings";
  if (!h || typeof h !== "object") throw handleError("handle", "expected a substrate component's handle");
  if (h.kind !== "existing-cluster")
    throw handleError("handle.kind", `expected "existing-cluster", found ${JSON.stringify(h.kind)}`);
  const shape: [string, unknown, string][] = [
    ["handle.kubeContext", h.kubeContext, "string"],
    ["handle.deleteUnreachable", h.deleteUnreachable, "boolean"],
    ["handle.objectStore.endpoint", h.objectStore?.endpoint, "string"],
    ["handle.egress.objectStore", h.egress?.objectStore, "array"],
    ["handle.egress.postgres", h.egress?.postgres, "array"],
    ["handle.registryMirrors", h.registryMirrors, "object"],
    ["handle.postgres.host", h.postgres?.host, "string"],
    ["handle.postgres.port", h.postgres?.port, "number"],
  ];
  for (const [path, value, type] of shape) {
    const found = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
    if (found !== type) throw handleError(path, `expected a ${type}, found ${found}`);
  }
  checkEgress(h.egress);
  const want = bucketNames(config.storage.bucketPrefix);
  for (const role of BUCKET_ROLES)
    if (h.objectStore?.buckets?.[role] !== want[role])
      throw handleError(
        "storage.bucketPrefix",
        `the substrate's ${role} bucket is ${JSON.stringify(h.objectStore?.buckets?.[role])}, these settings name ${JSON.stringify(want[role])}: ${fix}`,
      );
  for (const w of plannedWorkloads(config)) {
    const got = h.workloads?.[w.name];
    const what = `${w.request.kind} identity ${JSON.stringify(w.name)}`;
    if (!got) throw handleError(w.path, `the substrate has no ${what}: ${fix}`);
    if (
      got.serviceAccountName !== w.request.serviceAccountName ||
      !sameScopes(got.scopes, workloadScopes(w.request.kind, w.request.team, w.request.readModels))
    )
      throw handleError(w.path, `the substrate registered the ${what} with other scopes or account: ${fix}`);
    if (!isText(got.accessKey) || !isText(got.secretKey))
      throw handleError(w.path, `the substrate's ${what} has no object-store keys: ${fix}`);
  }
  for (const service of plannedPostgresServices(config))
    if (!isText(h.postgres?.logins?.[service]?.password))
      throw handleError(
        service === "gateway"
          ? "gateway"
          : `teams[${config.teams.findIndex((t) => flywheelRoleOf(t.name) === service)}].flywheel`,
        `the substrate has no Postgres login for the ${service} service: ${fix}`,
      );
  return h;
}

/** A handle's egress rules as the `Substrate` interface carries them (checked by {@link checkEgress}). */
export const egressRules = (rules: EgressRuleHandle[]): EgressRule[] =>
  rules.map((r) => ({
    to: r.to.map((t) => ({ ...t })),
    ports: r.ports.map((p) => ({ protocol: p.protocol as "TCP" | "UDP", port: p.port })),
  }));

/**
 * The kubernetes provider of a part on an existing cluster, `<name>-k8s` in `parent`: the
 * substrate's settings (context, kubeconfig file, `deleteUnreachable`) from the checked handle, so
 * every resource of the part waits for the handle.
 */
export function clusterProvider(
  h: pulumi.Output<SubstrateHandle>,
  args: { kubeconfig?: string },
  name: string,
  parent: pulumi.Resource,
): k8s.Provider {
  return new k8s.Provider(
    `${name}-k8s`,
    {
      context: h.kubeContext,
      ...(args.kubeconfig ? { kubeconfig: h.apply((v) => v.kubeconfig as string) } : {}),
      deleteUnreachable: h.deleteUnreachable,
    },
    { parent },
  );
}

/**
 * A `Substrate` rebuilt from a handle, for the components that run on it, in `parent` (which
 * gets the kubernetes provider). What the typed components need as plain values (GPU placements,
 * the API server's peers, the chart mirror, the load-balancer annotations) comes from the
 * validated settings through the same functions the substrate uses; what the substrate created
 * (endpoints, egress rules, keys, logins) comes from the handle, checked by {@link checkHandle}:
 * every value derived from the handle fails with its input-property error where it does not fit.
 * `bindWorkload` and `connectPostgres` create only the workload's own objects.
 */
export function substrateFromHandle(
  handle: pulumi.Input<SubstrateHandle>,
  config: StackConfig,
  parent: pulumi.Resource,
  name: string,
): { substrate: Substrate; checked: pulumi.Output<SubstrateHandle> } {
  const args = existingClusterSubstrateArgs(config);
  const h = pulumi.output(handle).apply((v) => checkHandle(v as SubstrateHandle | undefined, config));
  const provider = clusterProvider(h, args, name, parent);
  const buckets = bucketNames(args.bucketPrefix);
  // Where each binding comes from in the settings, for a binding the handle lacks.
  const paths = new Map(plannedWorkloads(config).map((w) => [w.name, w.path]));
  const substrate: Substrate = {
    kind: "existing-cluster",
    provider,
    objectStore: {
      endpoint: h.objectStore.endpoint,
      region: OBJECT_STORE_REGION,
      forcePathStyle: true,
      buckets: Object.fromEntries(
        BUCKET_ROLES.map((r) => [r, h.objectStore.buckets.apply((b) => b[r])]),
      ) as Record<BucketRole, pulumi.Output<string>>,
    },
    egressTargets: {
      objectStore: h.egress.objectStore.apply(egressRules),
      postgres: h.egress.postgres.apply(egressRules),
    },
    apiServer: clusterApiServerPeers(args.apiServerCidrs),
    nodes: CLUSTER_NODES,
    storageClasses: { default: args.storageClass },
    gpuPools: gpuPlacements(args.gpuPools ?? []),
    registryMirrors: h.registryMirrors.apply((m) => ({ ...(m ?? {}) })),
    chartMirror: args.chartMirror,
    // The substrate installed cert-manager; its handle resolves once the substrate is created.
    certManager: { ready: [] },
    ready: [],
    loadBalancerAnnotations: (exposure) =>
      clusterLoadBalancerAnnotations(args.loadBalancerAnnotations, exposure),
    bindWorkload: (name, req, opts) => {
      const scopes = workloadScopes(req.kind, req.team, req.readModels);
      // Each binding the typed components ask for, not only the planned ones (a drift).
      const w = h.workloads.apply((ws) => {
        const got = ws[name];
        if (!got)
          throw handleError(
            paths.get(name) ?? "handle.workloads",
            `the substrate has no identity ${JSON.stringify(name)}`,
          );
        if (
          got.serviceAccountName !== req.serviceAccountName ||
          !sameScopes(got.scopes, scopes) ||
          !isText(got.accessKey) ||
          !isText(got.secretKey)
        )
          throw handleError(
            paths.get(name) ?? "handle.workloads",
            `the substrate registered identity ${JSON.stringify(name)} with other scopes or account`,
          );
        return got;
      });
      return clusterWorkloadAccess(
        name,
        req,
        {
          scopes: scopes,
          keys: { accessKey: pulumi.secret(w.accessKey), secretKey: pulumi.secret(w.secretKey) },
          buckets,
          endpoint: h.objectStore.endpoint,
          region: OBJECT_STORE_REGION,
          provider,
          issuer: DATA_CA_ISSUER,
          tlsDependsOn: [],
          storeReady: [],
        },
        opts,
      );
    },
    connectPostgres: (name, service, namespace, opts) =>
      postgresLogin(
        name,
        service,
        namespace,
        {
          provider,
          password: pulumi.secret(
            h.postgres.logins.apply((l) => {
              if (!isText(l[service]?.password))
                throw handleError("handle.postgres.logins", `the substrate has no login for ${service}`);
              return l[service].password;
            }),
          ),
          host: h.postgres.host,
          port: h.postgres.port,
          issuer: DATA_CA_ISSUER,
          tlsDependsOn: [],
          ready: [],
        },
        opts,
      ),
  };
  return { substrate, checked: h };
}
