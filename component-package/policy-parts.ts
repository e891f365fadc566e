/**
 * OPA, Gatekeeper (admission) and observability as separate package components
 * (docs/component-package.md): `Policy` (what stacks/wiring/policy.ts creates: OPA, Gatekeeper,
 * its templates and constraints) and `Observability` (stacks/wiring/observability.ts). With
 * `ClusterSubstrate`, `Serving`, `Gateway`, `Tenancy` and `Flywheel` (components.ts) they create
 * what `ClusterPlatform` creates for the same settings; `AwsPolicy` and `AwsObservability`
 * (aws-parts.ts) are the same parts on AWS, with the AWS handle.
 *
 * Neither binds a workload, reads the object store or logs in to Postgres. Of the substrate's
 * handle they use only what reaches the cluster (the kubernetes provider's settings), the
 * registry mirrors, and the handle's readiness (it resolves once the substrate exists, which the
 * facade's `dependsOn: substrate.ready` stands for); the rest of their view of the substrate (the
 * API server's peers, the nodes, the storage class, the chart mirror, the load-balancer
 * annotations) comes from the settings through the functions the substrate itself uses.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  CLUSTER_NODES,
  clusterApiServerPeers,
  clusterLoadBalancerAnnotations,
} from "../components/existing-cluster/substrate";
import {
  FLYWHEEL_SERVICE_ACCOUNT,
  flywheelTeams,
  type FlywheelProtectedNames,
} from "../components/flywheel/plan";
import { keysSecretName } from "../components/existing-cluster/credentials";
import { clientLoginSecretName } from "../components/existing-cluster/postgres";
import { flywheelRoleOf } from "../components/lib/contracts";
import { modelApiKeySecretName } from "../components/lib/model-keys";
import { requiresApiKey } from "../components/platform/model-server";
import { opaDataOf } from "../stacks/wiring/policy";
import { teamNamespace } from "../components/lib/naming";
import type { StackConfig } from "../stacks/config/schema";
import { existingClusterSubstrateArgs } from "../stacks/wiring/existing-cluster";
import { wireObservability, type ObservabilitySubstrate } from "../stacks/wiring/observability";
import { wirePolicy, type PolicySubstrate } from "../stacks/wiring/policy";
import { type ClusterPartArgs, MADE_BY_THE_SUBSTRATE, type PartKind } from "./components";
import { awsSubstrateFromHandle, type AwsSubstrateHandle } from "./aws-handle";
import { clusterProvider, handleError, inputError, type SubstrateHandle } from "./handle";
import { buildUnder, platformConfig } from "./platform";

/**
 * The flywheel's identity in its team's namespace: the ServiceAccounts and Secrets its pods use,
 * which the admission constraint `K8sFlywheelIdentity` keeps to the kit's own CronJobs there
 * (docs/flywheel.md).
 */
export interface FlywheelIdentity {
  /** The team namespace. */
  namespace: string;
  /** The ServiceAccounts the flywheel's pods run as. */
  serviceAccounts: string[];
  /** The Secrets the flywheel's pods read. */
  secrets: string[];
}

/** What OPA, Gatekeeper and observability use of a substrate. */
export type ClusterView = PolicySubstrate & ObservabilitySubstrate;

/**
 * Checks the fields of a handle a {@link ClusterView} reads: the kind, the kubeconfig context
 * (and file, where the settings name one), `deleteUnreachable`, the registry mirrors. Throws an
 * input-property error at `handle.<field>`. Pure.
 */
export function checkClusterAccess(h: SubstrateHandle | undefined, config: StackConfig): SubstrateHandle {
  if (!h || typeof h !== "object") throw handleError("handle", "expected a substrate component's handle");
  if (h.kind !== "existing-cluster")
    throw handleError("handle.kind", `expected "existing-cluster", found ${JSON.stringify(h.kind)}`);
  const type = (v: unknown) => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);
  const shape: [string, unknown, string][] = [
    ["handle.kubeContext", h.kubeContext, "string"],
    ["handle.deleteUnreachable", h.deleteUnreachable, "boolean"],
    ["handle.registryMirrors", h.registryMirrors, "object"],
    ...(config.substrate.kind === "existing-cluster" && config.substrate.kubeconfig
      ? ([["handle.kubeconfig", h.kubeconfig, "string"]] as [string, unknown, string][])
      : []),
  ];
  for (const [path, value, want] of shape)
    if (type(value) !== want) throw handleError(path, `expected a ${want}, found ${type(value)}`);
  for (const [host, prefix] of Object.entries(h.registryMirrors))
    if (typeof prefix !== "string")
      throw handleError(`handle.registryMirrors.${host}`, `expected a string, found ${type(prefix)}`);
  return h;
}

