/** The serving components under mocks: what they register, with which inputs. */
import { describe, expect, it } from "vitest";
import { GPU_POOL_LABEL, GPU_TAINT, GPU_TYPE_LABEL } from "../../components/lib/gpu-catalog";
import { CHARTS } from "../../components/lib/versions";
import { MODEL_SERVER_CHART } from "../../stacks/wiring/serving";
import { Serving } from "../../components/platform/serving";
import { servingArgs } from "../../stacks/wiring/serving";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { validateRecorded } from "../helpers/k8s-schema";
import { installMocks, settle } from "../helpers/mocks";
import { RELEASE_TYPE, runServing, shippedConfig } from "./helpers";

const releases = (run: Awaited<ReturnType<typeof runServing>>) => run.recorder.ofType(RELEASE_TYPE);
const chartRelease = (run: Awaited<ReturnType<typeof runServing>>, chart: string) =>
  releases(run).filter((r) => r.inputs.chart === chart);

describe("Serving on a substrate without GPU pools (local)", () => {
  it("GIVEN the local stack WHEN wired THEN no GPU enablement and no KEDA are created, one release per model", async () => {
    const run = await runServing(shippedConfig("local"), "components-local");
    expect(run.recorder.ofType("sovereign:platform:GpuEnablement")).toHaveLength(0);
    expect(run.recorder.ofType("sovereign:platform:Keda")).toHaveLength(0);
    expect(chartRelease(run, CHARTS.nvidiaDevicePlugin.chart)).toHaveLength(0);
    const ms = chartRelease(run, MODEL_SERVER_CHART);
    expect(ms.map((r) => r.name).sort()).toEqual([
      "serving-model-tiny-chat-release",
      "serving-model-tiny-guard-release",
    ]);
    expect(ms.map((r) => r.inputs.name).sort()).toEqual(["model-tiny-chat", "model-tiny-guard"]);
    expect(run.outputs.modelUrls).toEqual({
      "tiny-chat": "https://model-tiny-chat.sovereign-serving.svc.cluster.local:8000",
      "tiny-guard": "https://model-tiny-guard.sovereign-serving.svc.cluster.local:8000",
    });
  });
});

