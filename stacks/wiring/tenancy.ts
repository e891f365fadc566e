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
import { opaDataOf } from "./policy";
import type { StackContext } from "./context";

export function wireTenancy(
  config: StackConfig,
  _ctx: StackContext,
  substrate: Substrate,
  /**
   * The serving namespace as created (the flywheel controllers' discovery Role lives there) and
   * the model servers' API keys (a flywheel's base model and guard).
   */
  serving: {
    servingNamespace?: pulumi.Output<string>;
    modelApiKeys?: Readonly<Record<string, pulumi.Output<string>>>;
  } = {},
): Record<string, unknown> {
  const kueue = config.training.enabled
    ? new Kueue("kueue", {
        substrate,
        pools: config.gpuPools.map((p) => ({ name: p.name, purpose: p.purpose })),
        teams: config.teams,
        cohort: config.training.cohort,
        replicas: resolveSettings(config).kueue.replicas,
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
  // Every team that turns the flywheel on gets its identity, settings and CronJob (docs/flywheel.md).
  const teams = flywheelTeams(config);
  // The eval's safety task asks the guard the gateway and OPA screen with (the policy data's).
  const guard = opaDataOf(config).guard;
  const flywheel = teams.length
    ? new Flywheel("flywheel", {
        substrate,
        teams,
        namespaces: tenancy.namespaces,
        opaUrl: opaUrl(),
        ...(guard.enabled ? { guard: { url: guard.url, model: guard.model } } : {}),
        // The controller (init container and controller CronJob) runs from the gateway's image.
        gatewayImage: config.images.gateway ?? config.gateway.image ?? IMAGES.gateway,
        ...(serving.servingNamespace ? { servingNamespace: serving.servingNamespace } : {}),
        ...(serving.modelApiKeys ? { modelApiKeys: serving.modelApiKeys } : {}),
        dependsOn: [tenancy, ...(kueue?.ready ?? [])],
      })
    : undefined;
  return {
    teamNamespaces: tenancy.namespaces,
    ...(flywheel ? { flywheelCronJobs: flywheel.cronJobs } : {}),
  };
}
