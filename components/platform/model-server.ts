/**
 * One vLLM model server: the kit's own `charts/model-server` Helm chart, deployed with typed
 * values that `modelServerValues` computes from the model's config, its GPU placement and the
 * substrate's object store. The constructor only resolves outputs and registers two children.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { modelServiceName, prometheusUrl } from "../lib/endpoints";
import { GPU_RESOURCE } from "../lib/gpu-catalog";
import { mirrorImage, type RegistryMirrors } from "../lib/images";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { flywheelAdapterPrefix, folderOf, modelServerPrefixes } from "../lib/scopes";
import { IMAGES } from "../lib/versions";
import { modelServerCertificate, modelServerHost, modelTlsSecretName } from "../lib/model-tls";
import {
  generateModelApiKey,
  MODEL_API_KEY_FIELD,
  modelApiKeySecret,
  modelApiKeySecretName,
} from "./model-keys";
import type { EgressRule, GpuPlacement, Substrate } from "../substrate";

/** vLLM metrics the autoscaler reads (exported by vLLM and the simulator alike). */
export const VLLM_SCALING_METRICS = {
  queue: "vllm:num_requests_waiting",
  kvCache: "vllm:kv_cache_usage_perc",
} as const;

export type Quantization = "none" | "fp8" | "awq" | "gptq" | "compressed-tensors";
export type WeightLoading = "stream" | "sync";
/** How model servers roll out, scale in and spread (stack settings, `stacks/config/settings.ts`). */
export interface Rollout {
  /** Spread replicas strictly across zones (`DoNotSchedule`, else `ScheduleAnyway`). */
  readonly strictSpread: boolean;
  /** KEDA cooldown before scaling in, seconds. */
  readonly cooldownSeconds: number;
  /** Seconds a stopping replica drains open requests. @default 60 on GPUs, 5 on CPU */
  readonly drainSeconds?: number;
}

/** The parts of a configured model a model server needs (the validated config fits it). */
export interface ModelSpec {
  readonly name: string;
  readonly role: "chat" | "embedding" | "guard";
  /** Key prefix of the weights in the models bucket. */
  readonly source: string;
  /** GPU pool name; absent for a CPU model (simulator). */
  readonly pool?: string;
  /** @default 1 with a pool, 0 without */
  readonly gpusPerReplica?: number;
  /** @default gpusPerReplica (or 1 on CPU) */
  readonly tensorParallelSize?: number;
  readonly quantization: Quantization;
  readonly maxModelLen: number;
  readonly gpuMemoryUtilization: number;
  readonly enablePrefixCaching: boolean;
  readonly sizeGiB: number;
  readonly replicas: { readonly min: number; readonly max: number };
  readonly loraAdapters: readonly { readonly name: string; readonly source: string }[];
  /** @default the number of adapters, plus two per flywheel adapter on a GPU */
  readonly maxLoras?: number;
  /**
   * Adapters the teams' flywheels train on this base model (an enabled `teams[].flywheel` with
   * this `baseModel`): their versions are loaded at runtime by the chart's lora-sync sidecar.
   * @default none
   */
  readonly flywheelAdapters?: readonly { readonly team: string; readonly adapter: string }[];
  /** @default the kit's pinned image for the engine */
  readonly image?: string;
}

