/** Serving rules: weights must fit the GPUs they are given, and LoRA adapters must be addressable. */
import { gpuFamily } from "../../../components/aws/gpu-families";
import { gpusOf } from "../../../components/platform/model-server";
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

/**
 * A model's weights must fit the GPU memory vLLM may use on one replica. Only pools whose GPU
 * memory the kit knows (AWS instance families) are checked. fp8 quantizes 16-bit weights on
 * load, so only half of `sizeGiB` is counted for it.
 */
export const weightsFitGpuMemory: Rule = ({ config }) => {
  const pools = new Map(config.gpuPools.map((p) => [p.name, p]));
  const out: ConfigIssue[] = [];
  config.models.forEach((m, index) => {
    const pool = m.pool === undefined ? undefined : pools.get(m.pool);
    if (!pool) return;
    const fams = (pool.instanceFamilies ?? []).map(gpuFamily);
    if (fams.length === 0 || fams.some((f) => f === undefined)) return;
    const memGiB = Math.min(...fams.map((f) => f!.gpuMemoryGiB));
    const gpus = gpusOf(m);
    const size = m.sizeGiB;
    const util = m.gpuMemoryUtilization;
    if (gpus < 1) return;
    const resident = m.quantization === "fp8" ? size / 2 : size;
    const usable = Math.floor(gpus * memGiB * util * 10) / 10;
    if (resident > usable) {
      out.push(
        issue(
          `models[${index}].sizeGiB`,
          `expected weights that fit ${gpus} x ${memGiB} GiB at gpuMemoryUtilization ${util} (${usable} GiB) on pool "${m.pool}"; found ${size} GiB${m.quantization === "fp8" ? " (fp8: half counted)" : ""}. Use more gpusPerReplica, a larger GPU pool or a quantized variant`,
        ),
      );
    }
  });
  return out;
};

/** Adapter names are served names: unique, and never the name of a model. */
export const loraAdaptersAddressable: Rule = ({ config }) => {
  const modelNames = new Set(config.models.map((m) => m.name));
  const seen = new Map<string, string>();
  const out: ConfigIssue[] = [];
  config.models.forEach((m, index) => {
    m.loraAdapters.forEach(({ name }, j) => {
      const at = `models[${index}].loraAdapters[${j}].name`;
      if (modelNames.has(name)) {
        out.push(issue(at, `expected an adapter name distinct from every model name, found "${name}"`));
      } else if (seen.has(name)) {
        out.push(
          issue(at, `expected a unique adapter name, found "${name}" again (first at ${seen.get(name)})`),
        );
      } else seen.set(name, at);
    });
    // The chart serves two versions (promoted and canary) of each enabled flywheel adapter trained
    // on a GPU model (modelServerValues) and refuses fewer than 2 LoRA slots with any of them.
    const flywheels =
      gpusOf(m) > 0
        ? config.teams.filter((t) => t.flywheel?.enabled && t.flywheel.baseModel === m.name).length
        : 0;
    const most = m.loraAdapters.length + 2 * flywheels;
    if (m.maxLoras !== undefined && most > 0 && m.maxLoras > most) {
      out.push(
        issue(
          `models[${index}].maxLoras`,
          flywheels > 0
            ? `expected at most the number of loraAdapters plus two per flywheel adapter trained on it (${most}), found ${m.maxLoras}`
            : `expected at most the number of loraAdapters (${m.loraAdapters.length}), found ${m.maxLoras}`,
        ),
      );
    }
    if (m.maxLoras !== undefined && flywheels > 0 && m.maxLoras < 2) {
      out.push(
        issue(
          `models[${index}].maxLoras`,
          `expected at least 2 on the base model of a flywheel adapter (its promoted version and a canary are served together), found ${m.maxLoras}`,
        ),
      );
    }
  });
  return out;
};

export const SERVING_RULES: Rule[] = [weightsFitGpuMemory, loraAdaptersAddressable];
