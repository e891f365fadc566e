/**
 * The platform's parts as separate package components (docs/component-package.md): a substrate
 * component (`ClusterSubstrate`) that publishes a plain-data handle, and `Serving`, `Gateway`,
 * `Tenancy` and `Flywheel`, each built from that handle and the platform's settings. Together they create
 * what the `ClusterPlatform` facade creates for the same settings, less what only the facade
 * offers (OPA, Gatekeeper, observability).
 *
 * Every component takes the platform's settings (the facade's inputs: one YAML variable or one
 * Python dict for all of them), because they decide which resources each part creates, and a
 * component must decide that while it is constructed, before another resource's output (the
 * handle) is known. The handle carries what the substrate created; each part checks it against
 * its settings (handle.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { ExistingClusterSubstrate } from "../components/existing-cluster/substrate";
import { postgresDatabaseOf } from "../components/substrate";
import { existingClusterSubstrateArgs } from "../stacks/wiring/existing-cluster";
import { wireGateway } from "../stacks/wiring/gateway";
import { wireServing } from "../stacks/wiring/serving";
import { wireFlywheel, wireTeams } from "../stacks/wiring/tenancy";
import {
  handleError,
  plannedPostgresServices,
  plannedWorkloads,
  substrateFromHandle,
  type SubstrateHandle,
  type WorkloadIdentity,
} from "./handle";
import { buildUnder, type ClusterPlatformArgs, platformConfig } from "./platform";

export type { SubstrateHandle } from "./handle";

/** A part of the platform on an existing cluster: the platform's settings and the substrate's handle. */
export interface ClusterPartArgs extends ClusterPlatformArgs {
  /**
   * The `handle` output of a `ClusterSubstrate` created with the same settings. An input (not
   * plain, unlike the settings): it is another resource's output.
   */
  handle: pulumi.Input<SubstrateHandle>;
}

/**
 * The existing-cluster substrate (SeaweedFS object storage, CloudNativePG, cert-manager and the
 * data CA) for a platform's settings, with every identity and login the platform's parts will
 * use registered up front; `handle` is what `Serving`, `Gateway`, `Tenancy` and `Flywheel` take.
 */
export class ClusterSubstrate extends pulumi.ComponentResource {
  /** What the substrate created: endpoints, buckets, egress rules, logins, identities (secret). */
  public readonly handle: pulumi.Output<SubstrateHandle>;

  constructor(name: string, args: ClusterPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:ClusterSubstrate", name, {}, opts);
    const stack = pulumi.getStack();
    const config = platformConfig("existing-cluster", args, stack);
    const sargs = existingClusterSubstrateArgs(config, { stack });
    // The stack program's substrate, under the same name.
    const s = buildUnder(this, () => new ExistingClusterSubstrate("substrate", sargs));
    const workloads: Record<string, pulumi.Input<WorkloadIdentity>> = {};
    for (const w of plannedWorkloads(config)) {
      const r = s.registerWorkload(w.name, w.request);
      workloads[w.name] = {
        kind: w.request.kind,
        serviceAccountName: w.request.serviceAccountName,
        ...(w.request.team ? { team: w.request.team } : {}),
        scopes: r.scopes.map((sc) => ({ ...sc })),
        accessKey: r.keys.accessKey,
        secretKey: r.keys.secretKey,
      } as unknown as pulumi.Input<WorkloadIdentity>;
    }
    const logins = Object.fromEntries(
      plannedPostgresServices(config).map((service) => [
        service,
        { database: postgresDatabaseOf(service), password: s.postgres.passwordOf(service) },
      ]),
    );
    const value = {
      kind: s.kind,
      kubeContext: sargs.context,
      ...(sargs.kubeconfig ? { kubeconfig: sargs.kubeconfig } : {}),
      deleteUnreachable: sargs.deleteUnreachable ?? false,
      objectStore: {
        endpoint: s.objectStore.endpoint,
        region: s.objectStore.region,
        forcePathStyle: s.objectStore.forcePathStyle,
        buckets: s.objectStore.buckets,
      },
      egress: { objectStore: s.egressTargets.objectStore, postgres: s.egressTargets.postgres },
      registryMirrors: s.registryMirrors,
      postgres: { host: s.postgres.host, port: s.postgres.port, logins },
      workloads,
    };
    // The handle resolves once the substrate is ready (the store, its buckets, Postgres, the
    // data CA), so every resource a part derives from it waits for them.
    const ready = pulumi.all([...s.ready, ...s.certManager.ready].map((r) => r.urn));
    this.handle = pulumi.all([ready, pulumi.output(value)]).apply(([, v]) => v as unknown as SubstrateHandle);
    this.registerOutputs({ handle: this.handle });
  }
}