/**
 * The view of the substrate OPA, Gatekeeper and observability need, from a handle and the
 * settings, with the kubernetes provider (in `parent`) that reaches the handle's cluster: the
 * same provider settings as the substrate's. `checked` is the handle once checked.
 */
export function clusterViewFromHandle(
  handle: pulumi.Input<SubstrateHandle>,
  config: StackConfig,
  parent: pulumi.Resource,
  name: string,
): { view: ClusterView; checked: pulumi.Output<SubstrateHandle> } {
  const args = existingClusterSubstrateArgs(config);
  const h = pulumi.output(handle).apply((v) => checkClusterAccess(v as SubstrateHandle | undefined, config));
  const provider = clusterProvider(h, args, name, parent);
  return {
    view: {
      provider,
      // The handle resolves once the substrate is ready: the provider's settings wait for it.
      ready: [],
      registryMirrors: h.registryMirrors.apply((m) => ({ ...(m ?? {}) })),
      chartMirror: args.chartMirror,
      apiServer: clusterApiServerPeers(args.apiServerCidrs),
      nodes: CLUSTER_NODES,
      storageClasses: { default: args.storageClass },
      loadBalancerAnnotations: (exposure) =>
        clusterLoadBalancerAnnotations(args.loadBalancerAnnotations, exposure),
    },
    checked: h,
  };
}

const FIX = "pass the flywheelIdentities output of a Flywheel created with the same platform settings";

/**
 * The names a team's flywheel identity holds whatever else it holds, from the settings alone: its
 * ServiceAccount and the API keys of the models it calls (its base model and the guard, where they
 * run vLLM) and, on the existing-cluster substrate, its object-store keys and its registry login
 * (`fw-<team>`). `Flywheel`'s `flywheelIdentities` must list each (the seam test checks a real one
 * does). Pure.
 */
export function requiredFlywheelNames(
  config: StackConfig,
  team: string,
): { serviceAccounts: string[]; secrets: string[] } {
  const f = flywheelTeams(config).find((t) => t.team === team);
  const guard = opaDataOf(config).guard;
  const called = new Set([...(f ? [f.baseModel] : []), ...(guard.enabled ? [guard.model] : [])]);
  // In-cluster the flywheel also holds its store keys and its login's password in Secrets (on AWS
  // its role signs for both; a password login's Secret is AWS's own naming).
  const inCluster = config.substrate.kind === "existing-cluster";
  return {
    serviceAccounts: [FLYWHEEL_SERVICE_ACCOUNT],
    secrets: [
      ...(inCluster
        ? [keysSecretName(FLYWHEEL_SERVICE_ACCOUNT), clientLoginSecretName(flywheelRoleOf(team))]
        : []),
      ...config.models
        .filter((m) => called.has(m.name) && requiresApiKey(m))
        .map((m) => modelApiKeySecretName(m.name)),
    ],
  };
}

/**
 * Checks `Flywheel`'s `flywheelIdentities` against the settings: one identity per team that turns
 * the flywheel on (`teams[].flywheel`), in its team's namespace, with ServiceAccounts and Secrets;
 * none for another team. Throws an input-property error at `flywheelIdentities` (a team's identity
 * missing), `flywheelIdentities.<team>` (a team without a flywheel by these settings) or
 * `flywheelIdentities.<team>.<field>`. Pure.
 */
