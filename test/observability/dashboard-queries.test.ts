/**
 * The trickier dashboard queries evaluated by the pinned promtool on synthetic series: the GPU
 * pool join, the chargeback table and the quota ratio return what the panel promises.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { DASHBOARD_DIR } from "../../stacks/wiring/observability";
import { toolPath } from "../helpers/tools";
import { withoutGrafanaVariables, type DashboardJson } from "./promql";

/** The expression of a panel's first query, Grafana variables set to "All". */
function panelExpr(file: string, title: string): string {
  const d = JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, file), "utf8")) as DashboardJson;
  const p = (d.panels ?? []).find((x) => x.title === title);
  if (!p?.targets?.[0]?.expr) throw new Error(`no panel "${title}" in ${file}`);
  return withoutGrafanaVariables(p.targets[0].expr);
}

interface ExprCase {
  readonly file: string;
  readonly panel: string;
  readonly series: readonly { series: string; values: string }[];
  readonly at: string;
  readonly expected: readonly { labels: string; value: number }[];
}

function runPromtool(c: ExprCase): { ok: boolean; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dash-eval-"));
  fs.writeFileSync(path.join(dir, "rules.yaml"), stringify({ groups: [] }));
  fs.writeFileSync(
    path.join(dir, "test.yaml"),
    stringify({
      rule_files: ["rules.yaml"],
      evaluation_interval: "1m",
      tests: [
        {
          interval: "1m",
          input_series: c.series,
          promql_expr_test: [{ expr: panelExpr(c.file, c.panel), eval_time: c.at, exp_samples: c.expected }],
        },
      ],
    }),
  );
  try {
    return {
      ok: true,
      out: execFileSync(toolPath("promtool"), ["test", "rules", "test.yaml"], {
        cwd: dir,
        encoding: "utf8",
        stdio: "pipe",
      }),
    };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

const gpuSeries = [
  {
    series: 'DCGM_FI_DEV_GPU_UTIL{node="n1",gpu="0",UUID="a",Hostname="n1",job="dcgm-exporter"}',
    values: "80x10",
  },
  {
    series: 'DCGM_FI_DEV_GPU_UTIL{node="n1",gpu="1",UUID="b",Hostname="n1",job="dcgm-exporter"}',
    values: "60x10",
  },
  {
    series: 'DCGM_FI_DEV_GPU_UTIL{node="n2",gpu="0",UUID="c",Hostname="n2",job="dcgm-exporter"}',
    values: "10x10",
  },
  {
    series: 'DCGM_FI_DEV_FB_USED{node="n1",gpu="0",UUID="a",Hostname="n1",job="dcgm-exporter"}',
    values: "12000x10",
  },
  {
    series: 'DCGM_FI_DEV_FB_FREE{node="n1",gpu="0",UUID="a",Hostname="n1",job="dcgm-exporter"}',
    values: "36000x10",
  },
  {
    series:
      'kube_node_labels{node="n1",label_sovereign_ai_gpu_pool="serving-l4",job="kube-state-metrics",instance="ksm"}',
    values: "1x10",
  },
  {
    series:
      'kube_node_labels{node="n2",label_sovereign_ai_gpu_pool="training-l40s",job="kube-state-metrics",instance="ksm"}',
    values: "1x10",
  },
  // a CPU node: no pool label, no GPUs
  { series: 'kube_node_labels{node="sys1",job="kube-state-metrics",instance="ksm"}', values: "1x10" },
];

const CASES: ExprCase[] = [
  {
    file: "gpus.json",
    panel: "Utilization by pool",
    series: gpuSeries,
    at: "5m",
    expected: [
      { labels: '{label_sovereign_ai_gpu_pool="serving-l4"}', value: 70 },
      { labels: '{label_sovereign_ai_gpu_pool="training-l40s"}', value: 10 },
    ],
  },
  {
    file: "gpus.json",
    panel: "Memory used by node and GPU",
    series: gpuSeries,
    at: "5m",
    expected: [{ labels: '{node="n1",gpu="0",label_sovereign_ai_gpu_pool="serving-l4"}', value: 0.25 }],
  },
  {
    file: "gateway-chargeback.json",
    panel: "Tokens in the selected range (chargeback)",
    series: [
      {
        series:
          'sovereign_gateway_tokens_total{team="legal",model="m70b",direction="in",pod="g1",job="gateway"}',
        values: "0+100x20",
      },
      {
        series:
          'sovereign_gateway_tokens_total{team="legal",model="m70b",direction="in",pod="g2",job="gateway"}',
        values: "0+50x20",
      },
      {
        series:
          'sovereign_gateway_tokens_total{team="finance",model="m8b",direction="out",pod="g1",job="gateway"}',
        values: "0+10x20",
      },
    ],
    at: "10m",
    // the range is 5m ($__range substituted): 5 minutes of 150 and of 10 tokens per minute
    expected: [
      { labels: '{team="legal",model="m70b",direction="in"}', value: 750 },
      { labels: '{team="finance",model="m8b",direction="out"}', value: 50 },
    ],
  },
  {
    file: "training.json",
    panel: "GPU quota use by team",
    series: [
      {
        series:
          'kueue_cluster_queue_resource_usage{cluster_queue="team-legal",cohort="sovereign",flavor="h100",resource="nvidia.com/gpu"}',
        values: "6x10",
      },
      {
        series:
          'kueue_cluster_queue_nominal_quota{cluster_queue="team-legal",cohort="sovereign",flavor="h100",resource="nvidia.com/gpu"}',
        values: "4x10",
      },
      {
        series:
          'kueue_cluster_queue_resource_usage{cluster_queue="team-legal",cohort="sovereign",flavor="h100",resource="cpu"}',
        values: "64x10",
      },
      {
        series:
          'kueue_cluster_queue_nominal_quota{cluster_queue="team-legal",cohort="sovereign",flavor="h100",resource="cpu"}',
        values: "16x10",
      },
    ],
    at: "5m",
    // borrowing: 6 GPUs in use on a nominal 4 (CPU ignored)
    expected: [{ labels: '{cluster_queue="team-legal"}', value: 1.5 }],
  },
];

describe("dashboard queries on synthetic series", () => {
  it.each(CASES)(
    "GIVEN $panel ($file) WHEN promtool evaluates it THEN it returns the expected series",
    (c) => {
      const r = runPromtool(c);
      expect(r.ok, r.out).toBe(true);
    },
  );

  it("GIVEN a wrong expectation WHEN promtool evaluates THEN it fails (the check can fail)", () => {
    const r = runPromtool({
      ...CASES[0],
      expected: [{ labels: '{label_sovereign_ai_gpu_pool="serving-l4"}', value: 71 }],
    });
    expect(r.ok).toBe(false);
  });
});
