/**
 * Image invariants of a whole program: every third-party chart release pins every image of its
 * chart table, through the stack's registry mirrors; every image anywhere (chart values, the
 * kit's own workloads, the model-server chart) is pinned and comes from a registry
 * `policy.allowedRegistries` admits.
 */
import { expect } from "vitest";
import type { ChartImage } from "../../components/lib/chart-images";
import { KARPENTER } from "../../components/aws/versions";
import { isUnpinned, mirrorImage, normalizeRegistry, parseImage } from "../../components/lib/images";
import { CHARTS, KUBE_PROMETHEUS_STACK_CHART, TENANCY_CHARTS } from "../../components/lib/versions";
import { CHART_IMAGE_TABLES, type ChartImageTable } from "../../stacks/config/image-plan";
import { MODEL_SERVER_CHART } from "../../stacks/wiring/serving";
import type { StackConfig } from "../../stacks/config/schema";
import { objectOf } from "./k8s-schema";
import { valueOf } from "./mocks";
import type { StackRun } from "./stack";

/** Chart name (as a Release names it) → its image table. */
const TABLE_OF_CHART: Readonly<Record<string, ChartImageTable>> = {
  [CHARTS.nvidiaDevicePlugin.chart]: "nvidiaDevicePlugin",
  [CHARTS.dcgmExporter.chart]: "dcgmExporter",
  [CHARTS.keda.chart]: "keda",
  [CHARTS.seaweedfs.chart]: "seaweedfs",
  [CHARTS.cloudnativePg.chart]: "cloudnativePg",
  [CHARTS.certManager.chart]: "certManager",
  [TENANCY_CHARTS.kueue.chart]: "kueue",
  [TENANCY_CHARTS.gatekeeper.chart]: "gatekeeper",
  [KUBE_PROMETHEUS_STACK_CHART.chart]: "kubePrometheusStack",
  [KARPENTER.chart]: "karpenter",
};

type Values = Record<string, unknown>;

function at(values: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Values)[k] : undefined), values);
}

/** The reference a chart renders for one table entry, read back from the release values. */
export function renderedImage(values: Values, entry: ChartImage): string {
  const base = at(values, entry.path);
  const f = entry.fields;
  const get = (dotted: string) => at(base, dotted.split("."));
  if ("image" in f) return String(get(f.image));
  const repo =
    "registry" in f ? `${String(get(f.registry))}/${String(get(f.repository))}` : String(get(f.repository));
  const tag = get(f.tag);
  return tag === undefined ? repo : `${repo}:${String(tag)}`;
}

/** String values under an `image` key, anywhere in a values tree. */
function imageStrings(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => imageStrings(x, out));
  else if (v && typeof v === "object")
    for (const [k, x] of Object.entries(v)) {
      if (k === "image" && typeof x === "string") out.push(x);
      else imageStrings(x, out);
    }
  return out;
}

function podImages(obj: Values): string[] {
  const spec =
    at(obj, ["spec", "template", "spec"]) ?? at(obj, ["spec", "jobTemplate", "spec", "template", "spec"]);
  if (!spec || typeof spec !== "object") return [];
  const s = spec as Values;
  return ["initContainers", "containers"].flatMap((k) =>
    Array.isArray(s[k]) ? (s[k] as Values[]).map((c) => String(c.image)) : [],
  );
}

export async function assertImageInvariants(run: StackRun, config: StackConfig): Promise<void> {
  const out = run.outputs as Values;
  const mirrors =
    out.registryMirrors !== undefined
      ? ((await valueOf(out.registryMirrors as never)) as Record<string, string>)
      : config.registryMirrors;
  const allowed = config.policy.allowedRegistries.map(normalizeRegistry);
  // `table`: a chart image, whose tag the exact comparison with its table entry already checks
  // (entries without a tag keep the chart version's own default).
  const seen: { image: string; where: string; table?: boolean }[] = [];

  for (const r of run.recorder.ofType("kubernetes:helm.sh/v3:Release")) {
    const chart = String(r.inputs.chart);
    const values = (r.inputs.values ?? {}) as Values;
    if (chart === MODEL_SERVER_CHART) {
      for (const i of imageStrings(values)) seen.push({ image: i, where: `${r.name} values` });
      continue;
    }
    const key = TABLE_OF_CHART[chart];
    expect(
      key,
      `release ${r.name} installs chart ${chart}, which has no image table (CHART_IMAGE_TABLES)`,
    ).toBeDefined();
    for (const entry of CHART_IMAGE_TABLES[key] as readonly ChartImage[]) {
      const rendered = renderedImage(values, entry);
      expect(rendered, `${r.name}: ${entry.role} at ${entry.path.join(".")}`).toBe(
        mirrorImage(entry.image, mirrors),
      );
      seen.push({ image: rendered, where: `${r.name} ${entry.role}`, table: true });
    }
  }
  for (const r of run.recorder.resources) {
    const obj = objectOf(r);
    if (obj) for (const i of podImages(obj)) seen.push({ image: i, where: `${obj.kind} ${r.name}` });
  }

  expect(seen.length).toBeGreaterThan(10);
  for (const { image, where, table } of seen) {
    const ref = parseImage(image);
    expect(allowed, `${where}: ${image} comes from a registry admission rejects`).toContain(ref.registry);
    if (!table) expect(isUnpinned(image), `${where}: ${image} is not pinned`).toBe(false);
  }
}