/** Typed values of `charts/model-server` (mirrors its values.schema.json). */
export interface ModelServerValues {
  model: { name: string; role: ModelSpec["role"] };
  engine: "vllm" | "simulator";
  image: string;
  imagePullPolicy: "IfNotPresent";
  weights: {
    mode: WeightLoading | "none";
    bucket: string;
    source: string;
    forcePathStyle: boolean;
    endpoint: string;
    sizeGiB: number;
  };
  vllm: {
    tensorParallelSize: number;
    maxModelLen: number;
    gpuMemoryUtilization: number;
    quantization: Quantization;
    enablePrefixCaching: boolean;
    maxLoras: number;
    maxLoraRank: number;
    extraArgs: string[];
  };
  loraAdapters: { name: string; source: string }[];
  /** The Secret with the server's API key (engine vllm; "" for the simulator, which checks none). */
  apiKey: { secretName: string; key: string };
  /** The server's certificate (both engines serve HTTPS only) and the name it carries. */
  tls: { secretName: string; serverName: string };
  flywheel: {
    adapters: { team: string; adapter: string; prefix: string }[];
    loraRoot: string;
    syncIntervalSeconds: number;
    sizeLimit: string;
  };
  env: Record<string, unknown>[];
  objectStoreCa: { secretName: string; key: string };
  serviceAccountName: string;
  gpu: { count: number; resourceName: string };
  resources: {
    requests: { cpu: string; memory: string };
    limits: { memory: string };
  };
  nodeSelector: Record<string, string>;
  tolerations: Record<string, unknown>[];
  shmSizeLimit: string;
  replicas: number;
  autoscaling: {
    enabled: boolean;
    minReplicas: number;
    maxReplicas: number;
    prometheusUrl: string;
    queueTarget: number;
    kvCacheTarget: number;
    pollingInterval: number;
    cooldownPeriod: number;
  };
  probes: { startupBudgetSeconds: number; periodSeconds: number };
  shutdown: { preStopSleepSeconds: number; drainSeconds: number };
  pdb: { enabled: boolean; maxUnavailable: number };
  topologySpread: { enabled: boolean; nodeWhenUnsatisfiable: "DoNotSchedule" | "ScheduleAnyway" };
  serviceMonitor: { enabled: boolean; interval: string; labels: Record<string, string> };
  networkPolicy: { enabled: boolean; allowedNamespaces: string[]; egress: Record<string, unknown>[] };
  securityContext: { runAsUser: number; runAsGroup: number; readOnlyRootFilesystem: boolean };
  labels: Record<string, string>;
}

/** Everything `modelServerValues` needs, already resolved (no outputs). */
export interface ModelServerValuesInput {
  readonly model: ModelSpec;
  readonly rollout: Rollout;
  /** Placement of the model's pool; absent for a CPU model. */
  readonly placement?: GpuPlacement;
  readonly bucket: string;
  readonly objectStoreEndpoint: string;
  readonly forcePathStyle: boolean;
  /** Egress rules to the object store (`substrate.egressTargets.objectStore`). @default [] (DNS only) */
  readonly objectStoreEgress?: readonly EgressRule[];
  /**
   * Whether the chart renders its own NetworkPolicy. Off where the namespace's policies are the
   * kit's (`Serving`): the chart's admits whole namespaces and would widen them. @default true
   */
  readonly networkPolicy?: boolean;
  /** Object-store environment from `substrate.bindWorkload`. */
  readonly env: readonly Record<string, unknown>[];
  /** The object store's private CA from `substrate.bindWorkload` (`caBundle`). @default none (public CAs) */
  readonly objectStoreCa?: { readonly secretName: string; readonly key: string };
  readonly serviceAccountName: string;
  /** @default "stream" (Run:ai model streamer) */
  readonly weightLoading?: WeightLoading;
  /** Image overrides (air-gapped mirrors). @default IMAGES.vllm / IMAGES.vllmCpu */
  readonly images?: { readonly vllm?: string; readonly vllmCpu?: string };
  /** Registry mirrors the image is pulled through (`mirrorImage`). @default {} */
  readonly registryMirrors?: RegistryMirrors;
  /** @default prometheusUrl() */
  readonly prometheusUrl?: string;
  /** Mean KV-cache usage that adds a replica; 0 disables the trigger. @default 0.85 on GPUs, 0 on CPU */
  readonly kvCacheTarget?: number;
  /** Waiting requests per replica that add a replica. @default 4 */
  readonly queueTarget?: number;
  /** Labels the monitoring stack's Prometheus selects ServiceMonitors by. @default {} */
  readonly serviceMonitorLabels?: Readonly<Record<string, string>>;
  /** Extra labels on every object. @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** The namespace the server runs in (the host name its certificate carries). @default sovereign-serving */
  readonly namespace?: string;
}

/**
 * Where the lora-sync sidecar puts flywheel versions on a replica: vLLM's `lora_path` is
 * `<root>/<adapter>/<version>` (docs/flywheel.md, "vLLM endpoints").
 */
export const FLYWHEEL_LORA_ROOT = "/flywheel-adapters";

/**
 * `--max-lora-rank` of a base model of flywheel adapters: at least the rank the flywheel's LoRA
 * job trains at (`sovereign-train lora --lora-r`, whose default the loop uses; a higher rank
 * fails to load). One of vLLM's accepted values (1, 8, 16, 32, 64, 128, 256, 320, 512); a larger
 * one reserves more GPU memory per LoRA slot. test/flywheel/lora-sync.test.ts checks the seam.
 */
