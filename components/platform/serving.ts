/**
 * The serving area: the `sovereign-serving` namespace, GPU enablement (only with GPU pools),
 * KEDA (only when a model autoscales) and one ModelServer per configured model.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { modelServerUrl } from "../lib/endpoints";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { dnsEgressRule } from "../lib/network-policy";
import type { EgressRule, Substrate } from "../substrate";
import { GpuEnablement } from "./gpu";
import { Keda } from "./keda";
import { autoscales } from "../lib/scheduling";
import { ModelServer, type ModelSpec, type Rollout, type WeightLoading } from "./model-server";

export { autoscales };

export interface ServingArgs {
  readonly substrate: Substrate;
  readonly rollout: Rollout;
  /** The model-server Helm chart (path or reference) every model is installed from. */
  readonly modelServerChart: string;
  readonly models: readonly ModelSpec[];
  /** Image overrides (air-gapped mirrors). @default the kit's pinned images */
  readonly images?: {
    /** vLLM on GPUs. @default IMAGES.vllm */
    readonly vllm?: string;
    /** The CPU simulator. @default IMAGES.vllmCpu */
    readonly vllmCpu?: string;
  };
  /** @default "stream" */
  readonly weightLoading?: WeightLoading;
  /** KEDA operator replicas. @default 1 */
  readonly kedaReplicas?: number;
  /** Labels the monitoring stack's Prometheus selects ServiceMonitors by. @default {} */
  readonly serviceMonitorLabels?: Readonly<Record<string, string>>;
  /**
   * What the model servers' Certificates wait for: cert-manager and the model CA issuer
   * (components/lib/model-tls.ts). @default [] (cert-manager retries until the issuer exists)
   */
  readonly modelCaReady?: readonly pulumi.Resource[];
}

/** The model servers' container port: HTTPS, the OpenAI API and `/metrics` (the chart's `https` port). */
export const MODEL_SERVER_PORT = 8000;

/** The pods of every model server (the chart's selector labels, less the model's instance). */
export const MODEL_SERVER_PODS: Readonly<Record<string, string>> = {
  "app.kubernetes.io/name": "model-server",
};

type ServingPolicy = {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: k8s.types.input.networking.v1.NetworkPolicySpec;
};

/**
 * The NetworkPolicies of the serving namespace: default-deny both ways; every pod resolves names
 * and reaches the object store the weights come from (`objectStore`, the substrate's egress
 * targets) and nothing else, because model servers parse untrusted prompts; the model servers
 * take calls from the gateway (which also asks the guard) and scrapes from monitoring, on their
 * port. OPA never reaches them: the gateway passes the guard's verdict in, and OPA holds no
 * model server's key (docs/access-control.md).
 */
export function servingNetworkPolicies(objectStore: readonly EgressRule[]): ServingPolicy[] {
  const ns = PLATFORM_NAMESPACES.serving;
  const nsSel = (name: string) => ({ matchLabels: { "kubernetes.io/metadata.name": name } });
  const port = [{ protocol: "TCP", port: MODEL_SERVER_PORT }];
  const policy = (name: string, spec: ServingPolicy["spec"]): ServingPolicy => ({
    metadata: {
      name,
      namespace: ns,
      labels: { "app.kubernetes.io/part-of": "sovereign", "app.kubernetes.io/name": "network-policy" },
    },
    spec,
  });
  return [
    policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    policy("allow-dns", { podSelector: {}, policyTypes: ["Egress"], egress: [dnsEgressRule()] }),
    policy("allow-object-store", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: objectStore.map((r) => ({ to: [...r.to], ports: r.ports.map((p) => ({ ...p })) })),
    }),
    policy("allow-clients", {
      podSelector: { matchLabels: { ...MODEL_SERVER_PODS } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: nsSel(PLATFORM_NAMESPACES.gateway),
              podSelector: { matchLabels: { "app.kubernetes.io/name": "gateway" } },
            },
          ],
          ports: port,
        },
      ],
    }),
    policy("allow-metrics", {
      podSelector: { matchLabels: { ...MODEL_SERVER_PODS } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ namespaceSelector: nsSel(PLATFORM_NAMESPACES.monitoring) }], ports: port }],
    }),
  ];
}

/** What the serving area creates for a set of models and GPU pools. */
export function servingPlan(
  models: readonly Pick<ModelSpec, "replicas" | "name">[],
  gpuPools: Readonly<Record<string, unknown>>,
): { gpu: boolean; keda: boolean; models: string[] } {
  return {
    gpu: Object.keys(gpuPools).length > 0,
    keda: models.some(autoscales),
    models: models.map((m) => m.name),
  };
}

export class Serving extends pulumi.ComponentResource {
  /** In-cluster base URL of each model server, by model name. */
  public readonly modelUrls: Record<string, string>;
  /**
   * The API key of each model server that requires one (vLLM; secret outputs), by model name:
   * for the callers of that server only (components/platform/model-keys.ts).
   */
  public readonly modelApiKeys: Record<string, pulumi.Output<string>>;
  public readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: ServingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:platform:Serving", name, {}, opts);
    const plan = servingPlan(args.models, args.substrate.gpuPools);
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: PLATFORM_NAMESPACES.serving,
          labels: k8sLabels("serving", name, {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
          }),
        },
      },
      { parent: this },
    );
    this.namespace = ns.metadata.name;
    const deps: pulumi.Resource[] = [ns];
    // Names are fixed; only the object store's peers are an output of the substrate.
    const policies = args.substrate.egressTargets.objectStore.apply(servingNetworkPolicies);
    for (const [i, np] of servingNetworkPolicies([]).entries()) {
      deps.push(
        new k8s.networking.v1.NetworkPolicy(
          `${name}-np-${np.metadata.name}`,
          { metadata: np.metadata, spec: policies.apply((ps) => ps[i].spec) },
          { parent: this, dependsOn: [ns] },
        ),
      );
    }
    if (plan.gpu) {
      deps.push(
        new GpuEnablement(
          `${name}-gpu`,
          {
            pools: args.substrate.gpuPools,
            apiServer: args.substrate.apiServer,
            serviceMonitorLabels: args.serviceMonitorLabels,
            registryMirrors: args.substrate.registryMirrors,
            chartMirror: args.substrate.chartMirror,
          },
          { parent: this },
        ),
      );
    }
    if (plan.keda) {
      deps.push(
        new Keda(
          `${name}-keda`,
          {
            replicas: args.kedaReplicas ?? 1,
            apiServer: args.substrate.apiServer,
            registryMirrors: args.substrate.registryMirrors,
            chartMirror: args.substrate.chartMirror,
          },
          { parent: this },
        ),
      );
    }
    this.modelUrls = {};
    this.modelApiKeys = {};
    for (const model of args.models) {
      const server = new ModelServer(
        `${name}-model-${model.name}`,
        {
          model,
          rollout: args.rollout,
          chart: args.modelServerChart,
          substrate: args.substrate,
          namespace: this.namespace,
          weightLoading: args.weightLoading,
          images: args.images,
          serviceMonitorLabels: args.serviceMonitorLabels,
          // The namespace's policies above take over from the chart's (which admits whole namespaces).
          networkPolicy: false,
          modelCaReady: args.modelCaReady,
        },
        { parent: this, dependsOn: deps },
      );
      this.modelUrls[model.name] = modelServerUrl(model.name);
      if (server.apiKey) this.modelApiKeys[model.name] = server.apiKey;
    }
    this.registerOutputs({ modelUrls: this.modelUrls, namespace: this.namespace });
  }
}
