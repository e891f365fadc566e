/**
 * The monthly estimate of a stack (pure): per component, at minimum and maximum scale, from the
 * validated config through the same wiring function that builds the AWS substrate's args, and
 * per team for chargeback.
 */
import { INTERFACE_ENDPOINTS } from "../../components/aws/network";
import { KEY_PURPOSES } from "../../components/aws/keys";
import { GPU_FAMILIES } from "../../components/aws/gpu-families";
import type { StackConfig } from "../../stacks/config/schema";
import { awsSubstrateArgs } from "../../stacks/wiring/aws";
import { GPU_SIZES, HOURS_PER_MONTH, type RegionPrices, SPOT_DISCOUNT } from "./prices";

export interface Assumptions {
  /** Objects stored in S3 (models, captures, datasets), GB. */
  readonly s3Gb: number;
  /** Logs ingested per month (control plane, flow logs), GB. */
  readonly logsGb: number;
  /** Data through the NAT gateways per month, GB. */
  readonly natGb: number;
  /** Tokens per team over the month; absent teams count their daily token budget × 30. */
  readonly tokens: Readonly<Record<string, number>>;
}

export const DEFAULT_ASSUMPTIONS: Assumptions = { s3Gb: 100, logsGb: 10, natGb: 50, tokens: {} };

/** One line of the estimate; `min`/`max` in USD per month, absent when unpriced (`why`). */
export interface CostLine {
  readonly component: string;
  readonly detail: string;
  readonly min?: number;
  readonly max?: number;
  readonly why?: string;
}

export interface TeamCharge {
  readonly team: string;
  /** GPU-hours a month of the training quota: nominal, and with borrowing. */
  readonly trainingGpuHours: { readonly min: number; readonly max: number };
  readonly trainingCost?: { readonly min: number; readonly max: number };
  /** Share of serving, by tokens (0..1), and that share of the serving pools' cost at min..max. */
  readonly servingShare: number;
  readonly servingCost?: { readonly min: number; readonly max: number };
}

export interface Estimate {
  readonly stack: string;
  readonly region?: string;
  readonly lines: readonly CostLine[];
  readonly total: { readonly min: number; readonly max: number };
  readonly teams: readonly TeamCharge[];
  readonly notes: readonly string[];
}

const month = (hourly: number, count = 1) => hourly * HOURS_PER_MONTH * count;

interface PoolCost {
  readonly name: string;
  readonly purpose: "serving" | "training";
  readonly capacityType: "on-demand" | "spot";
  readonly instance?: string;
  readonly gpusPerNode: number;
  readonly nodes: { readonly min: number; readonly max: number };
  /** On-demand price of one node, per hour; absent when unpriced. */
  readonly nodeHour?: number;
}

function poolCosts(config: StackConfig, prices: RegionPrices | undefined): PoolCost[] {
  return config.gpuPools.map((p) => {
    const families = p.instanceFamilies ?? [];
    const gpusPerNode =
      p.gpusPerNode ?? Math.max(1, ...families.map((f) => GPU_FAMILIES[f]?.maxGpusPerInstance ?? 1));
    const minGpus = config.models
      .filter((m) => m.pool === p.name)
      .reduce((n, m) => n + m.replicas.min * (m.gpusPerReplica ?? 1), 0);
    const minNodes = Math.ceil(minGpus / gpusPerNode);
    const maxNodes = Math.max(minNodes, Math.floor(p.maxGpus / gpusPerNode));
    const instances = families.map((f) => GPU_SIZES[f]?.[gpusPerNode]).filter((i): i is string => !!i);
    const instance = instances.find((i) => prices?.ec2[i] !== undefined) ?? instances[0];
    return {
      name: p.name,
      purpose: p.purpose,
      capacityType: p.capacityType,
      instance,
      gpusPerNode,
      nodes: { min: minNodes, max: maxNodes },
      nodeHour: instance ? prices?.ec2[instance] : undefined,
    };
  });
}

function priced(
  component: string,
  detail: string,
  min: number | undefined,
  max = min,
  why?: string,
): CostLine {
  return min === undefined || max === undefined
    ? { component, detail, why: why ?? "no pinned price for this region" }
    : { component, detail, min, max };
}

