/** KEDA, pinned: the autoscaler behind the model servers' ScaledObjects. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PROMETHEUS_PODS, PROMETHEUS_PORT } from "../lib/endpoints";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import type { ApiServerPeers, ChartNamespaceFlows } from "../lib/network-policy";
import { chartNamespacePolicyResources } from "./namespace-policies";
import { CHARTS, type ChartMirror, chartSource } from "../lib/versions";

export interface KedaArgs {
  /** The API server as NetworkPolicy peers (`substrate.apiServer`): the namespace is default-deny. */
  readonly apiServer: ApiServerPeers;
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
      // The operator's Prometheus endpoint (container port `metrics`, 8080), which the kit's PodMonitor scrapes.
      prometheus: { operator: { enabled: true } },
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

/** The chart's pods, by the `app` label each Deployment sets (the pinned chart's; chart-flows.test.ts records them). */
export const KEDA_PODS = {
  operator: { app: "keda-operator" },
  metricsApiServer: { app: "keda-operator-metrics-apiserver" },
  webhooks: { app: "keda-admission-webhooks" },
} as const;

/**
 * The flows of KEDA's namespace besides DNS and the API server (the container ports of the
 * pinned chart; chart-flows.test.ts records them): the API server calls the admission webhooks
 * (9443) and the metrics API server, an aggregated API (`external.metrics.k8s.io`, 6443); the
 * metrics API server asks the operator for scaler values over gRPC (9666); the operator queries
 * Prometheus, the only scaler the kit's ScaledObjects use, and is scraped on its metrics port
 * (8080). A ScaledObject of your own with another scaler needs its own egress rule.
 */
export function kedaFlows(namespace: string, monitoringNamespace: string): ChartNamespaceFlows {
  return {
    namespace,
    fromApiServer: [
      { pods: KEDA_PODS.webhooks, ports: [9443] },
      { pods: KEDA_PODS.metricsApiServer, ports: [6443] },
    ],
    withinNamespace: [{ pods: KEDA_PODS.operator, ports: [9666], clients: KEDA_PODS.metricsApiServer }],
    fromMonitoring: [{ pods: KEDA_PODS.operator, ports: [8080] }],
    egress: [
      {
        pods: KEDA_PODS.operator,
        to: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": monitoringNamespace } },
            podSelector: { matchLabels: { ...PROMETHEUS_PODS } },
          },
        ],
        ports: [PROMETHEUS_PORT],
      },
    ],
  };
}

export class Keda extends pulumi.ComponentResource {
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: KedaArgs, opts?: pulumi.ComponentResourceOptions) {
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
    // Default-deny both ways plus exactly the flows above, before the chart installs.
    const policies = chartNamespacePolicyResources(
      name,
      kedaFlows(args.namespace ?? PLATFORM_NAMESPACES.keda, PLATFORM_NAMESPACES.monitoring),
      args.apiServer,
      { parent: this, dependsOn: [ns] },
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
      { parent: this, dependsOn: [ns, ...policies] },
    );
    this.registerOutputs({});
  }
}