export const FLYWHEEL_MAX_LORA_RANK = 16;

/** GPUs per replica of a model (config default: 1 on a pool, 0 on CPU). */
export function gpusOf(model: Pick<ModelSpec, "pool" | "gpusPerReplica">): number {
  return model.gpusPerReplica ?? (model.pool ? 1 : 0);
}

/**
 * Whether a model's servers load adapters at runtime (vLLM on a GPU: the chart renders the
 * lora-sync sidecar and runtime LoRA). A CPU model runs the simulator, which has neither, so a
 * flywheel on it trains and gates but never gets a version loaded (stacks/config/warnings.ts).
 */
export function loadsAdaptersAtRuntime(model: Pick<ModelSpec, "pool" | "gpusPerReplica">): boolean {
  return gpusOf(model) > 0;
}

/**
 * Seconds the startup probe allows: engine start, CUDA graph capture and compilation
 * (~5 min) plus ~15 s per GiB of weights streamed (a conservative ~70 MB/s).
 */
export function startupBudgetSeconds(sizeGiB: number, gpus: number): number {
  if (gpus === 0) return 120;
  return 300 + Math.ceil(sizeGiB * 15);
}

/** CPU/memory of one replica. Memory includes the memory-backed /dev/shm. */
export function modelServerResources(
  gpus: number,
  sizeGiB: number,
): { cpu: string; memory: string; limit: string; shm: string } {
  if (gpus === 0) return { cpu: "50m", memory: "96Mi", limit: "256Mi", shm: "64Mi" };
  const shmGi = gpus > 1 ? 8 : 2;
  const perGpuGi = Math.max(12, Math.ceil(sizeGiB / gpus) + 6);
  const memoryGi = perGpuGi * gpus + shmGi;
  return { cpu: String(3 * gpus), memory: `${memoryGi}Gi`, limit: `${memoryGi}Gi`, shm: `${shmGi}Gi` };
}

