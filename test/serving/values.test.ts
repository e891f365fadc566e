/** The pure functions behind the serving components. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GPU_TAINT } from "../../components/lib/gpu-catalog";
import { IMAGES } from "../../components/lib/versions";
import {
  dcgmExporterValues,
  devicePluginValues,
  gpuNodeAffinity,
  gpuTolerations,
} from "../../components/platform/gpu";
import { kedaValues } from "../../components/platform/keda";
import {
  modelServerResources,
  modelServerValues,
  startupBudgetSeconds,
  type ModelSpec,
} from "../../components/platform/model-server";
import { autoscales, servingPlan } from "../../components/platform/serving";
import { modelServerPrefixes, workloadScopes } from "../../components/lib/scopes";
import type { GpuPlacement } from "../../components/substrate";

const placement = (pool: string, gpuType: string): GpuPlacement => ({
  gpuType,
  gpusPerNode: 8,
  nodeSelector: { "sovereign.ai/gpu-pool": pool, "sovereign.ai/gpu-type": gpuType },
  tolerations: [{ key: GPU_TAINT.key, operator: "Equal", value: GPU_TAINT.value, effect: GPU_TAINT.effect }],
  capacityType: "on-demand",
});

const model = (over: Partial<ModelSpec> = {}): ModelSpec => ({
  name: "llama",
  role: "chat",
  source: "llama/",
  pool: "gpu",
  quantization: "none",
  maxModelLen: 8192,
  gpuMemoryUtilization: 0.9,
  enablePrefixCaching: true,
  sizeGiB: 16,
  replicas: { min: 1, max: 3 },
  loraAdapters: [],
  ...over,
});

/** The rollout settings `stacks/config/settings.ts` resolves for each profile. */
const ROLLOUT = {
  prod: { strictSpread: true, cooldownSeconds: 600, drainSeconds: 120 },
  dev: { strictSpread: false, cooldownSeconds: 300 },
} as const;

const input = (m: ModelSpec, profile: "dev" | "prod" = "prod") => ({
  model: m,
  rollout: ROLLOUT[profile],
  placement: m.pool ? placement(m.pool, "nvidia-l40s") : undefined,
  bucket: "acme-models",
  objectStoreEndpoint: "",
  forcePathStyle: false,
  env: [{ name: "AWS_REGION", value: "eu-central-1" }],
  serviceAccountName: "model-llama",
});

describe("modelServerValues", () => {
  it("GIVEN sources with and without a trailing '/' WHEN mapped THEN every prefix the chart lists (weights, adapters) is within the identity's read scopes as IAM matches them (s3:prefix StringLike '<prefix>*')", () => {
    for (const [source, adapter] of [
      ["llama", "adapters/support-lora"],
      ["llama/", "adapters/support-lora/"],
    ]) {
      const m = model({ source, loraAdapters: [{ name: "support-lora", source: adapter }] });
      const v = modelServerValues(input(m));
      const scopes = workloadScopes("model-server", undefined, modelServerPrefixes(m));
      const listed = [v.weights.source, ...v.loraAdapters.map((a) => a.source)];
      for (const prefix of listed)
        expect(
          scopes.some((s) => s.access === "read" && prefix.startsWith(s.prefix)),
          `${prefix} (source ${JSON.stringify(source)}) within ${JSON.stringify(scopes.map((s) => s.prefix))}`,
        ).toBe(true);
    }
  });

  it("GIVEN a GPU model WHEN mapped THEN vLLM streams from the models bucket on the pool's GPUs", () => {
    const v = modelServerValues(input(model({ gpusPerReplica: 4, quantization: "fp8", sizeGiB: 140 })));
    expect(v.engine).toBe("vllm");
    expect(v.image).toBe(IMAGES.vllm);
    expect(v.weights).toMatchObject({ mode: "stream", bucket: "acme-models", source: "llama/" });
    expect(v.gpu).toEqual({ count: 4, resourceName: "nvidia.com/gpu" });
    expect(v.vllm).toMatchObject({ tensorParallelSize: 4, quantization: "fp8", maxLoras: 0 });
    expect(v.nodeSelector).toEqual({
      "sovereign.ai/gpu-pool": "gpu",
      "sovereign.ai/gpu-type": "nvidia-l40s",
    });
    expect(v.tolerations).toHaveLength(1);
    expect(v.shmSizeLimit).toBe("8Gi");
    expect(v.topologySpread.nodeWhenUnsatisfiable).toBe("DoNotSchedule");
    expect(v.autoscaling).toMatchObject({
      enabled: true,
      minReplicas: 1,
      maxReplicas: 3,
      kvCacheTarget: 0.85,
    });
    expect(v.env).toEqual([{ name: "AWS_REGION", value: "eu-central-1" }]);
  });

  it("GIVEN a model without a pool WHEN mapped THEN it is the CPU simulator without GPUs or weights", () => {
    const v = modelServerValues(input(model({ pool: undefined, replicas: { min: 1, max: 1 } }), "dev"));
    expect(v.engine).toBe("simulator");
    expect(v.image).toBe(IMAGES.vllmCpu);
    expect(v.gpu.count).toBe(0);
    expect(v.weights.mode).toBe("none");
    expect(v.nodeSelector).toEqual({});
    expect(v.autoscaling.enabled).toBe(false);
    expect(v.replicas).toBe(1);
    expect(v.resources.requests.cpu).toBe("50m");
  });

  it("GIVEN LoRA adapters without maxLoras WHEN mapped THEN every adapter may be resident", () => {
    const v = modelServerValues(
      input(
        model({
          loraAdapters: [
            { name: "a", source: "ad/a/" },
            { name: "b", source: "ad/b/" },
          ],
        }),
      ),
    );
    expect(v.vllm.maxLoras).toBe(2);
    expect(v.loraAdapters).toEqual([
      { name: "a", source: "ad/a/" },
      { name: "b", source: "ad/b/" },
    ]);
  });

  it("GIVEN a model image override and sync loading WHEN mapped THEN both win", () => {
    const v = modelServerValues({
      ...input(model({ image: "mirror.example/vllm:v0.30.0" })),
      weightLoading: "sync",
    });
    expect(v.image).toBe("mirror.example/vllm:v0.30.0");
    expect(v.weights.mode).toBe("sync");
  });

  it("GIVEN a GPU model whose pool has no placement WHEN mapped THEN it fails naming the pool", () => {
    expect(() => modelServerValues({ ...input(model({ pool: "ghost" })), placement: undefined })).toThrow(
      /model "llama": expected a GPU placement for pool "ghost"/,
    );
  });

  it("GIVEN scale-to-zero in dev WHEN mapped THEN autoscaling is on with min 0", () => {
    const v = modelServerValues(input(model({ replicas: { min: 0, max: 2 } }), "dev"));
    expect(v.autoscaling).toMatchObject({ enabled: true, minReplicas: 0 });
    expect(v.replicas).toBe(1);
  });
});

