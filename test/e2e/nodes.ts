/**
 * Fake nodes (managed by kwok) shaped like a stack's pools: three system nodes (one per zone)
 * for everything without a GPU, and three nodes per GPU pool carrying the pool's labels, its
 * taints and `nvidia.com/gpu` capacity. Pools are read from what the stack applies: Karpenter
 * NodePools (AWS), Kueue ResourceFlavors, and the node selectors of the model servers.
 */
import type { Manifest } from "./plan";

const ZONES = ["e2e-a", "e2e-b", "e2e-c"];
const GPU_TAINT = { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" };

interface Pool {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly taints: { key: string; value?: string; effect: string }[];
  readonly gpus: number;
}

function poolsOf(objects: readonly Manifest[]): Pool[] {
  const pools = new Map<string, Pool>();
  const add = (p: Pool) => {
    const key = JSON.stringify(Object.entries(p.labels).sort());
    const had = pools.get(key);
    if (!had || Object.keys(p.labels).length > Object.keys(had.labels).length) pools.set(key, p);
  };
  for (const m of objects) {
    const spec = (m as { spec?: any }).spec;
    if (m.kind === "NodePool" && m.apiVersion.startsWith("karpenter.sh/")) {
      const t = spec?.template ?? {};
      const labels: Record<string, string> = { ...(t.metadata?.labels ?? {}) };
      let gpus = 8;
      for (const r of (t.spec?.requirements ?? []) as {
        key: string;
        operator: string;
        values?: string[];
      }[]) {
        if (r.operator === "In" && r.values?.length) labels[r.key] = r.values[0];
        if (r.key === "karpenter.k8s.aws/instance-gpu-count" && r.values?.length)
          gpus = Number(r.values[0]) || 8;
      }
      add({ name: String(m.metadata.name), labels, taints: t.spec?.taints ?? [], gpus });
    }
    if (m.kind === "ResourceFlavor" && Object.keys(spec?.nodeLabels ?? {}).length > 0) {
      add({ name: String(m.metadata.name), labels: { ...spec.nodeLabels }, taints: [GPU_TAINT], gpus: 8 });
    }
    // A model server pinned to a pool (rendered Deployment with a node selector).
    const pod = m.kind === "Deployment" ? spec?.template?.spec : undefined;
    const selector = pod?.nodeSelector as Record<string, string> | undefined;
    if (selector && Object.keys(selector).length > 0) {
      add({ name: String(m.metadata.name), labels: { ...selector }, taints: [GPU_TAINT], gpus: 8 });
    }
  }
  return [...pools.values()].filter((p) => Object.keys(p.labels).length > 0);
}

function node(
  name: string,
  zone: string,
  labels: Record<string, string>,
  taints: Pool["taints"],
  gpus: number,
): Manifest {
  const capacity: Record<string, string> = {
    cpu: "64",
    memory: "512Gi",
    pods: "110",
    "ephemeral-storage": "1Ti",
  };
  if (gpus > 0) capacity["nvidia.com/gpu"] = String(gpus);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": "e2e",
        type: "kwok",
        ...labels,
      },
    },
    spec: { taints },
    status: { capacity, allocatable: capacity },
  };
}

export function fakeNodes(objects: readonly Manifest[]): Manifest[] {
  const nodes = ZONES.map((z, i) =>
    node(`e2e-system-${i}`, z, { "sovereign.ai/node-role": "system" }, [], 0),
  );
  poolsOf(objects).forEach((p, pi) => {
    ZONES.forEach((z, i) =>
      nodes.push(
        node(`e2e-pool${pi}-${i}`, z, p.labels, p.taints.length > 0 ? p.taints : [GPU_TAINT], p.gpus),
      ),
    );
  });
  return nodes;
}
