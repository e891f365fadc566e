/**
 * The platform's parts as separate package components (docs/component-package.md): a substrate
 * component (`ClusterSubstrate`) that publishes a plain-data handle, and `Serving`, `Gateway`,
 * `Tenancy` and `Flywheel`, each built from that handle and the platform's settings. With `Policy`
 * and `Observability` (policy-parts.ts) they create what the `ClusterPlatform` facade creates for
 * the same settings.
 *
 * Every component takes the platform's settings (the facade's inputs: one YAML variable or one
 * Python dict for all of them), because they decide which resources each part creates, and a
 * component must decide that while it is constructed, before another resource's output (the
 * handle) is known. The handle carries what the substrate created; each part checks it against
 * its settings (handle.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { ExistingClusterSubstrate } from "../components/existing-cluster/substrate";
import { flywheelTeams } from "../components/flywheel/plan";
import { teamNamespace } from "../components/lib/naming";
import { requiresApiKey } from "../components/platform/model-server";
import { postgresDatabaseOf } from "../components/substrate";
import { existingClusterSubstrateArgs } from "../stacks/wiring/existing-cluster";
import { type PlatformCertManager, wireCertManager } from "../stacks/wiring/cert-manager";
import { wireGateway } from "../stacks/wiring/gateway";
import { opaDataOf, type AdmissionInputs } from "../stacks/wiring/policy";
import { wireServing } from "../stacks/wiring/serving";
import { wireFlywheel, wireTeams } from "../stacks/wiring/tenancy";
import {
  inputError,
  plannedPostgresServices,
  plannedWorkloads,
  substrateFromHandle,
  type SubstrateHandle,
  type WorkloadIdentity,
} from "./handle";
import { awsSubstrateFromHandle, type AwsSubstrateHandle } from "./aws-handle";
import { type AwsPlatformArgs, buildUnder, type ClusterPlatformArgs, platformConfig } from "./platform";
import type { FlywheelIdentity } from "./policy-parts";
import type { StackConfig } from "../stacks/config/schema";

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
    // The stack's CAs on the substrate's cert-manager (the model CA, the gateway's private CA),
    // as the stack program makes them: the parts ask them for certificates.
    const cm = buildUnder(this, () => wireCertManager(config, { stack }, s, { modelCa: true })!);
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
    const ready = pulumi.all(
      [
        ...s.ready,
        ...s.certManager.ready,
        ...cm.ready,
        ...(cm.modelCaReady ?? []),
        ...(cm.kueueCaReady ?? []),
      ].map((r) => r.urn),
    );
    this.handle = pulumi.all([ready, pulumi.output(value)]).apply(([, v]) => v as unknown as SubstrateHandle);
    this.registerOutputs({ handle: this.handle });
  }
}

/** The substrate kind of a part: its component decides (`Serving` or `AwsServing`), never the handle. */
export type PartKind = "existing-cluster" | "aws";

/** A part's inputs on either substrate: the platform's settings and the substrate's handle. */
type PartArgs = (ClusterPlatformArgs | AwsPlatformArgs) & {
  handle: pulumi.Input<SubstrateHandle> | pulumi.Input<AwsSubstrateHandle>;
};

/**
 * Validates a part's settings and rebuilds its substrate from the handle. The substrate kind is
 * the component's (`Serving` or `AwsServing`, ...), so the part's shape is known while the handle
 * is not (a first preview); a handle of the other kind fails its check at `handle.kind`.
 */
function part(
  self: pulumi.ComponentResource,
  name: string,
  args: PartArgs,
  kind: PartKind = "existing-cluster",
) {
  const { handle, ...settings } = args;
  const stack = pulumi.getStack();
  const config = platformConfig(kind, settings, stack);
  const { substrate, checked } =
    kind === "aws"
      ? awsSubstrateFromHandle(handle as pulumi.Input<AwsSubstrateHandle>, config, self, name)
      : substrateFromHandle(handle as pulumi.Input<SubstrateHandle>, config, self, name);
  return { config, substrate, checked: checked as pulumi.Output<unknown>, ctx: { stack } };
}