export function checkFlywheelIdentities(
  value: unknown,
  config: StackConfig,
): Record<string, FlywheelIdentity> {
  const found = (v: unknown) => (Array.isArray(v) ? "an array" : v === null ? "null" : typeof v);
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw inputError("flywheelIdentities", `expected a map of team to identity, found ${found(value)}`);
  const m = value as Record<string, unknown>;
  const teams = flywheelTeams(config).map((f) => f.team);
  for (const team of Object.keys(m))
    if (!teams.includes(team))
      throw inputError(
        `flywheelIdentities.${team}`,
        `team ${JSON.stringify(team)} does not turn the flywheel on in these settings: ${FIX}`,
      );
  for (const team of teams) {
    const i = config.teams.findIndex((t) => t.name === team);
    const id = m[team] as Partial<FlywheelIdentity> | undefined;
    if (id === undefined)
      throw inputError(
        "flywheelIdentities",
        `expected the identity of team ${JSON.stringify(team)}'s flywheel (teams[${i}].flywheel), found none: ${FIX}`,
      );
    const at = `flywheelIdentities.${team}`;
    if (id === null || typeof id !== "object" || Array.isArray(id))
      throw inputError(at, `expected an identity (namespace, serviceAccounts, secrets), found ${found(id)}`);
    if (id.namespace !== teamNamespace(team))
      throw inputError(
        `${at}.namespace`,
        `expected ${JSON.stringify(teamNamespace(team))} (team ${JSON.stringify(team)}'s namespace), found ${JSON.stringify(id.namespace)}: ${FIX}`,
      );
    const required = requiredFlywheelNames(config, team);
    for (const field of ["serviceAccounts", "secrets"] as const) {
      const names = id[field] as unknown;
      if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== "string" || n === ""))
        throw inputError(
          `${at}.${field}`,
          `expected a non-empty list of names (the flywheel's pods use ${field === "secrets" ? "Secrets" : "a ServiceAccount"}), found ${JSON.stringify(names)}: ${FIX}`,
        );
      // The constraint would protect only what is listed: the names these settings give the
      // flywheel's identity must all be there (a list of other names left them open).
      const missing = required[field].filter((n) => !(names as string[]).includes(n));
      if (missing.length)
        throw inputError(
          `${at}.${field}`,
          `expected ${JSON.stringify(missing)} among them (the flywheel's ${field === "secrets" ? "Secrets" : "ServiceAccount"} by these settings), found ${JSON.stringify(names)}: ${FIX}`,
        );
    }
  }
  return m as Record<string, FlywheelIdentity>;
}

/** `value` once `checks` resolve: a part's outputs fail with its inputs' problems. */
function afterChecks<T>(checks: pulumi.Input<unknown>[], value: pulumi.Input<T>): pulumi.Output<T> {
  return pulumi.all([pulumi.all(checks), value]).apply(([, v]) => v as T);
}

/** The policy part: the platform's settings, the substrate's handle and the flywheel's identities. */
export interface PolicyArgs extends ClusterPartArgs {
  /**
   * The `flywheelIdentities` output of `Flywheel`: the identity the admission constraint
   * `K8sFlywheelIdentity` keeps to the kit in each team namespace. Required where a team turns the
   * flywheel on. An input (not plain): another resource's output.
   */
  flywheelIdentities?: pulumi.Input<{ [team: string]: pulumi.Input<FlywheelIdentity> }>;
}

/**
 * OPA (the gateway's and the flywheel's decision point, its policy and data from the settings)
 * and Gatekeeper admission control: the chart, its namespace's NetworkPolicies, the constraint
 * templates and constraints (allowed registries, no host access, GPUs through the queue, team
 * labels, the flywheel's identity).
 */
export class Policy extends pulumi.ComponentResource {
  /** OPA's REST API URL inside the cluster. */
  public readonly opaUrl: pulumi.Output<string>;

  constructor(name: string, args: PolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Policy", name, {}, opts);
    this.opaUrl = policyPart(this, name, args, "existing-cluster");
    this.registerOutputs({ opaUrl: this.opaUrl });
  }
}

/** The view of the substrate a policy or observability part uses, from a handle of its kind. */
function viewOf(
  handle: pulumi.Input<SubstrateHandle> | pulumi.Input<AwsSubstrateHandle>,
  config: StackConfig,
  self: pulumi.ComponentResource,
  name: string,
  kind: PartKind,
): { view: ClusterView; checked: pulumi.Output<unknown> } {
  if (kind === "aws") {
    const { substrate, checked } = awsSubstrateFromHandle(
      handle as pulumi.Input<AwsSubstrateHandle>,
      config,
      self,
      name,
    );
    return { view: substrate, checked };
  }
  return clusterViewFromHandle(handle as pulumi.Input<SubstrateHandle>, config, self, name);
}

