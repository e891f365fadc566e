/** Rules that hold on every substrate: models, pools, teams and their references. */
import { gpuFamily } from "../../../components/aws/gpu-families";
import { gpusOf } from "../../../components/platform/model-server";
import type { ConfigIssue } from "../errors";
import type { GpuPoolConfig } from "../schema";
import { duplicateNames, issue, type Rule } from "./helpers";

/** GPUs per node of a pool (explicit, or the family maximum), when known. */
export function poolGpusPerNode(pool: GpuPoolConfig): number | undefined {
  if (pool.gpusPerNode !== undefined) return pool.gpusPerNode;
  const fams = (pool.instanceFamilies ?? []).map(gpuFamily);
  if (fams.length === 0 || fams.some((f) => f === undefined)) return undefined;
  return Math.max(...fams.map((f) => f!.maxGpusPerInstance));
}

export const uniqueNames: Rule = ({ config }) => [
  ...duplicateNames(config.models, "models", "model"),
  ...duplicateNames(config.teams, "teams", "team"),
  ...duplicateNames(config.gpuPools, "gpuPools", "GPU pool"),
];

export const modelsFitPools: Rule = ({ config, settings }) => {
  const pools = new Map(config.gpuPools.map((p) => [p.name, p]));
  const names = [...pools.keys()];
  const out: ConfigIssue[] = [];
  config.models.forEach((m, index) => {
    const at = `models[${index}]`;
    const gpus = gpusOf(m);
    if (m.pool !== undefined) {
      const pool = pools.get(m.pool);
      if (!pool) {
        out.push(
          issue(`${at}.pool`, `expected one of the gpuPools names [${names.join(", ")}], found "${m.pool}"`),
        );
      } else {
        const per = poolGpusPerNode(pool);
        if (per !== undefined && gpus > per) {
          out.push(
            issue(
              `${at}.gpusPerReplica`,
              `expected at most ${per} (the GPUs per node of pool "${m.pool}"), found ${gpus}`,
            ),
          );
        }
        if (pool.purpose === "training") {
          out.push(issue(`${at}.pool`, `expected a serving pool, found training pool "${m.pool}"`));
        }
      }
      if (gpus === 0)
        out.push(issue(`${at}.gpusPerReplica`, `expected at least 1 on GPU pool "${m.pool}", found 0`));
    } else if (gpus > 0) {
      out.push(
        issue(`${at}.pool`, `expected a GPU pool for a model with ${gpus} GPUs per replica, found nothing`),
      );
    }
    const tp = m.tensorParallelSize;
    if (tp !== undefined && gpus > 0 && gpus % tp !== 0) {
      out.push(
        issue(`${at}.tensorParallelSize`, `expected a divisor of gpusPerReplica (${gpus}), found ${tp}`),
      );
    }
    if (tp !== undefined && gpus === 0 && tp > 1) {
      out.push(issue(`${at}.tensorParallelSize`, `expected 1 for a CPU model, found ${tp}`));
    }
    const { min, max } = m.replicas;
    if (max < min) out.push(issue(`${at}.replicas.max`, `expected >= replicas.min (${min}), found ${max}`));
    if (min < settings.serving.minModelReplicas) {
      out.push(
        issue(`${at}.replicas.min`, "expected at least 1 in prod (scale-to-zero is a dev option), found 0"),
      );
    }
    const flywheels = config.teams.some((t) => t.flywheel?.enabled && t.flywheel.baseModel === m.name);
    if (m.maxLoras !== undefined && m.loraAdapters.length === 0 && !(flywheels && gpus > 0)) {
      out.push(
        issue(
          `${at}.maxLoras`,
          "expected no maxLoras without loraAdapters or a flywheel adapter, found a value",
        ),
      );
    }
  });
  return out;
};

export const teamsReferenceModels: Rule = ({ config }) => {
  const served = new Set<string>();
  for (const m of config.models) {
    served.add(m.name);
    for (const a of m.loraAdapters) served.add(a.name);
  }
  // An enabled flywheel serves its adapter on its base model (docs/flywheel.md).
  for (const t of config.teams) if (t.flywheel?.enabled) served.add(t.flywheel.adapter);
  const out: ConfigIssue[] = [];
  config.teams.forEach((t, index) => {
    t.allowedModels.forEach((name, j) => {
      if (!served.has(name)) {
        out.push(
          issue(
            `teams[${index}].allowedModels[${j}]`,
            `expected a configured model or LoRA adapter [${[...served].join(", ")}], found "${name}"`,
          ),
        );
      }
    });
  });
  return out;
};

