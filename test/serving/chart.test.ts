/**
 * charts/model-server with the values each shipped stack produces: helm lint, helm template,
 * offline schema validation of every rendered object and the kit's invariants.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { modelServiceName, prometheusUrl } from "../../components/lib/endpoints";
import { GPU_RESOURCE, GPU_TAINT } from "../../components/lib/gpu-catalog";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import { IMAGES } from "../../components/lib/versions";
import { startupBudgetSeconds, type ModelServerValues } from "../../components/platform/model-server";
import { validateObject, type K8sObject } from "../helpers/k8s-schema";
import {
  containersOf,
  helmLint,
  helmTemplate,
  poolsFor,
  runServing,
  shippedConfig,
  type ServingRun,
} from "./helpers";

const STACKS = ["local", "aws-dev", "aws-prod"] as const;

/** ScaledObject (keda.sh/v1alpha1) fields per KEDA's reference; no offline schema exists. */
const SCALED_OBJECT_SPEC_KEYS = [
  "scaleTargetRef",
  "pollingInterval",
  "cooldownPeriod",
  "initialCooldownPeriod",
  "idleReplicaCount",
  "minReplicaCount",
  "maxReplicaCount",
  "fallback",
  "advanced",
  "triggers",
];
const TRIGGER_KEYS = ["type", "name", "metadata", "metricType", "authenticationRef", "useCachedMetrics"];
const PROMETHEUS_METADATA_KEYS = [
  "serverAddress",
  "query",
  "threshold",
  "activationThreshold",
  "namespace",
  "customHeaders",
  "ignoreNullValues",
  "queryParameters",
  "unsafeSsl",
  "timeout",
];
const runs: Record<string, ServingRun> = {};
const rendered: Record<string, Record<string, K8sObject[]>> = {};
/** The same values with the chart's own NetworkPolicy on, as the chart is used standalone. */
const standalone: Record<string, Record<string, K8sObject[]>> = {};

