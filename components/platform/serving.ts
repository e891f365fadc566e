/**
 * The serving area: the `sovereign-serving` namespace, GPU enablement (only with GPU pools),
 * KEDA (only when a model autoscales) and one ModelServer per configured model.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { modelServerUrl } from "../lib/endpoints";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import type { Substrate } from "../substrate";
import { GpuEnablement } from "./gpu";
import { Keda } from "./keda";
import { autoscales } from "../lib/scheduling";
import { ModelServer, type ModelSpec, type Profile, type WeightLoading } from "./model-server";

export { autoscales };

export interface ServingArgs {
  readonly substrate: Substrate;
  readonly profile: Profile;
  readonly models: readonly ModelSpec[];
  /** Image overrides (air-gapped mirrors). @default the kit's pinned images */
  readonly images?: { readonly vllm?: string; readonly vllmCpu?: string };
  /** @default "stream" */
  readonly weightLoading?: WeightLoading;
  /** KEDA operator replicas. @default 1 */
  readonly kedaReplicas?: number;
  /** Labels the monitoring stack's Prometheus selects ServiceMonitors by. @default {} */
  readonly serviceMonitorLabels?: Readonly<Record<string, string>>;
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
    if (plan.gpu) {
      deps.push(
        new GpuEnablement(
          `${name}-gpu`,
          {
            pools: args.substrate.gpuPools,
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
            registryMirrors: args.substrate.registryMirrors,
            chartMirror: args.substrate.chartMirror,
          },
          { parent: this },
        ),
      );
    }
    this.modelUrls = {};
    for (const model of args.models) {
      new ModelServer(
        `${name}-model-${model.name}`,
        {
          model,
          profile: args.profile,
          substrate: args.substrate,
          namespace: this.namespace,
          weightLoading: args.weightLoading,
          images: args.images,
          serviceMonitorLabels: args.serviceMonitorLabels,
        },
        { parent: this, dependsOn: deps },
      );
      this.modelUrls[model.name] = modelServerUrl(model.name);
    }
    this.registerOutputs({ modelUrls: this.modelUrls, namespace: this.namespace });
  }
}