/** The chart values of one model server. Pure: same input, same values. */
export function modelServerValues(input: ModelServerValuesInput): ModelServerValues {
  const { model, rollout, placement } = input;
  const gpus = gpusOf(model);
  const onGpu = loadsAdaptersAtRuntime(model);
  if (onGpu && !placement) {
    throw new Error(
      `model "${model.name}": expected a GPU placement for pool "${model.pool ?? ""}", found none`,
    );
  }
  const engine = onGpu ? "vllm" : "simulator";
  const image = mirrorImage(
    model.image ?? (onGpu ? (input.images?.vllm ?? IMAGES.vllm) : (input.images?.vllmCpu ?? IMAGES.vllmCpu)),
    input.registryMirrors ?? {},
  );
  const res = modelServerResources(gpus, model.sizeGiB);
  const autoscale = model.replicas.min === 0 || model.replicas.max > model.replicas.min;
  // Runtime loading needs vLLM: the simulator (CPU) ignores flywheel adapters.
  const flywheel = onGpu ? (model.flywheelAdapters ?? []) : [];
  const loras = model.loraAdapters.length + 2 * flywheel.length;
  return {
    model: { name: model.name, role: model.role },
    engine,
    image,
    imagePullPolicy: "IfNotPresent",
    weights: {
      mode: onGpu ? (input.weightLoading ?? "stream") : "none",
      bucket: input.bucket,
      // as the folder its identity may read (modelServerPrefixes): the fetch and the streamer
      // list this prefix, and a list outside the read scope's `<prefix>*` is denied
      source: folderOf(model.source),
      forcePathStyle: input.forcePathStyle,
      endpoint: input.objectStoreEndpoint,
      sizeGiB: model.sizeGiB,
    },
    vllm: {
      tensorParallelSize: model.tensorParallelSize ?? Math.max(1, gpus),
      maxModelLen: model.maxModelLen,
      gpuMemoryUtilization: model.gpuMemoryUtilization,
      quantization: model.quantization,
      enablePrefixCaching: model.enablePrefixCaching,
      maxLoras: loras > 0 ? (model.maxLoras ?? loras) : 0,
      maxLoraRank: flywheel.length > 0 ? FLYWHEEL_MAX_LORA_RANK : 0,
      extraArgs: [],
    },
    loraAdapters: model.loraAdapters.map((a) => ({ name: a.name, source: folderOf(a.source) })),
    apiKey: { secretName: onGpu ? modelApiKeySecretName(model.name) : "", key: MODEL_API_KEY_FIELD },
    tls: {
      secretName: modelTlsSecretName(model.name),
      serverName: modelServerHost(model.name, input.namespace),
    },
    flywheel: {
      adapters: flywheel.map((a) => ({
        team: a.team,
        adapter: a.adapter,
        prefix: flywheelAdapterPrefix(a.team, a.adapter),
      })),
      loraRoot: FLYWHEEL_LORA_ROOT,
      syncIntervalSeconds: 15,
      sizeLimit: "20Gi",
    },
    env: input.env.map((e) => ({ ...e })),
    objectStoreCa: {
      secretName: input.objectStoreCa?.secretName ?? "",
      key: input.objectStoreCa?.key ?? "ca.crt",
    },
    serviceAccountName: input.serviceAccountName,
    gpu: { count: gpus, resourceName: GPU_RESOURCE },
    resources: { requests: { cpu: res.cpu, memory: res.memory }, limits: { memory: res.limit } },
    nodeSelector: { ...(placement?.nodeSelector ?? {}) },
    tolerations: (placement?.tolerations ?? []).map((t) => ({ ...t })),
    shmSizeLimit: res.shm,
    replicas: Math.max(1, model.replicas.min),
    autoscaling: {
      enabled: autoscale,
      minReplicas: model.replicas.min,
      maxReplicas: model.replicas.max,
      prometheusUrl: input.prometheusUrl ?? prometheusUrl(),
      queueTarget: input.queueTarget ?? 4,
      kvCacheTarget: input.kvCacheTarget ?? (onGpu ? 0.85 : 0),
      pollingInterval: 15,
      cooldownPeriod: rollout.cooldownSeconds,
    },
    probes: { startupBudgetSeconds: startupBudgetSeconds(model.sizeGiB, gpus), periodSeconds: 10 },
    shutdown: { preStopSleepSeconds: onGpu ? 15 : 2, drainSeconds: rollout.drainSeconds ?? (onGpu ? 60 : 5) },
    pdb: { enabled: true, maxUnavailable: 1 },
    topologySpread: {
      enabled: true,
      nodeWhenUnsatisfiable: rollout.strictSpread ? "DoNotSchedule" : "ScheduleAnyway",
    },
    // The monitoring stack scrapes every model server centrally (SCRAPE_TARGETS); the chart's own
    // ServiceMonitor is for teams using the chart standalone (Argo CD, Flux).
    serviceMonitor: { enabled: false, interval: "15s", labels: { ...(input.serviceMonitorLabels ?? {}) } },
    networkPolicy: {
      enabled: input.networkPolicy ?? true,
      // The gateway (inference and guard calls) and monitoring; OPA never calls a model server.
      allowedNamespaces: [PLATFORM_NAMESPACES.gateway, PLATFORM_NAMESPACES.monitoring],
      egress: (input.objectStoreEgress ?? []).map((r) => ({ to: [...r.to], ports: [...r.ports] })),
    },
    securityContext: { runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true },
    labels: { ...(input.labels ?? {}) },
  };
}

export interface ModelServerArgs {
  readonly model: ModelSpec;
  readonly rollout: Rollout;
  readonly substrate: Substrate;
  /** The model-server Helm chart: a local path or a chart reference (the stack passes the repo's `charts/model-server`). */
  readonly chart: string;
  /** Namespace the model server runs in. @default sovereign-serving */
  readonly namespace?: pulumi.Input<string>;
  /** @default "stream" */
  readonly weightLoading?: WeightLoading;
  /** Image overrides from the stack config. @default the kit's pinned images */
  readonly images?: {
    /** vLLM on GPUs. @default IMAGES.vllm */
    readonly vllm?: string;
    /** The CPU simulator. @default IMAGES.vllmCpu */
    readonly vllmCpu?: string;
  };
  /** Labels the Prometheus of the monitoring stack selects ServiceMonitors by. @default {} */
  readonly serviceMonitorLabels?: Readonly<Record<string, string>>;
  /**
   * Whether the chart's own NetworkPolicy is rendered; `Serving` turns it off because its
   * namespace-wide policies (`servingNetworkPolicies`) take over. @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * The server's API key (engine vllm): callers send it as `Authorization: Bearer`.
   * @default a key generated for this server (exposed as `apiKey`)
   */
  readonly apiKey?: pulumi.Input<string>;
  /**
   * What the server's Certificate (from the model CA, components/lib/model-tls.ts) waits for:
   * cert-manager and the model CA issuer. @default [] (cert-manager retries until the issuer exists)
   */
  readonly modelCaReady?: readonly pulumi.Resource[];
}

