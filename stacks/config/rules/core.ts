/** Rules that hold on every substrate: models, pools, teams and their references. */
import type { ConfigIssue } from "../errors";
import { gpuFamily } from "../../../components/lib/gpu-catalog";
import { isBucketName } from "../../../components/lib/naming";
import {
  duplicateNames,
  entries,
  int,
  issue,
  profileOf,
  section,
  str,
  strings,
  substrateKind,
  type Rule,
} from "./helpers";

/** GPUs per node of a pool as the raw config describes it (explicit, or the family maximum). */
export function poolGpusPerNode(pool: Record<string, unknown>): number | undefined {
  const explicit = int(pool.gpusPerNode);
  if (explicit !== undefined) return explicit;
  const fams = strings(pool.instanceFamilies).map(gpuFamily);
  if (fams.length === 0 || fams.some((f) => f === undefined)) return undefined;
  return Math.max(...fams.map((f) => f!.maxGpusPerInstance));
}

export const uniqueNames: Rule = (raw) => [
  ...duplicateNames(raw, "models", "model"),
  ...duplicateNames(raw, "teams", "team"),
  ...duplicateNames(raw, "gpuPools", "GPU pool"),
];

export const modelsFitPools: Rule = (raw) => {
  const pools = new Map(entries(raw, "gpuPools").map((e) => [str(e.value.name), e.value]));
  const names = [...pools.keys()].filter((n): n is string => n !== undefined);
  const out: ConfigIssue[] = [];
  for (const { index, value: m } of entries(raw, "models")) {
    const at = `models[${index}]`;
    const poolName = str(m.pool);
    // A gpusPerReplica of the wrong type is the schema's to report; skip the GPU maths.
    if (m.gpusPerReplica !== undefined && int(m.gpusPerReplica) === undefined) continue;
    const gpus = int(m.gpusPerReplica) ?? (poolName ? 1 : 0);
    if (poolName !== undefined) {
      const pool = pools.get(poolName);
      if (!pool) {
        out.push(
          issue(
            `${at}.pool`,
            `expected one of the gpuPools names [${names.join(", ")}], found "${poolName}"`,
          ),
        );
      } else {
        const per = poolGpusPerNode(pool);
        if (per !== undefined && gpus > per) {
          out.push(
            issue(
              `${at}.gpusPerReplica`,
              `expected at most ${per} (the GPUs per node of pool "${poolName}"), found ${gpus}`,
            ),
          );
        }
        if (pool.purpose === "training") {
          out.push(issue(`${at}.pool`, `expected a serving pool, found training pool "${poolName}"`));
        }
      }
      if (gpus === 0)
        out.push(issue(`${at}.gpusPerReplica`, `expected at least 1 on GPU pool "${poolName}", found 0`));
    } else if (int(m.gpusPerReplica) !== undefined && gpus > 0) {
      out.push(
        issue(`${at}.pool`, `expected a GPU pool for a model with ${gpus} GPUs per replica, found nothing`),
      );
    }
    const tp = int(m.tensorParallelSize);
    if (tp !== undefined && gpus > 0 && gpus % tp !== 0) {
      out.push(
        issue(`${at}.tensorParallelSize`, `expected a divisor of gpusPerReplica (${gpus}), found ${tp}`),
      );
    }
    if (tp !== undefined && gpus === 0 && tp > 1) {
      out.push(issue(`${at}.tensorParallelSize`, `expected 1 for a CPU model, found ${tp}`));
    }
    const replicas = section(m, "replicas");
    const min = int(replicas.min) ?? 1;
    const max = int(replicas.max) ?? 1;
    if (max < min) out.push(issue(`${at}.replicas.max`, `expected >= replicas.min (${min}), found ${max}`));
    if (min === 0 && profileOf(raw) === "prod") {
      out.push(
        issue(`${at}.replicas.min`, "expected at least 1 in prod (scale-to-zero is a dev option), found 0"),
      );
    }
    const adapters = Array.isArray(m.loraAdapters) ? m.loraAdapters.length : 0;
    const maxLoras = int(m.maxLoras);
    if (maxLoras !== undefined && adapters === 0) {
      out.push(issue(`${at}.maxLoras`, "expected no maxLoras without loraAdapters, found a value"));
    }
  }
  return out;
};

export const teamsReferenceModels: Rule = (raw) => {
  const served = new Set<string>();
  for (const { value: m } of entries(raw, "models")) {
    const n = str(m.name);
    if (n) served.add(n);
    for (const a of Array.isArray(m.loraAdapters) ? m.loraAdapters : []) {
      const an = str((a as Record<string, unknown>)?.name);
      if (an) served.add(an);
    }
  }
  // An enabled flywheel serves its adapter on its base model (docs/flywheel.md).
  for (const { value: t } of entries(raw, "teams")) {
    const fw = t.flywheel as Record<string, unknown> | undefined;
    const an = fw?.enabled === true ? str(fw.adapter) : undefined;
    if (an) served.add(an);
  }
  const out: ConfigIssue[] = [];
  for (const { index, value: t } of entries(raw, "teams")) {
    strings(t.allowedModels).forEach((name, j) => {
      if (!served.has(name)) {
        out.push(
          issue(
            `teams[${index}].allowedModels[${j}]`,
            `expected a configured model or LoRA adapter [${[...served].join(", ")}], found "${name}"`,
          ),
        );
      }
    });
  }
  return out;
};