beforeAll(async () => {
  for (const stack of STACKS) {
    runs[stack] = await runServing(shippedConfig(stack), `serving-${stack}`);
    rendered[stack] = {};
    standalone[stack] = {};
    for (const [model, values] of Object.entries(runs[stack].values)) {
      const r = helmTemplate(values);
      expect(r.status, r.output).toBe(0);
      rendered[stack][model] = r.objects;
      const alone = helmTemplate({ ...values, networkPolicy: { ...values.networkPolicy, enabled: true } });
      expect(alone.status, alone.output).toBe(0);
      standalone[stack][model] = alone.objects;
    }
  }
}, 120_000);

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
const one = (objs: K8sObject[], kind: string) => {
  const found = byKind(objs, kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as any;
};

describe.each(STACKS)("model-server chart with the %s stack's values", (stack) => {
  it("GIVEN the stack's models WHEN the serving wiring runs THEN each model gets one model-server release", () => {
    const run = runs[stack];
    expect(Object.keys(run.values).sort()).toEqual(run.config.models.map((m) => m.name).sort());
  });

  it("WHEN helm lint runs with each model's values THEN it passes", () => {
    for (const [model, values] of Object.entries(runs[stack].values)) {
      const r = helmLint(values);
      expect(r.status, `${model}: ${r.output}`).toBe(0);
      expect(r.output).toContain("0 chart(s) failed");
    }
  });

  it("WHEN rendered THEN every object validates against the pinned Kubernetes and CRD schemas", async () => {
    for (const [model, objs] of [...Object.entries(rendered[stack]), ...Object.entries(standalone[stack])]) {
      expect(objs.length).toBeGreaterThanOrEqual(3);
      for (const o of objs) {
        const r = await validateObject(o);
        if (o.kind === "ScaledObject") expect(r.status).toBe("unvalidated");
        else expect(r, `${model} ${o.kind}`).toEqual({ status: "valid" });
      }
      // Model servers are scraped by the monitoring stack's own ServiceMonitor, not the chart's.
      expect(byKind(objs, "ServiceMonitor")).toHaveLength(0);
    }
  });

  it("THEN the Service is ClusterIP, named as the gateway expects, and scraped as SCRAPE_TARGETS says", () => {
    const target = SCRAPE_TARGETS["model-server"];
    for (const [model, objs] of Object.entries(rendered[stack])) {
      const svc = one(objs, "Service");
      expect(svc.metadata.name).toBe(modelServiceName(model));
      expect(svc.metadata.namespace).toBe(target.namespace);
      expect(svc.spec.type).toBe("ClusterIP");
      expect(svc.spec.ports).toEqual([
        { name: target.port, port: 8000, targetPort: target.port, protocol: "TCP" },
      ]);
      for (const [k, v] of Object.entries(target.selector)) expect(svc.metadata.labels[k]).toBe(v);
      expect(byKind(objs, "Ingress")).toHaveLength(0);
    }
  });

  it("THEN the kit's invariants hold: pinned images, requests everywhere, non-root, read-only root, no hostPath", () => {
    for (const [model, objs] of Object.entries(rendered[stack])) {
      const dep = one(objs, "Deployment");
      const pod = dep.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.hostNetwork ?? false).toBe(false);
      for (const v of pod.volumes) expect(v.hostPath, `${model} volume ${v.name}`).toBeUndefined();
      for (const c of containersOf(dep)) {
        expect(c.image).toMatch(/:[\w][\w.-]*$|@sha256:/);
        expect(c.image).not.toMatch(/:latest$/);
        expect(c.resources.requests.cpu, `${model}/${c.name}`).toBeTruthy();
        expect(c.resources.requests.memory, `${model}/${c.name}`).toBeTruthy();
        expect(c.resources.limits.memory, `${model}/${c.name}`).toBeTruthy();
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          privileged: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] },
        });
      }
      // Writable paths are emptyDirs; /dev/shm is memory-backed.
      const shm = pod.volumes.find((v: any) => v.name === "shm");
      expect(shm.emptyDir.medium).toBe("Memory");
      const server = pod.containers[0];
      expect(server.volumeMounts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: "shm", mountPath: "/dev/shm" }),
          expect.objectContaining({ name: "tmp", mountPath: "/tmp" }),
        ]),
      );
    }
  });

  it("THEN probes hit /health, the startup budget follows the model size, and shutdown drains", () => {
    for (const m of runs[stack].config.models) {
      const dep = one(rendered[stack][m.name], "Deployment");
      const c = dep.spec.template.spec.containers[0];
      for (const p of ["startupProbe", "readinessProbe", "livenessProbe"])
        expect(c[p].httpGet).toEqual({ path: "/health", port: "https", scheme: "HTTPS" });
      const budget = c.startupProbe.periodSeconds * c.startupProbe.failureThreshold;
      const gpus = m.gpusPerReplica ?? (m.pool ? 1 : 0);
      expect(budget).toBeGreaterThanOrEqual(startupBudgetSeconds(m.sizeGiB, gpus));
      expect(budget).toBeLessThan(startupBudgetSeconds(m.sizeGiB, gpus) + c.startupProbe.periodSeconds);
      const preStop = c.lifecycle.preStop.sleep.seconds;
      expect(preStop).toBeGreaterThan(0);
      expect(dep.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStop);
    }
  });

  it("THEN the namespace's policies (the kit's) admit exactly the model servers' pods on their container port", () => {
    const policies = runs[stack].recorder
      .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
      .map((r) => r.inputs)
      .filter((p) => p.metadata.namespace === "sovereign-serving");
    const ingress = policies.filter((p) => (p.spec.ingress ?? []).length > 0);
    expect(ingress.map((p) => p.metadata.name).sort()).toEqual(["allow-clients", "allow-metrics"]);
    for (const objs of Object.values(rendered[stack])) {
      // The chart's own policy admits whole namespaces: off, the namespace's policies take over.
      expect(byKind(objs, "NetworkPolicy")).toHaveLength(0);
      const dep = one(objs, "Deployment");
      const pod = dep.spec.template;
      const svc = one(objs, "Service");
      // The port the Service sends to, as a container port number.
      const served = pod.spec.containers
        .flatMap((c: any) => c.ports ?? [])
        .filter((p: any) =>
          svc.spec.ports.some((sp: any) => sp.targetPort === p.name || sp.targetPort === p.containerPort),
        )
        .map((p: any) => ({ protocol: p.protocol ?? "TCP", port: p.containerPort }));
      expect(served.length).toBeGreaterThan(0);
      for (const np of ingress) {
        for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels ?? {}))
          expect(pod.metadata.labels[k], `${np.metadata.name} selects ${k}`).toBe(v);
        for (const rule of np.spec.ingress) expect(rule.ports, np.metadata.name).toEqual(served);
      }
    }
  });

  it("THEN the PDB and the standalone chart's NetworkPolicy select the model's pods; only gateway, policy and monitoring get in", () => {
    for (const objs of Object.values(standalone[stack])) {
      const dep = one(objs, "Deployment");
      const podLabels = dep.spec.template.metadata.labels;
      const pdb = one(objs, "PodDisruptionBudget");
      for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(podLabels[k]).toBe(v);
      expect(pdb.spec.maxUnavailable).toBe(1);
      const np = one(objs, "NetworkPolicy");
      for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) expect(podLabels[k]).toBe(v);
      expect(np.spec.policyTypes).toEqual(["Ingress", "Egress"]);
      // Egress: DNS and the object store the substrate exposes (the double's "fake" namespace on
      // 8333), nothing else: a model server parses untrusted prompts.
      expect(np.spec.egress).toEqual([
        {
          to: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
              podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
            },
          ],
          ports: [
            { port: 53, protocol: "UDP" },
            { port: 53, protocol: "TCP" },
          ],
        },
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "fake" } } }],
          ports: [{ protocol: "TCP", port: 8333 }],
        },
      ]);
      expect(np.spec.ingress).toHaveLength(1);
      expect(np.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values.sort()).toEqual([
        "sovereign-gateway",
        "sovereign-monitoring",
      ]);
    }
  });

  it("THEN autoscaled models get a KEDA ScaledObject as KEDA's reference documents it, others none", () => {
    for (const m of runs[stack].config.models) {
      const objs = rendered[stack][m.name];
      const scaled = byKind(objs, "ScaledObject") as any[];
      const dep = one(objs, "Deployment");
      if (m.replicas.min === m.replicas.max && m.replicas.min > 0) {
        expect(scaled).toHaveLength(0);
        expect(dep.spec.replicas).toBe(m.replicas.min);
        continue;
      }
      expect(scaled).toHaveLength(1);
      const so = scaled[0];
      expect(so.apiVersion).toBe("keda.sh/v1alpha1");
      expect(so.metadata.namespace).toBe("sovereign-serving");
      // KEDA owns the replica count.
      expect(dep.spec.replicas).toBeUndefined();
      expect(so.spec.scaleTargetRef).toEqual({
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: dep.metadata.name,
      });
      expect(so.spec.minReplicaCount).toBe(m.replicas.min);
      expect(so.spec.maxReplicaCount).toBe(m.replicas.max);
      expect(Number.isInteger(so.spec.pollingInterval) && Number.isInteger(so.spec.cooldownPeriod)).toBe(
        true,
      );
      // Only fields KEDA's ScaledObject reference and its Prometheus scaler document.
      for (const k of Object.keys(so.spec)) expect(SCALED_OBJECT_SPEC_KEYS).toContain(k);
      for (const t of so.spec.triggers) {
        for (const k of Object.keys(t)) expect(TRIGGER_KEYS).toContain(k);
        for (const k of Object.keys(t.metadata)) expect(PROMETHEUS_METADATA_KEYS).toContain(k);
        expect(t.type).toBe("prometheus");
        expect(["AverageValue", "Value"]).toContain(t.metricType);
        expect(t.metadata.serverAddress).toBe(prometheusUrl());
        // KEDA trigger metadata values are strings.
        for (const v of Object.values(t.metadata)) expect(typeof v).toBe("string");
        expect(Number(t.metadata.threshold)).toBeGreaterThan(0);
      }
      const queue = so.spec.triggers.find((t: any) => t.name === "queue");
      expect(queue.metadata.query).toBe(
        `sum(vllm:num_requests_waiting{namespace="sovereign-serving",service="${modelServiceName(m.name)}"})`,
      );
      const wake = so.spec.triggers.find((t: any) => t.name === "wake");
      if (m.replicas.min === 0) {
        expect(runs[stack].config.profile).toBe("dev");
        expect(wake.metadata.query).toBe(
          `sum(rate(sovereign_gateway_requests_total{model="${m.name}"}[2m]))`,
        );
        expect(wake.metadata.activationThreshold).toBe("0");
      } else expect(wake).toBeUndefined();
    }
  });

  it("THEN the server runs the engine the model's placement calls for", () => {
    const run = runs[stack];
    const pools = poolsFor(run.config);
    for (const m of run.config.models) {
      const dep = one(rendered[stack][m.name], "Deployment");
      const pod = dep.spec.template.spec;
      const c = pod.containers[0];
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
      expect(env.HF_HUB_OFFLINE).toBe("1");
      expect(env.AWS_ENDPOINT_URL_S3).toBe("http://s3.fake.svc:8333");
      if (!m.pool) {
        expect(c.image).toBe(run.config.images.vllmCpu ?? IMAGES.vllmCpu);
        expect(c.resources.requests[GPU_RESOURCE]).toBeUndefined();
        expect(c.resources.limits[GPU_RESOURCE]).toBeUndefined();
        expect(c.args).toContain(`--served-model-name=${m.name}`);
        expect(pod.nodeSelector).toBeUndefined();
        continue;
      }
      const gpus = m.gpusPerReplica ?? 1;
      expect(c.image).toBe(m.image ?? run.config.images.vllm ?? IMAGES.vllm);
      expect(c.command).toEqual(["vllm", "serve"]);
      expect(c.resources.requests[GPU_RESOURCE]).toBe(String(gpus));
      expect(c.resources.limits[GPU_RESOURCE]).toBe(String(gpus));
      expect(pod.nodeSelector["sovereign.ai/gpu-type"]).toBe(pools[m.pool].gpuType);
      expect(pod.tolerations).toContainEqual(
        expect.objectContaining({ key: GPU_TAINT.key, effect: GPU_TAINT.effect }),
      );
      expect(c.args[0]).toBe(`s3://fake-models/${m.source}`);
      expect(c.args).toContain("--load-format=runai_streamer");
      expect(c.args).toContain(`--served-model-name=${m.name}`);
      expect(c.args).toContain(`--tensor-parallel-size=${m.tensorParallelSize ?? gpus}`);
      expect(c.args).toContain(`--max-model-len=${m.maxModelLen}`);
      expect(c.args).toContain(`--gpu-memory-utilization=${m.gpuMemoryUtilization}`);
      if (m.quantization === "none")
        expect(c.args.some((a: string) => a.startsWith("--quantization"))).toBe(false);
      else expect(c.args).toContain(`--quantization=${m.quantization}`);
      expect(c.args).toContain(
        m.enablePrefixCaching ? "--enable-prefix-caching" : "--no-enable-prefix-caching",
      );
      if (m.loraAdapters.length > 0) {
        expect(c.args).toContain("--enable-lora");
        // two per flywheel adapter of this base model (its promoted version and a canary)
        const flywheel = run.config.teams.filter(
          (t) => t.flywheel?.enabled && t.flywheel.baseModel === m.name,
        ).length;
        expect(c.args).toContain(`--max-loras=${m.maxLoras ?? m.loraAdapters.length + 2 * flywheel}`);
        const i = c.args.indexOf("--lora-modules");
        expect(c.args.slice(i + 1, i + 1 + m.loraAdapters.length)).toEqual(
          m.loraAdapters.map((a) => `${a.name}=/adapters/${a.name}`),
        );
        const fetch = pod.initContainers.find((x: any) => x.name === "fetch");
        const plan = JSON.parse(fetch.env.find((e: any) => e.name === "FETCH_PLAN").value);
        expect(plan).toEqual(
          m.loraAdapters.map((a) => ({
            bucket: "fake-models",
            prefix: a.source,
            dest: `/adapters/${a.name}`,
          })),
        );
      } else {
        expect(c.args).not.toContain("--enable-lora");
        expect(pod.initContainers).toBeUndefined();
      }
      const spread = pod.topologySpreadConstraints.map((t: any) => t.topologyKey);
      expect(spread).toEqual(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    }
  });
});