/** `value` once the handle is checked: a part's outputs fail with the handle's problem. */
function afterCheck<T>(checked: pulumi.Output<unknown>, value: pulumi.Input<T>): pulumi.Output<T> {
  return pulumi.all([checked, value]).apply(([, v]) => v as T);
}

/**
 * cert-manager and the stack's CAs as a part sees them: the substrate component made them
 * (`wireCertManager`), and its handle resolves once they are ready, so what a part asks of them
 * waits for them through the handle (its provider's settings), not through `dependsOn`.
 */
export const MADE_BY_THE_SUBSTRATE: PlatformCertManager = { ready: [], modelCaReady: [], kueueCaReady: [] };

/** The model servers' keys as a part receives them: `Serving`'s `modelApiKeys` output. */
type ModelApiKeysInput = pulumi.Input<{ [model: string]: pulumi.Input<string> }>;

/**
 * The keys a part passes on to its typed component, as stacks/wiring/platform.ts passes
 * `Serving`'s: one entry per model of `models` that requires a key by these settings (vLLM on a
 * GPU pool), read from `keys` (`Serving`'s `modelApiKeys`). Which models have a key comes from
 * the settings, never from `keys`' own entries: in a first preview `keys` is unknown, and the
 * part must register the same objects (the key Secrets) then as in `up`. A model whose key
 * `keys` lacks fails with an input-property error at `modelApiKeys`.
 */
function modelKeysFor(
  config: StackConfig,
  keys: ModelApiKeysInput | undefined,
  models: ReadonlySet<string>,
): Record<string, pulumi.Output<string>> {
  const all = pulumi.output(keys);
  const out: Record<string, pulumi.Output<string>> = {};
  for (const [i, m] of config.models.entries()) {
    if (!requiresApiKey(m) || !models.has(m.name)) continue;
    // Left out: known now, reported by this part's construction (not by one of its resources).
    if (keys === undefined)
      throw inputError(
        "modelApiKeys",
        `expected Serving's modelApiKeys: models[${i}] (${JSON.stringify(m.name)}) runs vLLM on a GPU pool and requires its key`,
      );
    out[m.name] = pulumi.secret(
      all.apply((k) => {
        const key: unknown = k && Object.hasOwn(k, m.name) ? k[m.name] : undefined;
        if (typeof key !== "string" || key === "")
          throw inputError(
            "modelApiKeys",
            `expected the API key of model ${JSON.stringify(m.name)} (models[${i}] runs vLLM on a GPU pool: pass Serving's modelApiKeys), found none`,
          );
        // The gateway refuses such a key at start-up (GATEWAY_MODEL_API_KEYS_FILE), and a bearer
        // token cannot carry one.
        if (!/^\S+$/.test(key))
          throw inputError(
            "modelApiKeys",
            `expected the API key of model ${JSON.stringify(m.name)} without whitespace (pass Serving's modelApiKeys), found a key with whitespace`,
          );
        return key;
      }),
    );
  }
  return out;
}

/**
 * Model serving: the `sovereign-serving` namespace and its NetworkPolicies, GPU enablement
 * (with GPU pools) and KEDA (where a model autoscales), one `ModelServer` per model.
 */
export class Serving extends pulumi.ComponentResource {
  /** The model server URL of every model. */
  public readonly modelUrls: pulumi.Output<{ [model: string]: string }>;
  /**
   * The API key of every model server that requires one (vLLM, on a GPU pool), by model (secret):
   * what `Gateway` and `Flywheel` take as `modelApiKeys`. Empty where every model runs on CPU.
   */
  public readonly modelApiKeys: pulumi.Output<{ [model: string]: string }>;

  constructor(name: string, args: ClusterPartArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Serving", name, {}, opts);
    const o = servingPart(this, name, args, "existing-cluster");
    this.modelUrls = o.modelUrls;
    this.modelApiKeys = o.modelApiKeys;
    this.registerOutputs(o);
  }
}