/** Whether a model's servers require an API key: vLLM (on a GPU) does, the simulator checks none. */
export function requiresApiKey(model: Pick<ModelSpec, "pool" | "gpusPerReplica">): boolean {
  return gpusOf(model) > 0;
}

export class ModelServer extends pulumi.ComponentResource {
  /** Values passed to the chart. */
  public readonly values: pulumi.Output<ModelServerValues>;
  /** Service name the gateway and the guard policy call (`modelServiceName`). */
  public readonly serviceName: string;
  public readonly release: k8s.helm.v3.Release;
  /** The server's API key (a secret output), for its callers; undefined for the simulator. */
  public readonly apiKey?: pulumi.Output<string>;

  constructor(name: string, args: ModelServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:platform:ModelServer", name, {}, opts);
    const namespace = args.namespace ?? PLATFORM_NAMESPACES.serving;
    // The name in its certificate: a namespace given as an output is the serving namespace's.
    const nsName = typeof namespace === "string" ? namespace : PLATFORM_NAMESPACES.serving;
    this.serviceName = modelServiceName(args.model.name);
    const access = args.substrate.bindWorkload(
      `${name}-identity`,
      {
        kind: "model-server",
        namespace,
        serviceAccountName: this.serviceName,
        // flywheel adapters only where they are loaded (vLLM; the simulator ignores them)
        readModels: modelServerPrefixes({
          ...args.model,
          flywheelAdapters: gpusOf(args.model) > 0 ? args.model.flywheelAdapters : [],
        }),
      },
      { parent: this },
    );
    const store = args.substrate.objectStore;
    const placement = args.model.pool ? args.substrate.gpuPools[args.model.pool] : undefined;
    this.values = pulumi
      .all([
        store.buckets.models,
        store.endpoint,
        access.env,
        access.serviceAccountName,
        args.substrate.registryMirrors,
        args.substrate.egressTargets.objectStore,
        access.caBundle?.secretName,
      ])
      .apply(([bucket, endpoint, env, sa, registryMirrors, objectStoreEgress, caSecret]) =>
        modelServerValues({
          model: args.model,
          rollout: args.rollout,
          placement,
          bucket,
          objectStoreEndpoint: endpoint,
          forcePathStyle: store.forcePathStyle,
          env: env,
          ...(caSecret && access.caBundle
            ? { objectStoreCa: { secretName: caSecret, key: access.caBundle.key } }
            : {}),
          serviceAccountName: sa,
          weightLoading: args.weightLoading,
          images: args.images,
          registryMirrors,
          objectStoreEgress,
          serviceMonitorLabels: args.serviceMonitorLabels,
          networkPolicy: args.networkPolicy,
          namespace: nsName,
        }),
      );
    const gpus = gpusOf(args.model);
    const keySecrets: pulumi.Resource[] = [];
    // Its certificate: the chart mounts the Secret cert-manager writes (the Deployment waits for it).
    const cert = modelServerCertificate(args.model.name, nsName);
    keySecrets.push(
      new k8s.apiextensions.CustomResource(
        `${name}-tls`,
        // the namespace as given (an output waits for the Namespace object)
        { ...cert, metadata: { ...cert.metadata, namespace } },
        { parent: this, dependsOn: [...(args.modelCaReady ?? [])] },
      ),
    );
    if (requiresApiKey(args.model)) {
      this.apiKey = pulumi.secret(
        pulumi.output(args.apiKey ?? generateModelApiKey(`${name}-api-key`, { parent: this })),
      );
      keySecrets.push(
        modelApiKeySecret(`${name}-api-key`, args.model.name, namespace, this.apiKey, {}, { parent: this }),
      );
    }
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: this.serviceName,
        chart: args.chart,
        namespace,
        values: this.values,
        maxHistory: 5,
        // A model scaled to zero has nothing to wait for; otherwise wait until it serves.
        skipAwait: args.model.replicas.min === 0,
        timeout: startupBudgetSeconds(args.model.sizeGiB, gpus) + 600,
      },
      { parent: this, dependsOn: [...access.dependsOn, ...keySecrets] },
    );
    this.registerOutputs({ values: this.values, serviceName: this.serviceName });
  }
}
