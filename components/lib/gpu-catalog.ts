/**
 * GPU scheduling names both substrates share: the kit's node labels, the taint every GPU node
 * carries and the extended resource. The AWS instance families behind them are in
 * `components/aws/gpu-families.ts`.
 */

/** Node label carrying the GPU type; taint every GPU node carries. */
export const GPU_TYPE_LABEL = "sovereign.ai/gpu-type";
export const GPU_POOL_LABEL = "sovereign.ai/gpu-pool";
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" } as const;
export const GPU_RESOURCE = "nvidia.com/gpu";