/** `Serving`'s (and `AwsServing`'s) resources and outputs, under `self`. */
export function servingPart(self: pulumi.ComponentResource, name: string, args: PartArgs, kind: PartKind) {
  const { config, substrate, checked, ctx } = part(self, name, args, kind);
  const sink: {
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
    certManager: PlatformCertManager;
  } = { certManager: MADE_BY_THE_SUBSTRATE };
  const o = buildUnder(self, () => wireServing(config, ctx, substrate, sink));
  return {
    modelUrls: afterCheck(checked, o.modelUrls as Record<string, string>),
    modelApiKeys: pulumi.secret(afterCheck(checked, pulumi.all(sink.modelApiKeys ?? {}))),
  };
}

/** The gateway's part: the platform's settings, the substrate's handle and the model servers' keys. */
export interface GatewayArgs extends ClusterPartArgs {
  /**
   * The `modelApiKeys` output of `Serving`: the keys of the models the gateway routes to.
   * Required where a model runs vLLM (on a GPU pool). An input (not plain): another resource's output.
   */
  modelApiKeys?: pulumi.Input<{ [model: string]: pulumi.Input<string> }>;
}

/**
 * The policy-enforcing gateway: its namespace, identity, Postgres login, policy (compiled to
 * Wasm), catalog, TLS (with cert-manager's private CA where `gateway.tls` asks for it).
 */
export class Gateway extends pulumi.ComponentResource {
  /** The gateway's OpenAI-compatible base URL inside the cluster. */
  public readonly gatewayUrl: pulumi.Output<string>;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Gateway", name, {}, opts);
    this.gatewayUrl = gatewayPart(this, name, args, "existing-cluster");
    this.registerOutputs({ gatewayUrl: this.gatewayUrl });
  }
}

/** `Gateway`'s (and `AwsGateway`'s) resources, under `self`; its URL. */
export function gatewayPart(
  self: pulumi.ComponentResource,
  name: string,
  args: PartArgs & { modelApiKeys?: ModelApiKeysInput },
  kind: PartKind,
): pulumi.Output<string> {
  const { modelApiKeys, ...rest } = args;
  const { config, substrate, checked, ctx } = part(self, name, rest, kind);
  // The gateway calls every model it routes to (the guard included).
  const keys = modelKeysFor(config, modelApiKeys, new Set(config.models.map((m) => m.name)));
  const o = buildUnder(self, () =>
    wireGateway(config, ctx, substrate, { modelApiKeys: keys, certManager: MADE_BY_THE_SUBSTRATE }),
  );
  // Fails, as the key Secret does, where a key is missing.
  const keysChecked = pulumi.all([checked, pulumi.all(Object.values(keys))]);
  return afterCheck(keysChecked, o.gatewayUrl as pulumi.Input<string>);
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
    this.teamNamespaces = tenancyPart(this, name, args, "existing-cluster");
    this.registerOutputs({ teamNamespaces: this.teamNamespaces });
  }
}

/** `Tenancy`'s (and `AwsTenancy`'s) resources, under `self`; the team namespaces. */
export function tenancyPart(
  self: pulumi.ComponentResource,
  name: string,
  args: PartArgs,
  kind: PartKind,
): pulumi.Output<{ [team: string]: string }> {
  const { config, substrate, checked, ctx } = part(self, name, args, kind);
  const o = buildUnder(self, () => wireTeams(config, ctx, substrate, MADE_BY_THE_SUBSTRATE));
  return afterCheck(checked, pulumi.output(o.tenancy.namespaces));
}

/** The flywheel's part: the platform's settings, the substrate's handle and the team namespaces. */
export interface FlywheelArgs extends ClusterPartArgs {
  /** The `teamNamespaces` output of `Tenancy`: the flywheel waits for these namespaces. */
  teamNamespaces: pulumi.Input<{ [team: string]: pulumi.Input<string> }>;
  /**
   * The `modelApiKeys` output of `Serving`: a team's base model's key (its controller) and the
   * guard's (its eval). Required where one of those runs vLLM (on a GPU pool).
   */
  modelApiKeys?: pulumi.Input<{ [model: string]: pulumi.Input<string> }>;
}

/**
 * The flywheel of every team that turns it on (`teams[].flywheel`): its identity, Postgres
 * login, settings, NetworkPolicies and CronJobs in the team's namespace, and the discovery Role
 * in the serving namespace (docs/flywheel.md). Nothing where no team turns it on.
 */
