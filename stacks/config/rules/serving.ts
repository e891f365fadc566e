/** Serving rules: weights must fit the GPUs they are given, and LoRA adapters must be addressable. */
import type { ConfigIssue } from "../errors";
import { gpuFamily } from "../../../components/lib/gpu-catalog";
import { entries, int, issue, str, strings, type Rule } from "./helpers";

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/**
 * A model's weights must fit the GPU memory vLLM may use on one replica. Only pools whose GPU
 * memory the kit knows (AWS instance families) are checked. fp8 quantizes 16-bit weights on
 * load, so only half of `sizeGiB` is counted for it.
 */
export const weightsFitGpuMemory: Rule = (raw) => {
  const pools = new Map(entries(raw, "gpuPools").map((e) => [str(e.value.name), e.value]));
  const out: ConfigIssue[] = [];
  for (const { index, value: m } of entries(raw, "models")) {
    const pool = pools.get(str(m.pool));
    if (!pool) continue;
    const fams = strings(pool.instanceFamilies).map(gpuFamily);
    if (fams.length === 0 || fams.some((f) => f === undefined)) continue;
    const memGiB = Math.min(...fams.map((f) => f!.gpuMemoryGiB));
    if (m.gpusPerReplica !== undefined && int(m.gpusPerReplica) === undefined) continue;
    const gpus = int(m.gpusPerReplica) ?? 1;
    const size = num(m.sizeGiB) ?? 16;
    const util = num(m.gpuMemoryUtilization) ?? 0.9;
    if (gpus < 1) continue;
    const resident = m.quantization === "fp8" ? size / 2 : size;
    const usable = Math.floor(gpus * memGiB * util * 10) / 10;
    if (resident > usable) {
      out.push(
        issue(
          `models[${index}].sizeGiB`,
          `expected weights that fit ${gpus} x ${memGiB} GiB at gpuMemoryUtilization ${util} (${usable} GiB) on pool "${String(m.pool)}"; found ${size} GiB${m.quantization === "fp8" ? " (fp8: half counted)" : ""}. Use more gpusPerReplica, a larger GPU pool or a quantized variant`,
        ),
      );
    }
  }
  return out;
};

/** Adapter names are served names: unique, and never the name of a model. */
export const loraAdaptersAddressable: Rule = (raw) => {
  const models = entries(raw, "models");
  const modelNames = new Set(models.map((e) => str(e.value.name)).filter((n) => n !== undefined));
  const seen = new Map<string, string>();
  const out: ConfigIssue[] = [];
  for (const { index, value: m } of models) {
    const adapters = Array.isArray(m.loraAdapters) ? m.loraAdapters : [];
    adapters.forEach((a, j) => {
      const name = str((a as Record<string, unknown> | null)?.name);
      if (name === undefined) return;
      const at = `models[${index}].loraAdapters[${j}].name`;
      if (modelNames.has(name)) {
        out.push(issue(at, `expected an adapter name distinct from every model name, found "${name}"`));
      } else if (seen.has(name)) {
        out.push(
          issue(at, `expected a unique adapter name, found "${name}" again (first at ${seen.get(name)})`),
        );
      } else seen.set(name, at);
    });
    const maxLoras = int(m.maxLoras);
    if (maxLoras !== undefined && adapters.length > 0 && maxLoras > adapters.length) {
      out.push(
        issue(
          `models[${index}].maxLoras`,
          `expected at most the number of loraAdapters (${adapters.length}), found ${maxLoras}`,
        ),
      );
    }
  }
  return out;
};

export const SERVING_RULES: Rule[] = [weightsFitGpuMemory, loraAdaptersAddressable];