export const teamQuotasFitPools: Rule = ({ config }) => {
  const trainingGpus = config.gpuPools
    .filter((p) => p.purpose === "training")
    .reduce((sum, p) => sum + p.maxGpus, 0);
  const out: ConfigIssue[] = [];
  config.teams.forEach((t, index) => {
    const total = t.gpuQuota.nominal + t.gpuQuota.borrowingLimit;
    if (total > trainingGpus && total > 0) {
      out.push(
        issue(
          `teams[${index}].gpuQuota`,
          `expected nominal + borrowingLimit <= ${trainingGpus} (maxGpus of the training pools), found ${total}`,
        ),
      );
    }
  });
  return out;
};

export const poolsMatchSubstrate: Rule = ({ config }) => {
  const kind = config.substrate.kind;
  const out: ConfigIssue[] = [];
  config.gpuPools.forEach((p, index) => {
    const at = `gpuPools[${index}]`;
    if (kind === "aws") {
      const fams = p.instanceFamilies ?? [];
      if (fams.length === 0)
        out.push(
          issue(
            `${at}.instanceFamilies`,
            "expected GPU instance families on the aws substrate, found nothing",
          ),
        );
      fams.forEach((f, j) => {
        if (!gpuFamily(f))
          out.push(
            issue(
              `${at}.instanceFamilies[${j}]`,
              `expected a known GPU instance family (g5, g6, gr6, g6e, p4d, p4de, p5, p5e, p5en), found "${f}"`,
            ),
          );
      });
    }
    if (kind === "existing-cluster") {
      if (p.gpusPerNode === undefined)
        out.push(
          issue(
            `${at}.gpusPerNode`,
            "expected the GPUs per node of an existing cluster's pool, found nothing",
          ),
        );
      if (p.gpuType === undefined)
        out.push(
          issue(
            `${at}.gpuType`,
            "expected the GPU type label value on the existing-cluster substrate, found nothing",
          ),
        );
    }
    if (p.capacityType === "spot" && p.purpose === "serving") {
      out.push(
        issue(
          `${at}.capacityType`,
          'expected "on-demand" for a serving pool (spot is for training pools), found "spot"',
        ),
      );
    }
  });
  return out;
};

export const guardModelExists: Rule = ({ config }) => {
  const guard = config.policy.guardModel;
  if (guard === undefined) return [];
  const m = config.models.find((x) => x.name === guard);
  if (!m) return [issue("policy.guardModel", `expected the name of a configured model, found "${guard}"`)];
  if (m.role !== "guard")
    return [
      issue(
        "policy.guardModel",
        `expected a model with role "guard", found "${guard}" with role ${JSON.stringify(m.role)}`,
      ),
    ];
  return [];
};

/** `policy.guardFailOpen` is a dev convenience: prod always fails closed. */
export const guardFailOpenOnlyInDev: Rule = ({ config, settings }) =>
  config.policy.guardFailOpen && settings.guard.failClosed
    ? [
        issue(
          "policy.guardFailOpen",
          "expected false in prod (the guard always fails closed there; failing open is a dev option), found true",
        ),
      ]
    : [];

export const secretsForReceivers: Rule = ({ config }) => {
  const am = config.observability.alertmanager;
  const secrets = config.secrets;
  if (am.receiver === "webhook" && secrets.alertWebhookUrl === undefined) {
    return [
      issue(
        "secrets.alertWebhookUrl",
        'expected a secret webhook URL for alertmanager receiver "webhook", found nothing',
      ),
    ];
  }
  if (am.receiver === "email" && am.auth !== false && secrets.smtpPassword === undefined) {
    return [
      issue(
        "secrets.smtpPassword",
        'expected a secret SMTP password for alertmanager receiver "email", found nothing',
      ),
    ];
  }
  return [];
};

/** Point-in-time recovery of at least a week in prod (RDS automated backups, CloudNativePG). */
export const prodBackups: Rule = ({ settings }) => {
  const { backupRetentionDays: days, minBackupRetentionDays: min } = settings.database;
  return days < min
    ? [
        issue(
          "database.backupRetentionDays",
          `expected at least ${min} days of backups in prod, found ${days}`,
        ),
      ]
    : [];
};

export const CORE_RULES: Rule[] = [
  uniqueNames,
  modelsFitPools,
  teamsReferenceModels,
  teamQuotasFitPools,
  poolsMatchSubstrate,
  guardModelExists,
  guardFailOpenOnlyInDev,
  secretsForReceivers,
  prodBackups,
];
