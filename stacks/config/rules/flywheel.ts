/**
 * Rules of the training flywheel (`teams[].flywheel`, docs/flywheel.md): an enabled loop needs
 * captures to learn from, a chat base model that serves adapters, a stable adapter name of its
 * own that the team may call, and a minimum canary sample it can reach.
 */
import type { ConfigIssue } from "../errors";
import type { StackConfig } from "../schema";
import { issue, type Rule } from "./helpers";

function flywheels(config: StackConfig) {
  return config.teams.flatMap((team, index) => (team.flywheel ? [{ index, team, fw: team.flywheel }] : []));
}

export const flywheelNeedsCapture: Rule = ({ config }) =>
  flywheels(config).flatMap(({ index, team, fw }) =>
    fw.enabled && !team.allowCapture
      ? [
          issue(
            `teams[${index}].flywheel.enabled`,
            `expected teams[${index}].allowCapture: true for an enabled flywheel (it trains on the team's captures), found ${JSON.stringify(team.allowCapture)}`,
          ),
        ]
      : [],
  );

/** The loop runs as Kueue-admitted Jobs: it needs the training layer (Kueue, the LocalQueues). */
export const flywheelNeedsTraining: Rule = ({ config }) =>
  flywheels(config).flatMap(({ index, fw }) =>
    fw.enabled && !config.training.enabled
      ? [
          issue(
            `teams[${index}].flywheel.enabled`,
            `expected sovereign:training.enabled: true for an enabled flywheel (its CronJob runs through the team's Kueue queue), found false`,
          ),
        ]
      : [],
  );

/**
 * The chain's pod requests `flywheel.gpus` GPUs through the team's queue: without a training
 * pool or with a smaller GPU quota Kueue would never admit it, and the loop would wait silently.
 */
export const flywheelNeedsGpuQuota: Rule = ({ config }) => {
  const trainingPools = config.gpuPools.filter((p) => p.purpose === "training").length;
  return flywheels(config).flatMap(({ index, team, fw }) => {
    if (!fw.enabled) return [];
    if (trainingPools === 0)
      return [
        issue(
          `teams[${index}].flywheel.enabled`,
          `expected a gpuPools entry with purpose "training" for an enabled flywheel (its chain runs on the training pool), found none`,
        ),
      ];
    const total = team.gpuQuota.nominal + team.gpuQuota.borrowingLimit;
    return total < fw.gpus
      ? [
          issue(
            `teams[${index}].gpuQuota`,
            `expected nominal + borrowingLimit >= ${fw.gpus} (teams[${index}].flywheel.gpus) for an enabled flywheel, found ${total}`,
          ),
        ]
      : [];
  });
};

export const flywheelBaseModel: Rule = ({ config }) => {
  const models = new Map(config.models.map((m) => [m.name, m]));
  return flywheels(config).flatMap(({ index, fw }) => {
    const m = models.get(fw.baseModel);
    const at = `teams[${index}].flywheel.baseModel`;
    if (!m) return [issue(at, `expected the name of a model in sovereign:models, found "${fw.baseModel}"`)];
    if (m.role !== "chat")
      return [
        issue(
          at,
          `expected a chat model (adapters are trained on chat models), found "${fw.baseModel}" with role "${m.role}"`,
        ),
      ];
    return [];
  });
};

export const flywheelAdapterName: Rule = ({ config }) => {
  const taken = new Set<string>();
  for (const m of config.models) {
    taken.add(m.name);
    for (const a of m.loraAdapters) taken.add(a.name);
  }
  const seen = new Map<string, number>();
  const out: ConfigIssue[] = [];
  for (const { index, team, fw } of flywheels(config)) {
    const name = fw.adapter;
    const at = `teams[${index}].flywheel.adapter`;
    if (taken.has(name))
      out.push(issue(at, `expected an adapter name no model or configured adapter uses, found "${name}"`));
    const first = seen.get(name);
    if (first !== undefined)
      out.push(
        issue(
          at,
          `expected an adapter name no other team's flywheel uses, found "${name}" again (first at teams[${first}])`,
        ),
      );
    else seen.set(name, index);
    if (fw.enabled && !team.allowedModels.includes(name))
      out.push(
        issue(
          `teams[${index}].allowedModels`,
          `expected the flywheel's adapter "${name}" among the team's allowedModels (clients call it), found ${JSON.stringify(team.allowedModels)}`,
        ),
      );
  }
  return out;
};

export const FLYWHEEL_RULES: Rule[] = [
  flywheelNeedsCapture,
  flywheelNeedsTraining,
  flywheelNeedsGpuQuota,
  flywheelBaseModel,
  flywheelAdapterName,
];
