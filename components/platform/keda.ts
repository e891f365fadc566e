/** KEDA, pinned: the autoscaler behind the model servers' ScaledObjects. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import { CHARTS, type ChartMirror, chartSource } from "../lib/versions";

export interface KedaArgs {
  /** @default keda */
  readonly namespace?: string;
  /** Operator replicas (2 for HA in prod). @default 1 */
  readonly replicas?: number;
  /** Registry mirrors every KEDA image is pulled through (`substrate.registryMirrors`). @default {} */
  readonly registryMirrors?: pulumi.Input<RegistryMirrors>;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
}

/** Values of the KEDA chart: small requests, HA when asked, every image pinned and mirrored. */
export function kedaValues(replicas = 1, mirrors: RegistryMirrors = {}): Record<string, unknown> {
  const small = (cpu: string, memory: string, limit: string) => ({
    requests: { cpu, memory },
    limits: { memory: limit },
  });
  return withChartImages(
    {
      operator: { replicaCount: replicas },
      metricsServer: { replicaCount: replicas },
      webhooks: { replicaCount: replicas },
      podDisruptionBudget:
        replicas > 1 ? { operator: { minAvailable: 1 }, metricServer: { minAvailable: 1 } } : {},
      resources: {
        operator: small("50m", "64Mi", "512Mi"),
        metricServer: small("50m", "64Mi", "512Mi"),
        webhooks: small("20m", "32Mi", "256Mi"),
      },
    },
    CHART_IMAGES.keda,
    mirrors,
  );
}

export class Keda extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: KedaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:platform:Keda", name, {}, opts);
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: args.namespace ?? PLATFORM_NAMESPACES.keda,
          labels: k8sLabels("keda", name, {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
          }),
        },
      },
      { parent: this },
    );
    this.release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "keda",
        ...chartSource(CHARTS.keda, args.chartMirror),
        namespace: ns.metadata.name,
        values: pulumi.output(args.registryMirrors ?? {}).apply((m) => kedaValues(args.replicas ?? 1, m)),
        maxHistory: 5,
      },
      { parent: this, dependsOn: [ns] },
    );
    this.registerOutputs({});
  }
}
