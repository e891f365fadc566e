/** Serving config errors: each bad model is rejected with one ConfigError naming the path and value. */
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig, validateConfig } from "../../stacks/config/validate";
import { helmTemplate, runServing } from "./helpers";

type Raw = Record<string, any>;
const shipped = (stack: string): Raw => structuredClone(rawFromStackFile(stackFile(stack)).raw);

function errorOf(raw: Raw): ConfigError {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, the config was accepted");
}

describe("serving config rules", () => {
  it("GIVEN more GPUs per replica than the pool's instance type has WHEN parsed THEN one error names the limit", () => {
    const raw = shipped("aws-prod");
    raw.models[0].gpusPerReplica = 16;
    raw.models[0].tensorParallelSize = 8;
    const err = errorOf(raw);
    expect(err.issues).toEqual([
      {
        path: "sovereign:models[0].gpusPerReplica",
        message: 'expected at most 8 (the GPUs per node of pool "serving-h100"), found 16',
      },
    ]);
  });

  it("GIVEN a tensor-parallel size that does not divide the GPUs WHEN parsed THEN one error", () => {
    const raw = shipped("aws-prod");
    raw.models[0].tensorParallelSize = 3;
    expect(errorOf(raw).issues).toEqual([
      {
        path: "sovereign:models[0].tensorParallelSize",
        message: "expected a divisor of gpusPerReplica (4), found 3",
      },
    ]);
  });

  it("GIVEN an unknown quantization WHEN parsed THEN one error quotes it", () => {
    const raw = shipped("aws-dev");
    raw.models[0].quantization = "int4";
    const err = errorOf(raw);
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0].path).toBe("sovereign:models[0].quantization");
    expect(err.issues[0].message).toContain('"int4"');
    expect(err.issues[0].message).toMatch(/fp8/);
  });

  it("GIVEN weights that cannot fit the replica's GPU memory WHEN parsed THEN the error says how much fits", () => {
    const raw = shipped("aws-dev");
    raw.models[0].sizeGiB = 140;
    raw.models[0].quantization = "none";
    expect(errorOf(raw).issues).toEqual([
      {
        path: "sovereign:models[0].sizeGiB",
        message:
          'expected weights that fit 1 x 24 GiB at gpuMemoryUtilization 0.9 (21.6 GiB) on pool "serving-l4"; found 140 GiB. Use more gpusPerReplica, a larger GPU pool or a quantized variant',
      },
    ]);
  });

  it("GIVEN fp8 WHEN weights are twice the memory THEN they still fit (fp8 halves 16-bit weights)", () => {
    const raw = shipped("aws-dev");
    raw.models[0].sizeGiB = 40;
    raw.models[0].quantization = "fp8";
    expect(validateConfig(raw).ok).toBe(true);
  });

  it("GIVEN a LoRA adapter named like a model or another adapter WHEN parsed THEN each is reported", () => {
    const raw = shipped("aws-prod");
    raw.models[1].loraAdapters[0].name = "bge-m3";
    raw.models[1].loraAdapters[1].name = "bge-m3";
    raw.teams[0].allowedModels = ["bge-m3"];
    raw.teams[1].allowedModels = ["bge-m3"];
    const paths = errorOf(raw).issues.map((i) => i.path);
    expect(paths).toEqual([
      "sovereign:models[1].loraAdapters[0].name",
      "sovereign:models[1].loraAdapters[1].name",
    ]);
  });

  it("GIVEN maxLoras above the number of adapters WHEN parsed THEN one error", () => {
    const raw = shipped("aws-prod");
    raw.models[1].maxLoras = 5;
    expect(errorOf(raw).issues).toEqual([
      {
        path: "sovereign:models[1].maxLoras",
        message: "expected at most the number of loraAdapters (2), found 5",
      },
    ]);
  });

  // aws-dev: models[0] has one configured adapter and is the base model of team research's flywheel.
  it.each([1, 2, 3, 4])(
    "GIVEN the base model of a flywheel adapter with maxLoras %i WHEN parsed THEN the config is accepted only where the chart renders it",
    async (maxLoras) => {
      const raw = shipped("aws-dev");
      raw.models[0].maxLoras = maxLoras;
      const result = validateConfig(raw);
      if (!result.ok) {
        expect(result.issues.map((i) => i.path)).toEqual(["sovereign:models[0].maxLoras"]);
        expect([1, 4]).toContain(maxLoras);
        return;
      }
      const run = await runServing(result.config, "aws-dev");
      const r = helmTemplate(run.values["llama-3-1-8b-instruct"], "sovereign-serving");
      expect(r.status, r.output).toBe(0);
      expect(r.output).toContain(`--max-loras=${maxLoras}`);
    },
  );

  it("GIVEN scale-to-zero in prod WHEN parsed THEN it is rejected (dev only)", () => {
    const raw = shipped("aws-prod");
    raw.models[3].replicas = { min: 0, max: 2 };
    expect(errorOf(raw).issues.map((i) => i.path)).toEqual(["sovereign:models[3].replicas.min"]);
  });
});
