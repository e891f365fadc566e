/**
 * What an enabled flywheel needs besides the block itself, on the `local` stack (the in-cluster
 * substrate, CPU only as shipped): the training layer, a training GPU pool for the chain's pod
 * and a team GPU quota that admits it (`flywheelNeedsGpuQuota`).
 */
import type { FlywheelTeamInput } from "../../components/flywheel/plan";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { pulumiConfigFromFile } from "./stack";

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

/** The local stack with training and the demo team's flywheel on (the in-cluster substrate). */
export function localWithFlywheel(): {
  raw: Record<string, any>;
  flat: ReturnType<typeof pulumiConfigFromFile>;
} {
  const flat = pulumiConfigFromFile(stackFile("local"));
  const raw = withFlywheelCapacity(structuredClone(rawFromStackFile(stackFile("local")).raw));
  raw.teams[0].allowedModels.push("demo-assistant");
  raw.teams[0].flywheel = {
    enabled: true,
    baseModel: "tiny-chat",
    adapter: "demo-assistant",
    minNewRecords: 50,
  };
  for (const k of ["teams", "training", "gpuPools", "policy"])
    flat.config[`sovereign:${k}`] = JSON.stringify(raw[k]);
  return { raw, flat };
}

/**
 * The flywheel team input the rendering tests use: team `demo`, adapter `demo-chat` (or
 * `adapter`) on `tiny-chat`, nightly, one new record enough, no classifications or redaction.
 */
export function demoFlywheelTeam(adapter = "demo-chat"): FlywheelTeamInput {
  return {
    team: "demo",
    costCenter: "cc",
    adapter,
    baseModel: "tiny-chat",
    schedule: "0 3 * * *",
    minNewRecords: 1,
    modelClassifications: {},
    redactPatterns: [],
  };
}
