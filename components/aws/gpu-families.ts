/**
 * AWS GPU instance families the kit knows how to schedule on (AWS substrate only; an existing
 * cluster's pools name their GPU type and count themselves). The source of truth for config
 * validation (a model must fit on its pool) and for the GPU-type node label of each pool.
 */
export interface GpuFamily {
  /** Value of the kit's GPU-type node label, e.g. `nvidia-l40s`. */
  readonly gpuType: string;
  /** GPU memory per device, GiB. */
  readonly gpuMemoryGiB: number;
  /** Most GPUs any size of this family has. */
  readonly maxGpusPerInstance: number;
}

export const GPU_FAMILIES: Readonly<Record<string, GpuFamily>> = {
  g5: { gpuType: "nvidia-a10g", gpuMemoryGiB: 24, maxGpusPerInstance: 8 },
  g6: { gpuType: "nvidia-l4", gpuMemoryGiB: 24, maxGpusPerInstance: 8 },
  gr6: { gpuType: "nvidia-l4", gpuMemoryGiB: 24, maxGpusPerInstance: 1 },
  g6e: { gpuType: "nvidia-l40s", gpuMemoryGiB: 48, maxGpusPerInstance: 8 },
  p4d: { gpuType: "nvidia-a100", gpuMemoryGiB: 40, maxGpusPerInstance: 8 },
  p4de: { gpuType: "nvidia-a100-80gb", gpuMemoryGiB: 80, maxGpusPerInstance: 8 },
  p5: { gpuType: "nvidia-h100", gpuMemoryGiB: 80, maxGpusPerInstance: 8 },
  p5e: { gpuType: "nvidia-h200", gpuMemoryGiB: 141, maxGpusPerInstance: 8 },
  p5en: { gpuType: "nvidia-h200", gpuMemoryGiB: 141, maxGpusPerInstance: 8 },
};

export function gpuFamily(name: string): GpuFamily | undefined {
  return Object.prototype.hasOwnProperty.call(GPU_FAMILIES, name) ? GPU_FAMILIES[name] : undefined;
}

/**
 * The distinct GPU types of instance families (unknown families ignored), in first-seen order.
 * A pool with more than one cannot carry one GPU-type label: the one predicate behind the config
 * rule and the Karpenter pool check.
 */
export function gpuTypesOf(families: readonly string[]): string[] {
  return [...new Set(families.flatMap((f) => gpuFamily(f)?.gpuType ?? []))];
}
