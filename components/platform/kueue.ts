/**
 * Kueue: the pinned release, a ResourceFlavor per GPU pool (the pool's node labels and
 * tolerations from the substrate), and a ClusterQueue per team with the team's nominal GPU quota
 * and borrowing limit in one shared cohort, with preemption so a team reclaims its quota.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GPU_RESOURCE } from "../lib/gpu-catalog";
import { KUEUE_CA_ISSUER, KUEUE_RELEASE } from "../lib/kueue-tls";
import { k8sLabels } from "../lib/labels";
import { PLATFORM_NAMESPACES, teamNamespace } from "../lib/naming";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import type { ModelCaBundle as CaBundleArgs } from "./cert-manager";
import type { ChartNamespaceFlows } from "../lib/network-policy";
import { chartNamespacePolicyResources } from "./namespace-policies";
import { TENANCY_CHARTS, chartSource } from "../lib/versions";
import type { GpuPlacement, Substrate } from "../substrate";
import { teamClusterQueue, type K8sObject } from "./tenancy-plan";

export const KUEUE_API = "kueue.x-k8s.io/v1beta2";
/** Flavor covering CPU and memory of queued jobs (no node constraints of its own). */
export const CPU_FLAVOR = "cpu-memory";
/** CPU and memory quota granted per GPU of quota (a GPU job needs its host share). */
export const CPU_PER_GPU = 16;
export const MEMORY_GIB_PER_GPU = 128;

export interface KueuePool {
  readonly name: string;
  readonly purpose: "serving" | "training";
  readonly placement: GpuPlacement;
}

export interface KueueTeam {
  readonly name: string;
  readonly gpuQuota: { readonly nominal: number; readonly borrowingLimit: number };
}

export interface KueuePlanArgs {
  readonly pools: readonly KueuePool[];
  readonly teams: readonly KueueTeam[];
  readonly cohort: string;
}

export interface KueuePlan {
  readonly flavors: K8sObject[];
  readonly clusterQueues: K8sObject[];
}

/** The ResourceFlavor of one GPU pool: Kueue injects its node labels and tolerations on admission. */
export function resourceFlavor(pool: KueuePool): K8sObject {
  const p = pool.placement;
  return {
    apiVersion: KUEUE_API,
    kind: "ResourceFlavor",
    metadata: {
      name: pool.name,
      labels: k8sLabels("kueue", pool.name, { "sovereign.ai/capacity-type": p.capacityType }),
    },
    spec: {
      nodeLabels: { ...p.nodeSelector },
      tolerations: p.tolerations.map((t) => ({ ...t })),
    },
  };
}

/** A team's ClusterQueue. Its quota applies on every training pool (Kueue quotas are per flavor). */
export function clusterQueue(
  team: KueueTeam,
  trainingPools: readonly KueuePool[],
  cohort: string,
): K8sObject {
  const { nominal, borrowingLimit } = team.gpuQuota;
  const resourceGroups: Record<string, unknown>[] = [];
  if (trainingPools.length > 0) {
    resourceGroups.push({
      coveredResources: [GPU_RESOURCE],
      flavors: trainingPools.map((p) => ({
        name: p.name,
        resources: [{ name: GPU_RESOURCE, nominalQuota: nominal, borrowingLimit }],
      })),
    });
  }
  resourceGroups.push({
    coveredResources: ["cpu", "memory"],
    flavors: [
      {
        name: CPU_FLAVOR,
        resources: [
          { name: "cpu", nominalQuota: nominal * CPU_PER_GPU, borrowingLimit: borrowingLimit * CPU_PER_GPU },
          {
            name: "memory",
            nominalQuota: `${nominal * MEMORY_GIB_PER_GPU}Gi`,
            borrowingLimit: `${borrowingLimit * MEMORY_GIB_PER_GPU}Gi`,
          },
        ],
      },
    ],
  });
  return {
    apiVersion: KUEUE_API,
    kind: "ClusterQueue",
    metadata: {
      name: teamClusterQueue(team.name),
      labels: k8sLabels("kueue", team.name, { team: team.name }),
    },
    spec: {
      cohortName: cohort,
      // Only the team's own namespace may submit to its queue.
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": teamNamespace(team.name) } },
      queueingStrategy: "BestEffortFIFO",
      resourceGroups,
      preemption: {
        // A team always gets its nominal quota back from borrowers.
        reclaimWithinCohort: "Any",
        // Borrowing may evict lower-priority borrowed work only.
        borrowWithinCohort: { policy: "LowerPriority" },
        withinClusterQueue: "LowerPriority",
      },
      flavorFungibility: { whenCanBorrow: "MayStopSearch", whenCanPreempt: "TryNextFlavor" },
    },
  };
}