export function estimate(
  stack: string,
  config: StackConfig,
  table: Readonly<Record<string, RegionPrices>>,
  a: Assumptions = DEFAULT_ASSUMPTIONS,
): Estimate {
  const notes: string[] = [];
  const lines: CostLine[] = [];
  let region: string | undefined;
  let prices: RegionPrices | undefined;
  if (config.substrate.kind === "aws") {
    region = config.substrate.region;
    prices = table[region];
    if (!prices) notes.push(`no pinned prices for ${region}: every line is unpriced (docs/cost.md: refresh)`);
    const args = awsSubstrateArgs(
      config,
      { stack },
      { accountId: "000000000000", partition: "aws", azNames: [] },
    );
    const p: RegionPrices = prices ?? { ec2: {}, rds: {} };
    const azs = args.network.azCount;
    lines.push(
      priced("control plane", "EKS cluster, standard support", p.eksControlPlane && month(p.eksControlPlane)),
    );
    const nats = args.network.egress === "nat" ? (args.network.natPerAz ? azs : 1) : 0;
    lines.push(
      priced(
        "NAT gateways",
        `${nats} NAT gateway(s) with public IPv4, ${a.natGb} GB processed`,
        p.natGatewayHour !== undefined && p.natGatewayGb !== undefined && p.publicIpv4Hour !== undefined
          ? month(p.natGatewayHour + p.publicIpv4Hour, nats) + (nats ? a.natGb * p.natGatewayGb : 0)
          : undefined,
      ),
    );
    const endpoints = INTERFACE_ENDPOINTS.length;
    lines.push(
      priced(
        "VPC endpoints",
        `${endpoints} interface endpoints × ${azs} AZs (the S3 gateway endpoint is free)`,
        p.interfaceEndpointHour && month(p.interfaceEndpointHour, endpoints * azs),
      ),
    );
    const sys = args.eks.systemNodes;
    const sysHour = p.ec2[sys.instanceType];
    lines.push(
      priced(
        "system nodes",
        `${sys.min}..${sys.max} × ${sys.instanceType}, on-demand`,
        sysHour && month(sysHour, sys.min),
        sysHour && month(sysHour, sys.max ?? sys.min),
      ),
    );
    for (const pool of poolCosts(config, prices)) {
      const what = `${pool.nodes.min}..${pool.nodes.max} × ${pool.instance ?? "?"} (${pool.gpusPerNode} GPUs)`;
      for (const cap of ["on-demand", "spot"] as const) {
        const factor = cap === "spot" ? 1 - SPOT_DISCOUNT : 1;
        const h = pool.nodeHour === undefined ? undefined : pool.nodeHour * factor;
        const mark = cap === pool.capacityType ? ", as configured" : "";
        const spotNote = cap === "spot" ? `, spot assumed ${SPOT_DISCOUNT * 100}% off` : "";
        lines.push(
          priced(
            `GPU pool ${pool.name} (${cap})`,
            `${what}${mark}${spotNote}`,
            h === undefined ? undefined : month(h, pool.nodes.min),
            h === undefined ? undefined : month(h, pool.nodes.max),
            pool.instance ? undefined : `no priced instance of ${pool.gpusPerNode} GPUs in its families`,
          ),
        );
      }
    }
    const db = args.database;
    const copies = db.multiAz ? 2 : 1;
    const dbHour = p.rds[db.instanceClass];
    lines.push(
      priced(
        "RDS",
        `${db.instanceClass}${db.multiAz ? " Multi-AZ" : ""}, ${db.storageGiB} GiB gp3`,
        dbHour !== undefined && p.rdsStorageGbMonth !== undefined
          ? month(dbHour, copies) + db.storageGiB * p.rdsStorageGbMonth * copies
          : undefined,
      ),
    );
    lines.push(
      priced(
        "S3 storage",
        `${a.s3Gb} GB Standard at ${p.s3StandardGbMonth ?? "?"} per GB-month`,
        p.s3StandardGbMonth && a.s3Gb * p.s3StandardGbMonth,
      ),
    );
    lines.push(
      priced(
        "logs",
        `${a.logsGb} GB/month ingested and kept a month (CloudWatch)`,
        p.logsIngestGb !== undefined && p.logsStoreGbMonth !== undefined
          ? a.logsGb * (p.logsIngestGb + p.logsStoreGbMonth)
          : undefined,
      ),
    );
    lines.push(
      priced(
        "KMS keys",
        `${KEY_PURPOSES.length} customer-managed keys`,
        p.kmsKeyMonth && p.kmsKeyMonth * KEY_PURPOSES.length,
      ),
    );
  } else {
    notes.push(
      `substrate ${config.substrate.kind}: the stack runs on a cluster you already pay for; no cloud prices, chargeback in GPU-hours`,
    );
  }

  const pools = poolCosts(config, prices);
  const teams = chargeback(config, pools, a);
  const total = {
    min: lines.reduce((s, l) => s + (l.min ?? 0), 0) - spotOrOnDemandNotChosen(lines, pools, "min"),
    max: lines.reduce((s, l) => s + (l.max ?? 0), 0) - spotOrOnDemandNotChosen(lines, pools, "max"),
  };
  if (lines.some((l) => l.why)) notes.push("the total leaves out the unpriced lines");
  return { stack, region, lines, total, teams, notes };
}