describe("the local stack fits a laptop", () => {
  it("GIVEN the local stack WHEN rendered THEN model servers use the CPU simulator with tiny requests", () => {
    let cpuMilli = 0;
    let memMi = 0;
    for (const objs of Object.values(rendered.local)) {
      for (const c of containersOf(one(objs, "Deployment"))) {
        const cpu = String(c.resources.requests.cpu);
        cpuMilli += cpu.endsWith("m") ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
        const mem = String(c.resources.limits.memory);
        expect(mem).toMatch(/Mi$/);
        memMi += Number(mem.slice(0, -2));
      }
    }
    // Two models within a tenth of the 4 CPU / 8 GiB the whole local platform must fit in.
    expect(cpuMilli).toBeLessThanOrEqual(400);
    expect(memMi).toBeLessThanOrEqual(800);
  });
});

describe("bad chart values fail with a clear schema error", () => {
  const good = (): ModelServerValues => structuredClone(runs["aws-dev"].values["llama-3-1-8b-instruct"]);
  const cases: [string, (v: any) => void, RegExp][] = [
    ["an unknown quantization", (v) => (v.vllm.quantization = "int3"), /\/vllm\/quantization/],
    ["a `latest` image", (v) => (v.image = "docker.io/vllm/vllm-openai:latest"), /\/image/],
    ["an image without a tag", (v) => (v.image = "docker.io/vllm/vllm-openai"), /\/image/],
    ["a typo in a key", (v) => (v.vllm.maxModelLength = 4096), /maxModelLength/],
    ["a vLLM model without a bucket", (v) => (v.weights.bucket = ""), /\/weights\/bucket/],
    ["a vLLM model without GPUs", (v) => (v.gpu.count = 0), /\/gpu\/count/],
    ["a LoRA rank vLLM does not accept", (v) => (v.vllm.maxLoraRank = 24), /\/vllm\/maxLoraRank/],
    [
      "a flywheel adapter prefix outside the bucket's keys",
      (v) => (v.flywheel.adapters[0].prefix = "/teams/x/"),
      /\/flywheel\/adapters\/0\/prefix/,
    ],
    [
      "a GPU memory utilization above 0.98",
      (v) => (v.vllm.gpuMemoryUtilization = 1.2),
      /gpuMemoryUtilization/,
    ],
    ["a LoadBalancer-ish extra key", (v) => (v.service = { type: "LoadBalancer" }), /service/],
  ];
  it.each(cases)(
    "GIVEN %s WHEN linted and templated THEN both fail naming the value",
    (_name, mutate, where) => {
      const v = good();
      mutate(v);
      const lint = helmLint(v);
      expect(lint.status).not.toBe(0);
      expect(lint.output).toMatch(/values don't meet the specifications of the schema/);
      expect(lint.output).toMatch(where);
      const tpl = helmTemplate(v);
      expect(tpl.status).not.toBe(0);
      expect(tpl.output).toMatch(where);
    },
  );

  it("GIVEN a tensor-parallel size that does not divide the GPUs WHEN templated THEN it fails with the expectation", () => {
    const v = good();
    v.gpu.count = 4;
    v.vllm.tensorParallelSize = 3;
    const tpl = helmTemplate(v);
    expect(tpl.status).not.toBe(0);
    expect(tpl.output).toContain("vllm.tensorParallelSize: expected a divisor of gpu.count (4), found 3");
  });

  it("GIVEN flywheel adapters and --max-loras below 2 WHEN templated THEN it fails: a promoted version and a canary are served together", () => {
    const v = good();
    expect(v.flywheel.adapters.length).toBeGreaterThan(0); // aws-dev's research-assistant
    v.vllm.maxLoras = 1;
    const tpl = helmTemplate(v);
    expect(tpl.status).not.toBe(0);
    expect(tpl.output).toContain("vllm.maxLoras: expected at least 2 with flywheel adapters");
  });

  it("GIVEN the chart's own defaults WHEN linted THEN they pass (a CPU simulator)", () => {
    const r = helmLint({});
    expect(r.status, r.output).toBe(0);
  });
});

describe("object-store addressing", () => {
  const env = (v: ModelServerValues) => {
    const dep = one(helmTemplate(v).objects, "Deployment");
    return Object.fromEntries(dep.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
  };

  it("GIVEN an in-cluster store (path style) WHEN rendered THEN the streamer and boto3 are pointed at it", () => {
    const v = structuredClone(runs["aws-dev"].values["llama-3-1-8b-instruct"]);
    expect(v.weights.forcePathStyle).toBe(true);
    const e = env(v);
    expect(e.AWS_ENDPOINT_URL).toBe("http://s3.fake.svc:8333");
    expect(e.S3_ENDPOINT).toBe("http://s3.fake.svc:8333");
    expect(e.RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING).toBe("0");
  });

  it("GIVEN AWS S3 (virtual-hosted) WHEN rendered THEN no global endpoint override redirects STS", () => {
    const v = structuredClone(runs["aws-dev"].values["llama-3-1-8b-instruct"]);
    v.weights.forcePathStyle = false;
    v.weights.endpoint = "https://s3.eu-central-1.amazonaws.com";
    const e = env(v);
    expect(e.AWS_ENDPOINT_URL).toBeUndefined();
    expect(e.RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING).toBeUndefined();
    expect(e.S3_ENDPOINT).toBe("https://s3.eu-central-1.amazonaws.com");
  });

  it("GIVEN sync loading WHEN rendered THEN an init container fetches the weights into a sized emptyDir", () => {
    const v = structuredClone(runs["aws-prod"].values["llama-3-3-70b-instruct"]);
    v.weights.mode = "sync";
    const dep = one(helmTemplate(v).objects, "Deployment");
    const pod = dep.spec.template.spec;
    const plan = JSON.parse(pod.initContainers[0].env.find((e: any) => e.name === "FETCH_PLAN").value);
    expect(plan).toEqual([{ bucket: "fake-models", prefix: "llama-3.3-70b-instruct/", dest: "/models" }]);
    expect(pod.containers[0].args[0]).toBe("/models");
    expect(pod.containers[0].args).not.toContain("--load-format=runai_streamer");
    expect(pod.volumes.find((x: any) => x.name === "models").emptyDir.sizeLimit).toBe("154Gi");
  });
});

describe("model-server chart used standalone (Argo CD, Flux)", () => {
  it("GIVEN serviceMonitor.enabled WHEN rendered THEN its ServiceMonitor validates and selects the model Service", async () => {
    const [model, values] = Object.entries(runs.local.values)[0];
    const r = helmTemplate({
      ...(values as object),
      serviceMonitor: { enabled: true, interval: "15s", labels: {} },
    });
    expect(r.status, r.output).toBe(0);
    const sm = one(r.objects, "ServiceMonitor");
    expect(await validateObject(sm)).toEqual({ status: "valid" });
    const target = SCRAPE_TARGETS["model-server"];
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: target.port, path: target.path })]);
    const svc = one(r.objects, "Service");
    expect(svc.metadata.name).toBe(modelServiceName(model));
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
  });
});