/** Validates a part's settings and rebuilds its substrate from the handle. */
function part(self: pulumi.ComponentResource, name: string, args: ClusterPartArgs) {
  const { handle, ...settings } = args;
  const stack = pulumi.getStack();
  const config = platformConfig("existing-cluster", settings, stack);
  const { substrate, checked } = substrateFromHandle(handle, config, self, name);
  return { config, substrate, checked, ctx: { stack } };
}

/** `value` once the handle is checked: a part's outputs fail with the handle's problem. */
function afterCheck<T>(checked: pulumi.Output<unknown>, value: pulumi.Input<T>): pulumi.Output<T> {
  return pulumi.all([checked, value]).apply(([, v]) => v as T);
}

/**
 * Model serving: the `sovereign-serving` namespace and its NetworkPolicies, GPU enablement
 * (with GPU pools) and KEDA (where a model autoscales), one `ModelServer` per model.
 */
export class Serving extends pulumi.ComponentResource {
  /** The model server URL of every model. */
  public readonly modelUrls: pulumi.Output<{ [model: string]: string }>;

  constructor(name: string, args: ClusterPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Serving", name, {}, opts);
    const { config, substrate, checked, ctx } = part(this, name, args);
    const o = buildUnder(this, () => wireServing(config, ctx, substrate));
    this.modelUrls = afterCheck(checked, o.modelUrls as Record<string, string>);
    this.registerOutputs({ modelUrls: this.modelUrls });
  }
}

/**
 * The policy-enforcing gateway: its namespace, identity, Postgres login, policy (compiled to
 * Wasm), catalog, TLS (with cert-manager's private CA where `gateway.tls` asks for it).
 */
export class Gateway extends pulumi.ComponentResource {
  /** The gateway's OpenAI-compatible base URL inside the cluster. */
  public readonly gatewayUrl: pulumi.Output<string>;

  constructor(name: string, args: ClusterPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Gateway", name, {}, opts);
    const { config, substrate, checked, ctx } = part(this, name, args);
    const o = buildUnder(this, () => wireGateway(config, ctx, substrate));
    this.gatewayUrl = afterCheck(checked, o.gatewayUrl as pulumi.Input<string>);
    this.registerOutputs({ gatewayUrl: this.gatewayUrl });
  }
}

/**
 * Teams: a namespace per team with its NetworkPolicies, RBAC, quotas and training identity, and
 * Kueue (with training on).
 */
export class Tenancy extends pulumi.ComponentResource {
  /** The namespace of every team (what `Flywheel` takes). */
  public readonly teamNamespaces: pulumi.Output<{ [team: string]: string }>;

  constructor(name: string, args: ClusterPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Tenancy", name, {}, opts);
    const { config, substrate, checked, ctx } = part(this, name, args);
    const o = buildUnder(this, () => wireTeams(config, ctx, substrate));
    this.teamNamespaces = afterCheck(checked, pulumi.output(o.tenancy.namespaces));
    this.registerOutputs({ teamNamespaces: this.teamNamespaces });
  }
}

/** The flywheel's part: the platform's settings, the substrate's handle and the team namespaces. */
export interface FlywheelArgs extends ClusterPartArgs {
  /** The `teamNamespaces` output of `Tenancy`: the flywheel waits for these namespaces. */
  teamNamespaces: pulumi.Input<{ [team: string]: pulumi.Input<string> }>;
}

/**
 * The flywheel of every team that turns it on (`teams[].flywheel`): its identity, Postgres
 * login, settings, NetworkPolicies and CronJobs in the team's namespace, and the discovery Role
 * in the serving namespace (docs/flywheel.md). Nothing where no team turns it on.
 */
export class Flywheel extends pulumi.ComponentResource {
  /** The flywheel CronJob of every team that turns it on. */
  public readonly cronJobs: pulumi.Output<{ [team: string]: string }>;

  constructor(name: string, args: FlywheelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Flywheel", name, {}, opts);
    const { teamNamespaces, ...rest } = args;
    const { config, substrate, checked, ctx } = part(this, name, rest);
    const namespaces = pulumi.output(teamNamespaces);
    const of = (team: string) =>
      namespaces.apply((m) => {
        if (!m?.[team])
          throw handleError(
            "teamNamespaces",
            `expected the namespace of team ${JSON.stringify(team)} (Tenancy's teamNamespaces), found none`,
          );
        return m[team];
      });
    const o = buildUnder(this, () =>
      wireFlywheel(config, ctx, substrate, {
        namespaces: Object.fromEntries(config.teams.map((t) => [t.name, of(t.name)])),
        dependsOn: [],
      }),
    );
    this.cronJobs = afterCheck(
      checked,
      pulumi.output((o.flywheelCronJobs ?? {}) as Record<string, pulumi.Input<string>>),
    );
    this.registerOutputs({ cronJobs: this.cronJobs });
  }
}