/** The total counts each GPU pool once, at its configured capacity type. */
function spotOrOnDemandNotChosen(
  lines: readonly CostLine[],
  pools: readonly PoolCost[],
  k: "min" | "max",
): number {
  let s = 0;
  for (const p of pools) {
    const other = p.capacityType === "spot" ? "on-demand" : "spot";
    s += lines.find((l) => l.component === `GPU pool ${p.name} (${other})`)?.[k] ?? 0;
  }
  return s;
}

function gpuHour(pool: PoolCost | undefined): number | undefined {
  if (!pool || pool.nodeHour === undefined) return undefined;
  const h = pool.nodeHour / pool.gpusPerNode;
  return pool.capacityType === "spot" ? h * (1 - SPOT_DISCOUNT) : h;
}

function chargeback(config: StackConfig, pools: readonly PoolCost[], a: Assumptions): TeamCharge[] {
  const training = pools.find((p) => p.purpose === "training");
  const trainingGpuHour = gpuHour(training);
  const serving = pools.filter((p) => p.purpose === "serving");
  const servingPriced = serving.every((p) => p.nodeHour !== undefined);
  const servingCost = (k: "min" | "max") =>
    serving.reduce((s, p) => s + month(gpuHour(p)! * p.gpusPerNode, p.nodes[k]), 0);
  const tokens = Object.fromEntries(
    config.teams.map((t) => [t.name, a.tokens[t.name] ?? t.budgets.tokensPerDay * 30]),
  );
  const all = Object.values(tokens).reduce((s, n) => s + n, 0);
  return config.teams.map((t) => {
    const hours = {
      min: t.gpuQuota.nominal * HOURS_PER_MONTH,
      max: (t.gpuQuota.nominal + t.gpuQuota.borrowingLimit) * HOURS_PER_MONTH,
    };
    const share = all > 0 ? tokens[t.name] / all : 0;
    return {
      team: t.name,
      trainingGpuHours: hours,
      trainingCost:
        trainingGpuHour === undefined
          ? undefined
          : { min: hours.min * trainingGpuHour, max: hours.max * trainingGpuHour },
      servingShare: share,
      servingCost:
        servingPriced && serving.length && config.substrate.kind === "aws"
          ? { min: share * servingCost("min"), max: share * servingCost("max") }
          : undefined,
    };
  });
}

const usd = (n: number | undefined) =>
  n === undefined
    ? "unpriced"
    : `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

export function renderEstimate(e: Estimate, source: string, date: string): string {
  const rows: string[][] = [["component", "at min", "at max", "detail"]];
  for (const l of e.lines)
    rows.push([l.component, usd(l.min), usd(l.max), l.why ? `${l.detail}; ${l.why}` : l.detail]);
  rows.push(["total (configured capacity types)", usd(e.total.min), usd(e.total.max), ""]);
  const table = (rs: string[][]) => {
    const w = rs[0].map((_, i) => Math.max(...rs.map((r) => r[i].length)));
    return rs
      .map((r) =>
        r
          .map((c, i) => c.padEnd(w[i]))
          .join("  ")
          .trimEnd(),
      )
      .join("\n");
  };
  const teams: string[][] = [["team", "training GPU-h", "training cost", "serving share", "serving cost"]];
  for (const t of e.teams)
    teams.push([
      t.team,
      `${t.trainingGpuHours.min}..${t.trainingGpuHours.max}`,
      t.trainingCost ? `${usd(t.trainingCost.min)}..${usd(t.trainingCost.max)}` : "unpriced",
      `${(t.servingShare * 100).toFixed(1)}%`,
      t.servingCost ? `${usd(t.servingCost.min)}..${usd(t.servingCost.max)}` : "unpriced",
    ]);
  return [
    `Monthly estimate for ${e.stack}${e.region ? ` (${e.region})` : ""}, USD, ${HOURS_PER_MONTH} h/month`,
    `Prices: ${source}, as of ${date}`,
    "",
    e.lines.length ? table(rows) : "(no cloud resources priced)",
    "",
    "Per team (chargeback):",
    table(teams),
    ...(e.notes.length ? ["", ...e.notes.map((n) => `note: ${n}`)] : []),
  ].join("\n");
}
