/**
 * Capacity arithmetic: what the pools can hold. A model's replicas times its GPUs per replica
 * must fit its pool's `maxGpus` (Karpenter's limit on aws, the pool's size on a cluster), the
 * floors (`replicas.min`) of every model on a pool must fit together, and the teams' nominal
 * training quotas on a training pool (Kueue sets each team's quota on every training pool's
 * flavor) must not promise more GPUs than the pool has.
 */
import { gpusOf } from "../../../components/platform/model-server";
import type { ConfigIssue } from "../errors";
import { poolGpusPerNode } from "./core";
import { issue, type Rule } from "./helpers";

export const replicasFitPools: Rule = ({ config }) => {
  const out: ConfigIssue[] = [];
  config.gpuPools.forEach((pool, p) => {
    const perNode = poolGpusPerNode(pool);
    // A replica larger than a node is reported by modelsFitPools; its sums would only repeat it.
    const onPool = config.models
      .map((m, i) => ({ m, i, gpus: gpusOf(m) }))
      .filter(
        ({ m, gpus }) => m.pool === pool.name && gpus > 0 && (perNode === undefined || gpus <= perNode),
      );
    for (const { m, i, gpus } of onPool) {
      const need = m.replicas.max * gpus;
      if (need > pool.maxGpus)
        out.push(
          issue(
            `models[${i}].replicas.max`,
            `expected at most ${Math.floor(pool.maxGpus / gpus)} (replicas.max x ${gpus} GPUs per replica must fit pool "${pool.name}", maxGpus ${pool.maxGpus}), found ${m.replicas.max} (${need} GPUs)`,
          ),
        );
    }
    const floors = onPool.filter(({ m }) => m.replicas.min > 0);
    const floor = floors.reduce((s, { m, gpus }) => s + m.replicas.min * gpus, 0);
    if (floor > pool.maxGpus)
      out.push(
        issue(
          `gpuPools[${p}].maxGpus`,
          `expected at least ${floor}, the GPUs the models' replicas.min keep running on pool "${pool.name}" (${floors.map(({ m, gpus }) => `${m.name} ${m.replicas.min} x ${gpus}`).join(" + ")}), found ${pool.maxGpus}`,
        ),
      );
  });
  return out;
};

export const quotaSumsFitPools: Rule = ({ config }) => {
  if (!config.training.enabled) return [];
  const teams = config.teams.filter((t) => t.gpuQuota.nominal > 0);
  const sum = teams.reduce((s, t) => s + t.gpuQuota.nominal, 0);
  const out: ConfigIssue[] = [];
  config.gpuPools.forEach((pool, p) => {
    if (pool.purpose !== "training" || sum <= pool.maxGpus) return;
    out.push(
      issue(
        `gpuPools[${p}].maxGpus`,
        `expected at least ${sum}, the sum of the teams' nominal GPU quotas on training pool "${pool.name}" (${teams.map((t) => `${t.name} ${t.gpuQuota.nominal}`).join(" + ")}), found ${pool.maxGpus}; lower the quotas or raise maxGpus`,
      ),
    );
  });
  return out;
};

export const CAPACITY_RULES: Rule[] = [replicasFitPools, quotaSumsFitPools];
