/**
 * GPU enablement on GPU nodes only: the NVIDIA device plugin (node images ship the driver and
 * container toolkit, so the GPU Operator's driver is not needed), the DCGM exporter for GPU
 * metrics and, optionally, a RuntimeClass. Created only when the substrate has GPU pools.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import type { ApiServerPeers, ChartNamespaceFlows } from "../lib/network-policy";
import { chartNamespacePolicyResources } from "./namespace-policies";
import { CHARTS, type ChartMirror, chartSource } from "../lib/versions";
import type { GpuPlacement } from "../substrate";

type Toleration = Record<string, unknown>;

export interface GpuEnablementArgs {
  /** GPU placement per pool (from `substrate.gpuPools`); must not be empty. */
  readonly pools: Readonly<Record<string, GpuPlacement>>;
  /** @default sovereign-gpu */
  readonly namespace?: string;
  /** The API server as NetworkPolicy peers (`substrate.apiServer`): the namespace is default-deny. */
  readonly apiServer: ApiServerPeers;
  /**
   * Create a `nvidia` RuntimeClass and run the device plugin with it, for nodes whose
   * container runtime does not default to the NVIDIA runtime. @default false
   */
  readonly runtimeClass?: boolean;
  /** Labels the monitoring stack's Prometheus selects ServiceMonitors by. @default {} */
  readonly serviceMonitorLabels?: Readonly<Record<string, string>>;
  /** Registry mirrors the NVIDIA images are pulled through (`substrate.registryMirrors`). @default {} */
  readonly registryMirrors?: pulumi.Input<RegistryMirrors>;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
}

/**
 * Node affinity matching any GPU pool: one node-selector term per pool (terms are ORed), each
 * requiring every label of the pool's node selector.
 */
export function gpuNodeAffinity(pools: Readonly<Record<string, GpuPlacement>>): Record<string, unknown> {
  const terms = Object.keys(pools)
    .sort()
    .map((name) => pools[name].nodeSelector)
    .filter((sel) => Object.keys(sel).length > 0)
    .map((sel) => ({
      matchExpressions: Object.keys(sel)
        .sort()
        .map((key) => ({ key, operator: "In", values: [sel[key]] })),
    }));
  if (terms.length === 0) {
    throw new Error("GPU enablement: expected a node selector on at least one GPU pool, found none");
  }
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
}

/** The union of the pools' tolerations, without duplicates. */
export function gpuTolerations(pools: Readonly<Record<string, GpuPlacement>>): Toleration[] {
  const seen = new Map<string, Toleration>();
  for (const name of Object.keys(pools).sort()) {
    for (const t of pools[name].tolerations) {
      const tol = { ...t } as Toleration;
      seen.set(JSON.stringify(tol, Object.keys(tol).sort()), tol);
    }
  }
  return [...seen.values()];
}

/** Values of the NVIDIA device plugin chart. */
export function devicePluginValues(
  pools: Readonly<Record<string, GpuPlacement>>,
  runtimeClassName?: string,
  mirrors: RegistryMirrors = {},
): Record<string, unknown> {
  return withChartImages(
    {
      affinity: gpuNodeAffinity(pools),
      tolerations: gpuTolerations(pools),
      priorityClassName: "system-node-critical",
      ...(runtimeClassName ? { runtimeClassName } : {}),
      gfd: { enabled: false },
      nfd: { enabled: false },
      resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    },
    CHART_IMAGES.nvidiaDevicePlugin,
    mirrors,
  );
}

/** Values of the DCGM exporter chart. */
export function dcgmExporterValues(
  pools: Readonly<Record<string, GpuPlacement>>,
  serviceMonitorLabels: Readonly<Record<string, string>> = {},
  mirrors: RegistryMirrors = {},
): Record<string, unknown> {
  return withChartImages(
    {
      affinity: gpuNodeAffinity(pools),
      tolerations: gpuTolerations(pools),
      priorityClassName: "system-node-critical",
      serviceMonitor: { enabled: true, interval: "15s", additionalLabels: { ...serviceMonitorLabels } },
      resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
    },
    CHART_IMAGES.dcgmExporter,
    mirrors,
  );
}

/** The DCGM exporter's pods, by the labels the pinned chart sets (chart-flows.test.ts records them). */
export const DCGM_EXPORTER_PODS = { "app.kubernetes.io/name": "dcgm-exporter" } as const;
/** The DCGM exporter's metrics port (container port `metrics`). */
export const DCGM_EXPORTER_PORT = 9400;

/**
 * The flows of the GPU namespace besides DNS and the API server (the device plugin watches its
 * node): Prometheus scrapes the DCGM exporter. Neither pod serves anything else over the
 * network: the device plugin talks to the kubelet through a socket on the node, and the DCGM
 * exporter reads the GPUs and the kubelet's pod-resources socket.
 */
export function gpuFlows(namespace: string): ChartNamespaceFlows {
  return { namespace, fromMonitoring: [{ pods: DCGM_EXPORTER_PODS, ports: [DCGM_EXPORTER_PORT] }] };
}

export class GpuEnablement extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: GpuEnablementArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sovereign:platform:GpuEnablement", name, {}, opts);
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      {
        metadata: {
          name: args.namespace ?? PLATFORM_NAMESPACES.gpu,
          // The device plugin mounts the kubelet's device-plugin socket directory (hostPath)
          // and DCGM needs SYS_ADMIN: this namespace alone runs privileged node agents.
          labels: k8sLabels("gpu", name, { "pod-security.kubernetes.io/enforce": "privileged" }),
        },
      },
      { parent: this },
    );
    this.namespace = ns.metadata.name;
    let runtimeClassName: string | undefined;
    const children: pulumi.Resource[] = [ns];
    // Default-deny both ways plus exactly the flows above, before the charts install.
    children.push(
      ...chartNamespacePolicyResources(
        name,
        gpuFlows(args.namespace ?? PLATFORM_NAMESPACES.gpu),
        args.apiServer,
        { parent: this, dependsOn: [ns] },
      ),
    );
    if (args.runtimeClass) {
      const rc = new k8s.node.v1.RuntimeClass(
        `${name}-runtime`,
        {
          metadata: { name: "nvidia", labels: k8sLabels("gpu", name) },
          handler: "nvidia",
          scheduling: {
            tolerations: gpuTolerations(args.pools) as k8s.types.input.core.v1.Toleration[],
          },
        },
        { parent: this },
      );
      runtimeClassName = "nvidia";
      children.push(rc);
    }
    const chart = (
      key: "nvidiaDevicePlugin" | "dcgmExporter",
      role: string,
      values: pulumi.Input<Record<string, unknown>>,
    ) =>
      new k8s.helm.v3.Release(
        `${name}-${role}`,
        {
          name: role,
          ...chartSource(CHARTS[key], args.chartMirror),
          namespace: this.namespace,
          values,
          maxHistory: 5,
        },
        { parent: this, dependsOn: children },
      );
    const mirrors = pulumi.output(args.registryMirrors ?? {});
    chart(
      "nvidiaDevicePlugin",
      "device-plugin",
      mirrors.apply((m) => devicePluginValues(args.pools, runtimeClassName, m)),
    );
    chart(
      "dcgmExporter",
      "dcgm-exporter",
      mirrors.apply((m) => dcgmExporterValues(args.pools, args.serviceMonitorLabels, m)),
    );
    this.registerOutputs({ namespace: this.namespace });
  }
}
