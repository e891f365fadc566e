/**
 * The resource budget of the `local` stack: everything, platform included, must fit a laptop
 * kind cluster of 4 CPUs and 8 GiB. Rows are resource *requests* per component (all replicas);
 * the substrate's own rows are checked against what it renders, the platform's rows are the
 * budget each platform area is given (docs/local.md shows the same table).
 */
import { quantityMiB } from "./object-store";

export interface BudgetRow {
  readonly component: string;
  /** Who deploys it: `kind`, `substrate` or the platform area. */
  readonly owner: string;
  /** CPU request, e.g. `100m`. */
  readonly cpu: string;
  /** Memory request, e.g. `256Mi`. */
  readonly memory: string;
}

/** The laptop: `kind` on a Docker VM of 4 CPUs and 8 GiB. */
export const LAPTOP = { cpu: "4", memory: "8Gi" } as const;

export const LOCAL_BUDGET: readonly BudgetRow[] = [
  // kind's own pods: apiserver, etcd, controller-manager, scheduler, CoreDNS x2, kindnet, local-path.
  { component: "kind control plane and system pods", owner: "kind", cpu: "1000m", memory: "1536Mi" },
  { component: "SeaweedFS all-in-one", owner: "substrate", cpu: "100m", memory: "256Mi" },
  { component: "SeaweedFS bucket Job (runs once)", owner: "substrate", cpu: "50m", memory: "64Mi" },
  { component: "CloudNativePG operator", owner: "substrate", cpu: "50m", memory: "128Mi" },
  { component: "PostgreSQL (1 instance)", owner: "substrate", cpu: "100m", memory: "256Mi" },
  {
    component: "model servers (2 x llm-d inference simulator)",
    owner: "serving",
    cpu: "200m",
    memory: "256Mi",
  },
  { component: "gateway (1 replica)", owner: "gateway", cpu: "100m", memory: "128Mi" },
  { component: "OPA (1 replica)", owner: "policy", cpu: "50m", memory: "96Mi" },
  { component: "KEDA (operator and metrics server)", owner: "serving", cpu: "100m", memory: "192Mi" },
  {
    component: "Prometheus, its operator, Grafana, kube-state-metrics, node-exporter",
    owner: "observability",
    cpu: "340m",
    memory: "864Mi",
  },
  { component: "admission control (1 controller, 1 audit)", owner: "tenancy", cpu: "200m", memory: "512Mi" },
  { component: "Kueue controller", owner: "tenancy", cpu: "50m", memory: "128Mi" },
  { component: "Dex (local OIDC issuer)", owner: "gateway", cpu: "50m", memory: "64Mi" },
];

/** CPU quantity in millicores. */
export function cpuMillis(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m)?$/.exec(q);
  if (!m) throw new Error(`expected a CPU quantity like 100m or 2, found "${q}"`);
  return m[2] ? Number(m[1]) : Number(m[1]) * 1000;
}

/** Sum of a set of rows, in millicores and MiB. */
export function totals(rows: readonly BudgetRow[]): { cpuMillis: number; memoryMiB: number } {
  return {
    cpuMillis: rows.reduce((s, r) => s + cpuMillis(r.cpu), 0),
    memoryMiB: rows.reduce((s, r) => s + quantityMiB(r.memory), 0),
  };
}
