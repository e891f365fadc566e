/**
 * The quantize job and the model server must agree: the REAL quantize job (llm-compressor on a
 * tiny random Llama, real torch, trainer/tests/quantize_tiny.py) writes a checkpoint, and the
 * REAL chart (pinned Helm) renders the vLLM args for a model configured with each quantization
 * value; vLLM's start-up check (components/flywheel/quantization.ts) must accept exactly the
 * values that match the checkpoint. This is the seam where `--quantization=awq` broke
 * llm-compressor's `compressed-tensors` output.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  QUANTIZE_JOB_QUANT_METHOD,
  quantizationFlag,
  servingQuantizationForJob,
  vllmQuantizationError,
} from "../../components/flywheel/quantization";
import { modelServerValues, type ModelSpec } from "../../components/platform/model-server";
import { modelSchema } from "../../stacks/config/schema";
import { helmTemplate } from "../serving/helpers";

const ROOT = path.resolve(__dirname, "../..");
const checkpoints: Record<"fp8" | "awq", { quant_method?: string; format?: string }> = {} as never;

beforeAll(() => {
  const setup = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (setup.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${setup.stderr}`);
  const py = path.join(setup.stdout.trim().split("\n").pop()!, "bin/python");
  for (const scheme of ["fp8", "awq"] as const) {
    const r = spawnSync(py, [path.join(ROOT, "trainer/tests/quantize_tiny.py"), scheme], {
      cwd: path.join(ROOT, "trainer"),
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`quantize ${scheme} failed (${r.status}):\n${r.stderr.slice(-4000)}`);
    checkpoints[scheme] = JSON.parse(r.stdout).quantization_config;
  }
}, 3_600_000);

const QUANTIZATIONS = modelSchema.shape.quantization.unwrap().options;

function renderedArgs(quantization: ModelSpec["quantization"]): string[] {
  const model = modelSchema.parse({
    name: "tiny-chat",
    role: "chat",
    source: "teams/research/tiny-q/",
    pool: "gpu",
    quantization,
  }) as ModelSpec;
  const values = modelServerValues({
    model,
    profile: "prod",
    placement: {
      gpuType: "nvidia-l40s",
      gpusPerNode: 4,
      nodeSelector: { "sovereign.ai/gpu-pool": "gpu" },
      tolerations: [],
      capacityType: "on-demand",
    },
    bucket: "acme-models",
    objectStoreEndpoint: "https://s3.eu-central-1.amazonaws.com",
    forcePathStyle: false,
    env: [],
    serviceAccountName: "model-tiny-chat",
  });
  const r = helmTemplate(values);
  expect(r.status, r.output).toBe(0);
  const dep = r.objects.find((o) => o.kind === "Deployment")!;
  const server = (dep.spec as any).template.spec.containers.find((c: any) => c.name === "server");
  return server.args as string[];
}

describe("quantize job -> model server flags (the seam)", () => {
  for (const scheme of ["fp8", "awq"] as const) {
    it(`GIVEN the ${scheme} checkpoint the quantize job wrote WHEN each configured quantization is rendered THEN vLLM accepts exactly the matching ones`, () => {
      const qc = checkpoints[scheme];
      expect(qc.quant_method).toBe(QUANTIZE_JOB_QUANT_METHOD);
      const verdict: Record<string, string | undefined> = {};
      for (const q of QUANTIZATIONS)
        verdict[q] = vllmQuantizationError(quantizationFlag(renderedArgs(q)), qc);
      const accepted = QUANTIZATIONS.filter((q) => verdict[q] === undefined);
      expect(accepted.sort()).toEqual(["compressed-tensors", "none"]);
      // what the flywheel configures for its quantized variant is among them, rendered explicitly
      const q = servingQuantizationForJob(scheme);
      expect(quantizationFlag(renderedArgs(q))).toBe("compressed-tensors");
      expect(verdict[q]).toBeUndefined();
      // the bug this fixes: the old `awq` value for an AWQ run is refused at start-up
      expect(verdict.awq).toBe(
        "Quantization method specified in the model config (compressed-tensors) does not match the quantization method specified in the `quantization` argument (awq).",
      );
    });
  }

  it("GIVEN an unquantized checkpoint WHEN fp8 or a pre-quantized method is rendered THEN only online fp8 is accepted", () => {
    expect(vllmQuantizationError(quantizationFlag(renderedArgs("fp8")), undefined)).toBeUndefined();
    expect(vllmQuantizationError(quantizationFlag(renderedArgs("none")), undefined)).toBeUndefined();
    expect(vllmQuantizationError(quantizationFlag(renderedArgs("awq")), undefined)).toMatch(/pre-quantized/);
  });
});
