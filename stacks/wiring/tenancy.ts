/**
 * Platform wiring: tenancy. Team namespaces, network policies, RBAC and training identities, and
 * (when training is enabled) Kueue with a ClusterQueue per team and a LocalQueue in each team
 * namespace — all from the one `teams` declaration.
 */
import { Flywheel } from "../../components/flywheel/flywheel";
import { flywheelTeams } from "../../components/flywheel/plan";
import type * as pulumi from "@pulumi/pulumi";
import { opaUrl } from "../../components/lib/endpoints";
import { IMAGES } from "../../components/lib/versions";
import { Kueue } from "../../components/platform/kueue";
import { Tenancy } from "../../components/platform/tenancy";
import type { Substrate } from "../../components/substrate";
import type { StackConfig } from "../config/schema";
import { resolveSettings } from "../config/settings";
import { opaDataOf, type AdmissionInputs } from "./policy";
import type { StackContext } from "./context";
import type { PlatformCertManager } from "./cert-manager";

export function wireTenancy(
  config: StackConfig,
  ctx: StackContext,
  substrate: Substrate,
  /**
   * The serving namespace as created (the flywheel controllers' discovery Role lives there) and
   * the model servers' API keys (a flywheel's base model and guard).
   */
  serving: {
    servingNamespace?: pulumi.Output<string>;
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
    certManager?: PlatformCertManager;
  } = {},
  /** Filled here with the flywheel's identity per team namespace, for admission (`wirePolicy`). */
  admission: AdmissionInputs = {},
): Record<string, unknown> {
  const teams = wireTeams(config, ctx, substrate, serving.certManager);
  return {
    teamNamespaces: teams.tenancy.namespaces,
    ...wireFlywheel(config, ctx, substrate, {
      namespaces: teams.tenancy.namespaces,
      dependsOn: [teams.tenancy, ...(teams.kueue?.ready ?? [])],
      ...serving,
      admission,
    }),
  };
}

/** Kueue (with training on) and the team namespaces with their policies, RBAC and identities. */
export function wireTeams(
  config: StackConfig,
  _ctx: StackContext,
  substrate: Substrate,
  /** cert-manager and the Kueue CA (`wireCertManager`). @default the substrate's cert-manager */
  certManager?: PlatformCertManager,
): { tenancy: Tenancy; kueue?: Kueue } {
  const kueue = config.training.enabled
    ? new Kueue("kueue", {
        substrate,
        pools: config.gpuPools.map((p) => ({ name: p.name, purpose: p.purpose })),
        teams: config.teams,
        cohort: config.training.cohort,
        replicas: resolveSettings(config).kueue.replicas,
        // its certificates come from the Kueue CA (components/lib/kueue-tls.ts)
        kueueCa: { dependsOn: [...(certManager?.kueueCaReady ?? substrate.certManager?.ready ?? [])] },
      })
    : undefined;
  const tenancy = new Tenancy("tenancy", {
    substrate,
    teams: config.teams,
    trainingEnabled: config.training.enabled,
    cohort: config.training.cohort,
    // Trainers read these base models' weights (within their clearance), never the whole bucket.
    models: config.models,
    kueueReady: kueue?.ready ?? [],
  });
  return { tenancy, ...(kueue ? { kueue } : {}) };
}

/** Every team that turns the flywheel on gets its identity, settings and CronJob (docs/flywheel.md). */
export function wireFlywheel(
  config: StackConfig,
  _ctx: StackContext,
  substrate: Substrate,
  teamsArea: {
    /** The team namespaces as created, by team. */
    readonly namespaces: Readonly<Record<string, pulumi.Input<string>>>;
    /** What the flywheel waits for (the team namespaces, Kueue). */
    readonly dependsOn: readonly pulumi.Resource[];
    /** The serving namespace as created (the controllers' discovery Role lives there). */
    readonly servingNamespace?: pulumi.Output<string>;
    /** The model servers' API keys, by model (a flywheel's base model and guard). */
    readonly modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
    /** Gets the flywheel's identity per team namespace (what admission keeps to the kit). */
    readonly admission?: AdmissionInputs;
    /** cert-manager and the model CA (`wireCertManager`). @default the substrate's cert-manager */
    readonly certManager?: PlatformCertManager;
  },
): Record<string, unknown> {
  const teams = flywheelTeams(config);
  // The eval's safety task asks the guard the gateway and OPA screen with (the policy data's).
  const guard = opaDataOf(config).guard;
  const flywheel = teams.length
    ? new Flywheel("flywheel", {
        substrate,
        teams,
        namespaces: teamsArea.namespaces,
        opaUrl: opaUrl(),
        ...(guard.enabled ? { guard: { url: guard.url, model: guard.model } } : {}),
        // The controller (init container and controller CronJob) runs from the gateway's image.
        gatewayImage: config.images.gateway ?? config.gateway.image ?? IMAGES.gateway,
        ...(teamsArea.servingNamespace ? { servingNamespace: teamsArea.servingNamespace } : {}),
        ...(teamsArea.modelApiKeys ? { modelApiKeys: teamsArea.modelApiKeys } : {}),
        // the model servers serve HTTPS: the model CA's bundle in each flywheel team's namespace
        modelCa: {
          dependsOn: [...(teamsArea.certManager?.modelCaReady ?? substrate.certManager?.ready ?? [])],
        },
        dependsOn: [...teamsArea.dependsOn],
      })
    : undefined;
  if (flywheel && teamsArea.admission) teamsArea.admission.flywheelProtected = flywheel.protectedNames;
  return flywheel
    ? { flywheelCronJobs: flywheel.cronJobs, flywheelRunIdentities: flywheel.runIdentities }
    : {};
}