/** Every Kueue object of the platform. */
export function planKueue(a: KueuePlanArgs): KueuePlan {
  const training = a.pools.filter((p) => p.purpose === "training");
  const cpuFlavor: K8sObject = {
    apiVersion: KUEUE_API,
    kind: "ResourceFlavor",
    metadata: { name: CPU_FLAVOR, labels: k8sLabels("kueue", CPU_FLAVOR) },
    spec: {},
  };
  return {
    flavors: [...a.pools.map(resourceFlavor), cpuFlavor],
    clusterQueues: a.teams.map((t) => clusterQueue(t, training, a.cohort)),
  };
}

/**
 * Helm values of the Kueue release. Its certificates (webhooks, visibility API, metrics) come
 * from cert-manager and the Kueue CA (components/lib/kueue-tls.ts), not from the controller's
 * own self-signed ones: the chart then turns its internal certificate management off, mounts the
 * metrics certificate where the controller serves /metrics from it, and has cert-manager's CA
 * injector fill in the CA of its webhooks, CRD conversion and APIService.
 */
export function kueueValues(o: { replicas: number; mirrors?: RegistryMirrors }): Record<string, unknown> {
  return withChartImages(
    {
      enableCertManager: true,
      certManager: { issuerRef: { ...KUEUE_CA_ISSUER } },
      controllerManager: {
        replicas: o.replicas,
        podDisruptionBudget: { enabled: o.replicas > 1, minAvailable: 1 },
      },
    },
    CHART_IMAGES.kueue,
    o.mirrors,
  );
}

/** The controller manager's pods, by the labels the pinned chart sets (chart-flows.test.ts renders it). */
export const KUEUE_PODS = {
  "app.kubernetes.io/name": "kueue",
  "control-plane": "controller-manager",
} as const;

/**
 * The flows of Kueue's namespace besides DNS and the API server (the controller manager's
 * container ports in the pinned chart; chart-flows.test.ts renders it and checks them): the API
 * server calls the admission webhooks (`webhook-server`, 9443) and the visibility API, an
 * aggregated API (`visibility`, 8082); Prometheus scrapes the secure metrics (`metrics`, 8443).
 */
export function kueueFlows(): ChartNamespaceFlows {
  return {
    namespace: PLATFORM_NAMESPACES.kueue,
    fromApiServer: [{ pods: KUEUE_PODS, ports: [9443, 8082] }],
    fromMonitoring: [{ pods: KUEUE_PODS, ports: [8443] }],
  };
}

export interface KueueArgs {
  readonly substrate: Substrate;
  /** GPU pools by name with their purpose (placement comes from the substrate). */
  readonly pools: readonly { readonly name: string; readonly purpose: "serving" | "training" }[];
  readonly teams: readonly KueueTeam[];
  readonly cohort: string;
  /** Controller replicas. @default 1 */
  readonly replicas?: number;
  /**
   * The Kueue CA its certificates come from (components/lib/kueue-tls.ts): what the release waits
   * for, cert-manager and the Kueue CA issuer (`kueueCaReady`). @default none (nothing to wait for)
   */
  readonly kueueCa?: CaBundleArgs;
}

export class Kueue extends pulumi.ComponentResource {
  /** Resources the LocalQueues must wait for. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: KueueArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:Kueue", name, {}, opts);
    const child = { parent: this, provider: args.substrate.provider };
    const pools = args.pools.map((p) => {
      const placement = args.substrate.gpuPools[p.name];
      if (!placement) throw new Error(`kueue: the substrate has no placement for GPU pool "${p.name}"`);
      return { ...p, placement };
    });
    const plan = planKueue({ pools, teams: args.teams, cohort: args.cohort });
    const release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: KUEUE_RELEASE,
        ...chartSource(TENANCY_CHARTS.kueue, args.substrate.chartMirror),
        namespace: PLATFORM_NAMESPACES.kueue,
        createNamespace: true,
        values: args.substrate.registryMirrors.apply((mirrors) =>
          kueueValues({ replicas: args.replicas ?? 1, mirrors }),
        ),
      },
      { ...child, dependsOn: [...args.substrate.ready, ...(args.kueueCa?.dependsOn ?? [])] },
    );
    // Default-deny both ways plus exactly the flows above, once the chart made the namespace.
    chartNamespacePolicyResources(name, kueueFlows(), args.substrate.apiServer, {
      ...child,
      dependsOn: [release],
    });
    const flavors = plan.flavors.map(
      (f) =>
        new k8s.apiextensions.CustomResource(`${name}-flavor-${f.metadata.name}`, f, {
          ...child,
          dependsOn: [release],
        }),
    );
    const queues = plan.clusterQueues.map(
      (q) =>
        new k8s.apiextensions.CustomResource(`${name}-cq-${q.metadata.name}`, q, {
          ...child,
          dependsOn: [release, ...flavors],
        }),
    );
    this.ready = [release, ...queues];
    this.registerOutputs({});
  }
}
