/**
 * Tenancy: creates, per team, what {@link planTenancy} derives from the config — namespace,
 * network policies, RBAC, Kueue LocalQueue — plus the team's training identity (scoped object
 * storage credentials from the substrate) and the `training-env` ConfigMap job templates read.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Substrate } from "../substrate";
import { TRAINING_ENV_CONFIGMAP } from "./training-jobs";
import { objectStoreCaEnv } from "../lib/trust";
import { asArgs, planTeam, type TeamInput, type TeamPlan, type TenancyPlanArgs } from "./tenancy-plan";

export interface TenancyArgs {
  readonly substrate: Substrate;
  readonly teams: readonly TeamInput[];
  /** Create Kueue LocalQueues (needs the Kueue CRDs). */
  readonly trainingEnabled: boolean;
  readonly cohort: string;
  /**
   * Resources the LocalQueues wait for (the Kueue release and ClusterQueues).
   * @default []
   */
  readonly kueueReady?: readonly pulumi.Resource[];
  /** Served models' weights; trainers read those within their clearance. @default [] */
  readonly models?: TenancyPlanArgs["models"];
}

/** Plain (non-secret) environment of training jobs: S3 endpoint, region, bucket names. */
export function trainingEnvData(o: {
  endpoint: string;
  region: string;
  forcePathStyle: boolean;
  buckets: { models: string; datasets: string; checkpoints: string };
  team: string;
}): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: o.endpoint,
    AWS_REGION: o.region,
    S3_FORCE_PATH_STYLE: String(o.forcePathStyle),
    SOVEREIGN_TEAM: o.team,
    SOVEREIGN_BUCKET_MODELS: o.buckets.models,
    SOVEREIGN_BUCKET_DATASETS: o.buckets.datasets,
    SOVEREIGN_BUCKET_CHECKPOINTS: o.buckets.checkpoints,
    SOVEREIGN_TEAM_PREFIX: `teams/${o.team}/`,
  };
}

/** The object-store CA settings (`objectStoreCaEnv`) of a workload's environment, as ConfigMap data. */
function plainEnv(env: readonly { name: string; value?: unknown }[]): Record<string, string> {
  const names = new Set(objectStoreCaEnv().map((e) => e.name));
  return Object.fromEntries(
    env
      .filter((e) => names.has(e.name) && typeof e.value === "string")
      .map((e) => [e.name, e.value as string]),
  );
}

export class Tenancy extends pulumi.ComponentResource {
  readonly plans: readonly TeamPlan[];
  /** Namespace name per team. */
  readonly namespaces: Readonly<Record<string, pulumi.Output<string>>>;

  constructor(name: string, args: TenancyArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:Tenancy", name, {}, opts);
    const provider = args.substrate.provider;
    const child = { parent: this, provider };
    const store = args.substrate.objectStore;
    const plans = args.teams.map((t) =>
      planTeam(t, {
        teams: args.teams,
        trainingEnabled: args.trainingEnabled,
        cohort: args.cohort,
        models: args.models,
      }),
    );
    const namespaces: Record<string, pulumi.Output<string>> = {};
    for (const plan of plans) {
      const base = `${name}-${plan.team}`;
      const ns = new k8s.core.v1.Namespace(`${base}-ns`, asArgs<k8s.core.v1.NamespaceArgs>(plan.namespace), {
        ...child,
        dependsOn: [...args.substrate.ready],
      });
      namespaces[plan.team] = ns.metadata.name;
      const inNs = { ...child, dependsOn: [ns] };
      for (const np of plan.networkPolicies) {
        new k8s.networking.v1.NetworkPolicy(
          `${base}-np-${np.metadata.name}`,
          asArgs<k8s.networking.v1.NetworkPolicyArgs>(np),
          inNs,
        );
      }
      new k8s.rbac.v1.Role(`${base}-role`, asArgs<k8s.rbac.v1.RoleArgs>(plan.role), inNs);
      new k8s.rbac.v1.RoleBinding(
        `${base}-rolebinding`,
        asArgs<k8s.rbac.v1.RoleBindingArgs>(plan.roleBinding),
        inNs,
      );
      if (plan.localQueue) {
        new k8s.apiextensions.CustomResource(`${base}-localqueue`, plan.localQueue, {
          ...child,
          dependsOn: [ns, ...(args.kueueReady ?? [])],
        });
      }
      const access = args.substrate.bindWorkload(
        `${base}-trainer`,
        {
          kind: "training",
          namespace: ns.metadata.name,
          serviceAccountName: plan.serviceAccountName,
          team: plan.team,
          readModels: plan.readModels,
        },
        { parent: this, dependsOn: [ns] },
      );
      new k8s.core.v1.ConfigMap(
        `${base}-training-env`,
        {
          metadata: {
            name: TRAINING_ENV_CONFIGMAP,
            namespace: plan.namespace.metadata.name,
            labels: plan.role.metadata.labels,
          },
          data: pulumi
            .all([
              store.endpoint,
              store.buckets.models,
              store.buckets.datasets,
              store.buckets.checkpoints,
              access.env,
            ])
            .apply(([endpoint, models, datasets, checkpoints, env]) => ({
              ...trainingEnvData({
                endpoint,
                region: store.region,
                forcePathStyle: store.forcePathStyle,
                buckets: { models, datasets, checkpoints },
                team: plan.team,
              }),
              // In-cluster: AWS_CA_BUNDLE, where training Jobs mount the object store's CA.
              ...plainEnv(env),
              // The full credential environment (secret references only, never secret values).
              "env.json": JSON.stringify(env),
            })),
        },
        { ...child, dependsOn: [ns, ...access.dependsOn] },
      );
      // Exactly what the substrate exposes for the object store: no port open to every address.
      const egress = args.substrate.egressTargets.objectStore.apply((rules) =>
        rules.map((r) => ({ to: [...r.to], ports: [...r.ports] })),
      );
      new k8s.networking.v1.NetworkPolicy(
        `${base}-np-allow-data-services`,
        {
          metadata: {
            name: "allow-data-services",
            namespace: plan.namespace.metadata.name,
            labels: plan.role.metadata.labels,
          },
          spec: { podSelector: {}, policyTypes: ["Egress"], egress },
        },
        inNs,
      );
    }
    this.plans = plans;
    this.namespaces = namespaces;
    this.registerOutputs({ namespaces });
  }
}