describe("model-server chart with a private object-store CA (the existing-cluster substrate's values)", () => {
  it("WHEN objectStoreCa names a Secret THEN every container pointed at AWS_CA_BUNDLE mounts that file from it; without one, no volume", () => {
    const [model, base] = Object.entries(runs.local.values)[0] as [string, any];
    const file = "/etc/sovereign/object-store-ca/ca.crt";
    const values = {
      ...base,
      env: [...base.env, { name: "AWS_CA_BUNDLE", value: file }],
      objectStoreCa: { secretName: "model-x-object-store-tls", key: "ca.crt" },
    };
    const r = helmTemplate(values);
    expect(r.status, r.output).toBe(0);
    const d = one(r.objects, "Deployment");
    const spec = d.spec.template.spec;
    const vol = spec.volumes.find((v: any) => v.name === "object-store-ca");
    expect(vol?.secret, model).toEqual({
      secretName: "model-x-object-store-tls",
      items: [{ key: "ca.crt", path: "ca.crt" }],
    });
    const pointed = containersOf(d).filter((c) => (c.env ?? []).some((e: any) => e.name === "AWS_CA_BUNDLE"));
    expect(pointed.map((c) => c.name)).toEqual(containersOf(d).map((c) => c.name));
    for (const c of pointed) {
      const m = c.volumeMounts.find((x: any) => file.startsWith(`${x.mountPath}/`));
      expect(m?.name, `${c.name}: a volume above ${file}`).toBe("object-store-ca");
      expect(file.slice(m.mountPath.length + 1)).toBe(vol.secret.items[0].path);
    }
    // The shipped values (a substrate with public CAs here) mount nothing.
    const plain = one(rendered.local[model], "Deployment");
    expect((plain.spec.template.spec.volumes ?? []).map((v: any) => v.name)).not.toContain("object-store-ca");
  });
});