/** `Policy`'s (and `AwsPolicy`'s) resources, under `self`; OPA's URL. */
export function policyPart(
  self: pulumi.ComponentResource,
  name: string,
  args: Omit<PolicyArgs, "handle" | "substrate"> & {
    handle: pulumi.Input<SubstrateHandle> | pulumi.Input<AwsSubstrateHandle>;
    substrate: unknown;
  },
  kind: PartKind,
): pulumi.Output<string> {
  const { handle, flywheelIdentities, ...settings } = args;
  const stack = pulumi.getStack();
  const config = platformConfig(kind, settings as never, stack);
  const teams = flywheelTeams(config);
  // Which teams have an identity comes from the settings: in a first preview the input is
  // unknown, and the part registers the same objects then as in `up`.
  if (teams.length && flywheelIdentities === undefined) {
    const i = config.teams.findIndex((t) => t.name === teams[0].team);
    throw inputError(
      "flywheelIdentities",
      `expected Flywheel's flywheelIdentities: teams[${i}] (${JSON.stringify(teams[0].team)}) turns the flywheel on, and admission keeps its identity to the kit`,
    );
  }
  const { view, checked } = viewOf(handle, config, self, name, kind);
  const identities =
    flywheelIdentities === undefined
      ? undefined
      : pulumi.output(flywheelIdentities).apply((v) => checkFlywheelIdentities(v, config));
  const byTeam: Record<string, pulumi.Output<FlywheelProtectedNames>> = {};
  for (const f of teams) byTeam[f.team] = identities!.apply((m) => m[f.team]);
  const o = buildUnder(self, () => wirePolicy(config, { stack }, view, { flywheelProtected: byTeam }));
  return afterChecks([checked, ...(identities ? [identities] : [])], o.opaUrl as string);
}

/**
 * Observability inside the cluster: kube-prometheus-stack (Prometheus, Alertmanager where
 * configured, Grafana with the kit's dashboards), a scrape object per platform target, the
 * alert rules, and the monitoring namespace's policies.
 */
export class Observability extends pulumi.ComponentResource {
  /** Prometheus' query API inside the cluster. */
  public readonly prometheusUrl: pulumi.Output<string>;
  /** Grafana's URL inside the cluster. */
  public readonly grafanaUrl: pulumi.Output<string>;
  /** The Secret (in the monitoring namespace) that holds Grafana's admin login. */
  public readonly grafanaAdminSecret: pulumi.Output<string>;
  /** Whether Alertmanager runs (`observability.alertmanager.receiver` is not `none`). */
  public readonly alertmanager: pulumi.Output<boolean>;

  constructor(name: string, args: ClusterPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Observability", name, {}, opts);
    const o = observabilityPart(this, name, args, "existing-cluster");
    this.prometheusUrl = o.prometheusUrl;
    this.grafanaUrl = o.grafanaUrl;
    this.grafanaAdminSecret = o.grafanaAdminSecret;
    this.alertmanager = o.alertmanager;
    this.registerOutputs(o);
  }
}

/** `Observability`'s (and `AwsObservability`'s) resources and outputs, under `self`. */
export function observabilityPart(
  self: pulumi.ComponentResource,
  name: string,
  args: { handle: pulumi.Input<SubstrateHandle> | pulumi.Input<AwsSubstrateHandle>; substrate: unknown },
  kind: PartKind,
): {
  prometheusUrl: pulumi.Output<string>;
  grafanaUrl: pulumi.Output<string>;
  grafanaAdminSecret: pulumi.Output<string>;
  alertmanager: pulumi.Output<boolean>;
} {
  const { handle, ...settings } = args;
  const stack = pulumi.getStack();
  const config = platformConfig(kind, settings as never, stack);
  const { view, checked } = viewOf(handle, config, self, name, kind);
  const o = buildUnder(self, () =>
    wireObservability(
      config,
      { stack },
      view,
      MADE_BY_THE_SUBSTRATE.modelCaReady,
      MADE_BY_THE_SUBSTRATE.kueueCaReady,
    ),
  );
  return {
    prometheusUrl: afterChecks([checked], o.prometheusUrl as pulumi.Input<string>),
    grafanaUrl: afterChecks([checked], o.grafanaUrl as pulumi.Input<string>),
    grafanaAdminSecret: afterChecks([checked], o.grafanaAdminSecret as pulumi.Input<string>),
    alertmanager: afterChecks([checked], o.alertmanager as boolean),
  };
}