export class Flywheel extends pulumi.ComponentResource {
  /** The flywheel CronJob of every team that turns it on. */
  public readonly cronJobs: pulumi.Output<{ [team: string]: string }>;
  /**
   * The flywheel's identity in each team namespace, by team: what `Policy` takes as
   * `flywheelIdentities` (the admission constraint K8sFlywheelIdentity keeps it to the kit).
   */
  public readonly flywheelIdentities: pulumi.Output<{ [team: string]: FlywheelIdentity }>;

  constructor(name: string, args: FlywheelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:index:Flywheel", name, {}, opts);
    const o = flywheelPart(this, name, args, "existing-cluster");
    this.cronJobs = o.cronJobs;
    this.flywheelIdentities = o.flywheelIdentities;
    this.registerOutputs({ cronJobs: this.cronJobs, flywheelIdentities: this.flywheelIdentities });
  }
}

/** `Flywheel`'s (and `AwsFlywheel`'s) resources, under `self`; the CronJob of every flywheel team. */
export function flywheelPart(
  self: pulumi.ComponentResource,
  name: string,
  args: PartArgs & {
    teamNamespaces: pulumi.Input<{ [team: string]: pulumi.Input<string> }>;
    modelApiKeys?: ModelApiKeysInput;
  },
  kind: PartKind,
): {
  cronJobs: pulumi.Output<{ [team: string]: string }>;
  flywheelIdentities: pulumi.Output<{ [team: string]: FlywheelIdentity }>;
} {
  const { teamNamespaces, modelApiKeys, ...rest } = args;
  const { config, substrate, checked, ctx } = part(self, name, rest, kind);
  // A flywheel team calls its base model and the guard (components/flywheel/flywheel.ts).
  const teams = flywheelTeams(config);
  const guard = opaDataOf(config).guard;
  const called = new Set([
    ...teams.map((f) => f.baseModel),
    ...(teams.length && guard.enabled ? [guard.model] : []),
  ]);
  const keys = modelKeysFor(config, modelApiKeys, called);
  const namespaces = pulumi.output(teamNamespaces);
  // Only a flywheel team's namespace is used, and it must be that team's: a swapped map would put
  // one team's registry login, model keys and flywheel identity into another team's namespace.
  const of = (team: string) =>
    namespaces.apply((m) => {
      const ns: unknown = m && Object.hasOwn(m, team) ? m[team] : undefined;
      if (typeof ns !== "string" || ns === "")
        throw inputError(
          `teamNamespaces.${team}`,
          `expected the namespace of team ${JSON.stringify(team)} (Tenancy's teamNamespaces), found none`,
        );
      if (ns !== teamNamespace(team))
        throw inputError(
          `teamNamespaces.${team}`,
          `expected ${JSON.stringify(teamNamespace(team))} (team ${JSON.stringify(team)}'s namespace), found ${JSON.stringify(ns)}: pass the teamNamespaces output of a Tenancy created with the same platform settings`,
        );
      return ns;
    });
  const teamNs = Object.fromEntries(teams.map((f) => [f.team, of(f.team)]));
  const admission: AdmissionInputs = {};
  const o = buildUnder(self, () =>
    wireFlywheel(config, ctx, substrate, {
      namespaces: teamNs,
      dependsOn: [],
      modelApiKeys: keys,
      certManager: MADE_BY_THE_SUBSTRATE,
      admission,
    }),
  );
  // The outputs fail with the handle's, the keys' or the namespaces' problem.
  const keysChecked = pulumi.all([
    checked,
    pulumi.all(Object.values(keys)),
    pulumi.all(Object.values(teamNs)),
  ]);
  return {
    cronJobs: afterCheck(
      keysChecked,
      pulumi.output((o.flywheelCronJobs ?? {}) as Record<string, pulumi.Input<string>>),
    ),
    flywheelIdentities: afterCheck(
      keysChecked,
      pulumi.all(admission.flywheelProtected ?? {}) as unknown as pulumi.Output<
        Record<string, FlywheelIdentity>
      >,
    ),
  };
}