export const teamQuotasFitPools: Rule = (raw) => {
  const trainingGpus = entries(raw, "gpuPools")
    .filter((e) => e.value.purpose === "training")
    .reduce((sum, e) => sum + (int(e.value.maxGpus) ?? 0), 0);
  const out: ConfigIssue[] = [];
  for (const { index, value: t } of entries(raw, "teams")) {
    const q = section(t, "gpuQuota");
    const nominal = int(q.nominal) ?? 0;
    const borrow = int(q.borrowingLimit) ?? 0;
    if (nominal + borrow > trainingGpus && nominal + borrow > 0) {
      out.push(
        issue(
          `teams[${index}].gpuQuota`,
          `expected nominal + borrowingLimit <= ${trainingGpus} (maxGpus of the training pools), found ${nominal + borrow}`,
        ),
      );
    }
  }
  return out;
};

export const poolsMatchSubstrate: Rule = (raw) => {
  const kind = substrateKind(raw);
  const out: ConfigIssue[] = [];
  for (const { index, value: p } of entries(raw, "gpuPools")) {
    const at = `gpuPools[${index}]`;
    if (kind === "aws") {
      const fams = strings(p.instanceFamilies);
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
    if (kind === "cluster") {
      if (int(p.gpusPerNode) === undefined)
        out.push(
          issue(
            `${at}.gpusPerNode`,
            "expected the GPUs per node of an existing cluster's pool, found nothing",
          ),
        );
      if (str(p.gpuType) === undefined)
        out.push(
          issue(`${at}.gpuType`, "expected the GPU type label value on the cluster substrate, found nothing"),
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
    const min = int(p.minGpus) ?? 0;
    const max = int(p.maxGpus);
    if (max !== undefined && max < min)
      out.push(issue(`${at}.maxGpus`, `expected >= minGpus (${min}), found ${max}`));
  }
  return out;
};

export const guardModelExists: Rule = (raw) => {
  const guard = str(section(raw, "policy").guardModel);
  if (guard === undefined) return [];
  const m = entries(raw, "models").find((e) => e.value.name === guard);
  if (!m) return [issue("policy.guardModel", `expected the name of a configured model, found "${guard}"`)];
  if (m.value.role !== "guard")
    return [
      issue(
        "policy.guardModel",
        `expected a model with role "guard", found "${guard}" with role ${JSON.stringify(m.value.role)}`,
      ),
    ];
  return [];
};

export const bucketNamesValid: Rule = (raw) => {
  const prefix = str(section(raw, "storage").bucketPrefix);
  if (prefix === undefined) return [];
  const bad = ["models", "datasets", "checkpoints", "inference-logs", "access-logs"]
    .map((s) => `${prefix}-${s}`)
    .filter((b) => !isBucketName(b));
  return bad.length > 0
    ? [
        issue(
          "storage.bucketPrefix",
          `expected a prefix that makes DNS-compatible bucket names (lowercase letters, digits, single '-'), found "${prefix}" giving "${bad[0]}"`,
        ),
      ]
    : [];
};

export const secretsForReceivers: Rule = (raw) => {
  const am = section(section(raw, "observability"), "alertmanager");
  const secrets = section(raw, "secrets");
  if (am.receiver === "webhook" && str(secrets.alertWebhookUrl) === undefined) {
    return [
      issue(
        "secrets.alertWebhookUrl",
        'expected a secret webhook URL for alertmanager receiver "webhook", found nothing',
      ),
    ];
  }
  if (am.receiver === "email" && am.auth !== false && str(secrets.smtpPassword) === undefined) {
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
export const MIN_PROD_BACKUP_DAYS = 7;

export const prodBackups: Rule = (raw) => {
  const days = int(section(raw, "database").backupRetentionDays);
  if (profileOf(raw) === "prod" && days !== undefined && days < MIN_PROD_BACKUP_DAYS)
    return [
      issue(
        "database.backupRetentionDays",
        `expected at least ${MIN_PROD_BACKUP_DAYS} days of backups in prod, found ${days}`,
      ),
    ];
  return [];
};

export const CORE_RULES: Rule[] = [
  uniqueNames,
  modelsFitPools,
  teamsReferenceModels,
  teamQuotasFitPools,
  poolsMatchSubstrate,
  guardModelExists,
  bucketNamesValid,
  secretsForReceivers,
  prodBackups,
];