describe("sizing", () => {
  it("GIVEN bigger weights THEN the startup budget never shrinks and always covers 5 minutes plus loading", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 2000, noNaN: true }),
        fc.double({ min: 0, max: 50, noNaN: true }),
        (s, d) => {
          expect(startupBudgetSeconds(s + d, 1)).toBeGreaterThanOrEqual(startupBudgetSeconds(s, 1));
          expect(startupBudgetSeconds(s, 1)).toBeGreaterThanOrEqual(300 + s * 15);
        },
      ),
    );
  });

  it("GIVEN a GPU replica THEN memory covers its share of the weights plus /dev/shm", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 800 }), (gpus, size) => {
        const r = modelServerResources(gpus, size);
        const mem = Number(r.memory.replace("Gi", ""));
        const shm = Number(r.shm.replace("Gi", ""));
        expect(mem).toBeGreaterThanOrEqual(size + shm);
        expect(r.limit).toBe(r.memory);
        expect(Number(r.cpu)).toBe(3 * gpus);
      }),
    );
  });
});

describe("GPU enablement values", () => {
  const pools = { b: placement("b", "nvidia-h100"), a: placement("a", "nvidia-l4") };

  it("GIVEN two pools THEN the affinity ORs one term per pool and the tolerations are deduplicated", () => {
    const aff = gpuNodeAffinity(pools) as any;
    const terms = aff.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms.map((t: any) => t.matchExpressions[0].values[0])).toEqual(["a", "b"]);
    expect(gpuTolerations(pools)).toHaveLength(1);
    expect(devicePluginValues(pools).runtimeClassName).toBeUndefined();
    expect((dcgmExporterValues(pools, { release: "prom" }) as any).serviceMonitor.additionalLabels).toEqual({
      release: "prom",
    });
  });

  it("GIVEN pools without node selectors THEN it refuses to schedule node agents everywhere", () => {
    const bare = { ...placement("x", "t"), nodeSelector: {} };
    expect(() => gpuNodeAffinity({ x: bare })).toThrow(/expected a node selector/);
  });
});

describe("serving plan and KEDA", () => {
  it("GIVEN fixed-size models and no pools THEN neither GPU enablement nor KEDA is planned", () => {
    expect(servingPlan([{ name: "m", replicas: { min: 1, max: 1 } }], {})).toEqual({
      gpu: false,
      keda: false,
      models: ["m"],
    });
    expect(servingPlan([{ name: "m", replicas: { min: 0, max: 1 } }], { p: {} })).toMatchObject({
      gpu: true,
      keda: true,
    });
    expect(autoscales({ replicas: { min: 2, max: 2 } })).toBe(false);
  });

  it("GIVEN HA replicas THEN KEDA gets PDBs; with one replica none", () => {
    expect((kedaValues(2) as any).podDisruptionBudget.operator).toEqual({ minAvailable: 1 });
    expect((kedaValues(1) as any).podDisruptionBudget).toEqual({});
  });
});
