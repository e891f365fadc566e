/**
 * The seam between the quantize job and the model server: which `--quantization` flag vLLM
 * accepts for a checkpoint, and which value the stack config must carry for a checkpoint the
 * kit's quantize job wrote.
 *
 * `vllmQuantizationError` is our reading of vLLM's `ModelConfig._verify_quantization` (pinned
 * vLLM, components/lib/versions.ts): the checkpoint's `quantization_config.quant_method`
 * (config.json) decides; a `--quantization` flag naming another method is refused at start-up
 * ("Quantization method specified in the model config (X) does not match the quantization
 * method specified in the `quantization` argument (Y)"), except the documented kernel overrides
 * (an `awq` checkpoint may run as `awq_marlin`, a `gptq` one as `gptq_marlin`/`marlin`). A
 * checkpoint without a quantization config takes `fp8` (online dynamic quantization) but no
 * pre-quantized method. The test that uses it runs the real quantize job and the real chart.
 */
import type { Quantization } from "../platform/model-server";

/** What the kit's quantize job (llm-compressor) writes, whatever the scheme. */
export const QUANTIZE_JOB_QUANT_METHOD = "compressed-tensors";

/** The `models[].quantization` value that serves a checkpoint of the kit's quantize job. */
export function servingQuantizationForJob(scheme: "fp8" | "awq"): Quantization {
  void scheme; // both schemes are written as compressed-tensors checkpoints
  return QUANTIZE_JOB_QUANT_METHOD;
}

const OVERRIDES: Readonly<Record<string, readonly string[]>> = {
  awq: ["awq", "awq_marlin"],
  gptq: ["gptq", "gptq_marlin", "marlin"],
};

/** Methods that need a pre-quantized checkpoint (they cannot quantize online). */
const NEEDS_CHECKPOINT = new Set([
  "awq",
  "gptq",
  "compressed-tensors",
  "awq_marlin",
  "gptq_marlin",
  "marlin",
]);

/**
 * The start-up error vLLM raises for a `--quantization` flag (undefined: no flag) on a
 * checkpoint whose config.json has `quantization_config` (undefined: none); undefined when
 * it starts.
 */
export function vllmQuantizationError(
  flag: string | undefined,
  quantizationConfig: { quant_method?: unknown } | undefined,
): string | undefined {
  const method =
    typeof quantizationConfig?.quant_method === "string"
      ? quantizationConfig.quant_method.toLowerCase()
      : undefined;
  if (flag === undefined) return undefined;
  const f = flag.toLowerCase();
  if (method === undefined) {
    return NEEDS_CHECKPOINT.has(f)
      ? `Quantization method ${f} needs a pre-quantized checkpoint, found a config.json without quantization_config`
      : undefined;
  }
  if (f === method || (OVERRIDES[method] ?? []).includes(f)) return undefined;
  return `Quantization method specified in the model config (${method}) does not match the quantization method specified in the \`quantization\` argument (${f}).`;
}

/** The `--quantization=` value among rendered container args (undefined when absent). */
export function quantizationFlag(args: readonly string[]): string | undefined {
  const a = args.find((x) => x.startsWith("--quantization="));
  return a?.slice("--quantization=".length);
}
