/**
 * What an enabled flywheel needs besides the block itself, on the `local` stack (the in-cluster
 * substrate, CPU only as shipped): the training layer, a training GPU pool for the chain's pod
 * and a team GPU quota that admits it (`flywheelNeedsGpuQuota`).
 */
type Raw = Record<string, any>;

/** A training pool of an existing cluster: one GPU per node, selected by a node label. */
export const LOCAL_TRAINING_POOL = {
  name: "training-gpu",
  purpose: "training",
  gpuType: "nvidia-l4",
  gpusPerNode: 1,
  nodeSelector: { "sovereign.ai/pool": "training-gpu" },
  maxGpus: 2,
} as const;

/**
 * Turns on training, adds the training pool (a GPU pool brings NVIDIA's device plugin, whose
 * registry must be allowed) and gives `teams[team]` one nominal GPU, in place.
 */
export function withFlywheelCapacity(raw: Raw, team = 0): Raw {
  raw.training = { ...(raw.training ?? {}), enabled: true };
  const registries: string[] = raw.policy?.allowedRegistries ?? [];
  if (raw.policy && !registries.includes("nvcr.io"))
    raw.policy = { ...raw.policy, allowedRegistries: [...registries, "nvcr.io"] };
  raw.gpuPools = [...(raw.gpuPools ?? []), { ...LOCAL_TRAINING_POOL }];
  raw.teams[team].gpuQuota = { nominal: 1, borrowingLimit: 1 };
  return raw;
}