describe("Serving on a substrate with GPU pools (aws-prod)", () => {
  it("GIVEN GPU pools WHEN wired THEN the pinned device plugin and DCGM exporter run only on GPU nodes", async () => {
    const run = await runServing(shippedConfig("aws-prod"), "components-prod");
    expect(run.recorder.ofType("sovereign:platform:GpuEnablement")).toHaveLength(1);
    for (const key of ["nvidiaDevicePlugin", "dcgmExporter"] as const) {
      const [r] = chartRelease(run, CHARTS[key].chart);
      expect(r.inputs.version).toBe(CHARTS[key].version);
      expect(r.inputs.repositoryOpts).toEqual({ repo: CHARTS[key].repo });
      expect(r.inputs.namespace).toBe("sovereign-gpu");
      const terms =
        r.inputs.values.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
          .nodeSelectorTerms;
      // One term per pool (serving and training pools alike), each pinned to the pool's labels.
      expect(terms).toHaveLength(3);
      expect(terms).toContainEqual({
        matchExpressions: [
          { key: GPU_POOL_LABEL, operator: "In", values: ["serving-h100"] },
          { key: GPU_TYPE_LABEL, operator: "In", values: ["nvidia-h100"] },
        ],
      });
      expect(r.inputs.values.tolerations).toEqual([
        { key: GPU_TAINT.key, operator: "Equal", value: GPU_TAINT.value, effect: GPU_TAINT.effect },
      ]);
    }
    const [dcgm] = chartRelease(run, CHARTS.dcgmExporter.chart);
    expect(dcgm.inputs.values.serviceMonitor.enabled).toBe(true);
    expect(run.recorder.ofType("kubernetes:node.k8s.io/v1:RuntimeClass")).toHaveLength(0);
  });

  it("GIVEN an autoscaled model WHEN wired THEN KEDA is installed, pinned, and model servers wait for it", async () => {
    const run = await runServing(shippedConfig("aws-prod"), "components-prod-keda");
    const [keda] = chartRelease(run, CHARTS.keda.chart);
    expect(keda.inputs.version).toBe(CHARTS.keda.version);
    expect(keda.inputs.namespace).toBe("keda");
    expect(keda.inputs.values.operator.replicaCount).toBe(2);
    // A dependency on a component is a dependency on its resources (the KEDA release and its CRDs).
    for (const ms of run.recorder.ofType("sovereign:platform:ModelServer")) {
      expect(ms.dependsOn).toContain(keda.urn);
    }
  });

  it("THEN each model server gets its own ServiceAccount from the substrate in sovereign-serving", async () => {
    const run = await runServing(shippedConfig("aws-prod"), "components-prod-sa");
    const sas = run.recorder.ofType("kubernetes:core/v1:ServiceAccount");
    expect(sas.map((s) => s.inputs.metadata.name).sort()).toEqual(
      run.config.models.map((m) => `model-${m.name}`).sort(),
    );
    for (const s of sas) expect(s.inputs.metadata.namespace).toBe("sovereign-serving");
    for (const m of run.config.models) {
      expect(run.values[m.name].serviceAccountName).toBe(`model-${m.name}`);
      // The release waits for the identity (role, association, secret).
      const rel = run.recorder.named(`serving-model-${m.name}-release`);
      const sa = run.recorder.named(`serving-model-${m.name}-identity`);
      expect(rel.dependsOn).toContain(sa.urn);
    }
  });

  it("THEN the serving namespace enforces the restricted Pod Security standard and every direct object validates", async () => {
    const run = await runServing(shippedConfig("aws-prod"), "components-prod-ns");
    const ns = run.recorder.named("serving-namespace");
    expect(ns.inputs.metadata.name).toBe("sovereign-serving");
    expect(ns.inputs.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const gpuNs = run.recorder.named("serving-gpu-namespace");
    expect(gpuNs.inputs.metadata.name).toBe("sovereign-gpu");
    const v = await validateRecorded(run.recorder);
    expect(v.invalid).toEqual([]);
    expect(v.validated).toBeGreaterThanOrEqual(4);
    // each model server's serving Certificate (cert-manager's CRD; the e2e checks it against the CRDs)
    expect(v.unvalidatedKinds).toEqual(["cert-manager.io/v1 Certificate"]);
  });

  it("THEN every child is named after its parent and parented", async () => {
    const run = await runServing(shippedConfig("aws-prod"), "components-prod-names");
    for (const r of run.recorder.resources) {
      if (r.type.startsWith("pulumi:providers:") || r.name === "serving") continue;
      const parent = r.parent ? run.recorder.byUrn(r.parent) : undefined;
      expect(parent, `${r.type} ${r.name}`).toBeDefined();
      expect(r.name.startsWith(`${parent!.name}-`), `${r.name} under ${parent!.name}`).toBe(true);
    }
  });
});

describe("GpuEnablement options", () => {
  it("GIVEN runtimeClass WHEN created THEN a nvidia RuntimeClass exists and the device plugin uses it", async () => {
    const recorder = installMocks({ stack: "gpu-runtime" });
    const { GpuEnablement } = await import("../../components/platform/gpu");
    const substrate = fakeSubstrate({ gpuPools: { a: { gpuType: "nvidia-l4", gpusPerNode: 1 } } });
    new GpuEnablement("gpu", {
      pools: substrate.gpuPools,
      apiServer: substrate.apiServer,
      runtimeClass: true,
    });
    await settle();
    const rc = recorder.one("kubernetes:node.k8s.io/v1:RuntimeClass");
    expect(rc.inputs.handler).toBe("nvidia");
    const dp = recorder.named("gpu-device-plugin");
    expect(dp.inputs.values.runtimeClassName).toBe("nvidia");
    expect((await validateRecorded(recorder)).invalid).toEqual([]);
  });
});

describe("servingArgs", () => {
  it("GIVEN image overrides in the config WHEN mapped THEN they reach the model servers", async () => {
    const config = shippedConfig("aws-dev");
    config.images = { vllm: "registry.example/vllm/vllm-openai:v0.30.0" };
    installMocks({ stack: "args" });
    const substrate = fakeSubstrate({
      gpuPools: {
        "serving-l4": { gpuType: "nvidia-l4", gpusPerNode: 8 },
        "training-l40s": { gpuType: "nvidia-l40s", gpusPerNode: 8 },
      },
    });
    const args = servingArgs(config, substrate);
    expect(args.images?.vllm).toBe("registry.example/vllm/vllm-openai:v0.30.0");
    expect(args.rollout).toEqual({ strictSpread: false, cooldownSeconds: 300 });
    expect(args.kedaReplicas).toBe(1);
    const run = await runServing(config, "args-run");
    for (const v of Object.values(run.values))
      expect(v.image).toBe("registry.example/vllm/vllm-openai:v0.30.0");
    expect(Serving).toBeDefined();
  });
});
