/**
 * Dashboards and alerts may only use metric names that some component exposes, as listed in
 * `components/lib/metrics.ts`; every dashboard is valid JSON whose queries promtool accepts.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  exposedMetricNames,
  HISTOGRAM_METRICS,
  isExposedMetric,
  SCRAPE_TARGETS,
} from "../../components/lib/metrics";
import { alertRuleGroups } from "../../components/platform/alerts";
import { DASHBOARD_DIR, loadDashboards } from "../../stacks/wiring/observability";
import { toolPath } from "../helpers/tools";
import {
  metricNames,
  panelExpressions,
  variableQueries,
  withoutGrafanaVariables,
  type DashboardJson,
} from "./promql";

const files = fs.readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith(".json"));
const dashboards = files.map((f) => ({
  file: f,
  json: JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, f), "utf8")) as DashboardJson,
}));

describe("PromQL metric-name extraction", () => {
  it("GIVEN expressions with functions, matchers, ranges, label lists and numbers WHEN parsed THEN only metric names come out", () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (model_name, le) (rate(vllm:time_to_first_token_seconds_bucket{model_name=~"$model"}[$__rate_interval])))',
      ),
    ).toEqual(["vllm:time_to_first_token_seconds_bucket"]);
    expect(
      metricNames(
        'avg by (pool) (DCGM_FI_DEV_GPU_UTIL * on (node) group_left (label_x) max by (node, label_x) (kube_node_labels{a="b"})) > 1e-9 and up offset 5m',
      ),
    ).toEqual(["DCGM_FI_DEV_GPU_UTIL", "kube_node_labels", "up"]);
    expect(metricNames("label_values(kube_node_labels, label_sovereign_ai_gpu_pool)")).toEqual([
      "kube_node_labels",
    ]);
    expect(metricNames('sum(rate(x_total{code=~"5.."}[5m])) / sum(rate(y_total[5m])) > 0.05')).toEqual([
      "x_total",
      "y_total",
    ]);
  });

  it("GIVEN a name no component exposes WHEN checked THEN it is rejected, and histogram series of a listed base are accepted", () => {
    expect(isExposedMetric("vllm:gpu_cache_usage_perc")).toBe(false);
    expect(isExposedMetric("vllm:time_to_first_token_seconds_bucket")).toBe(true);
    expect(isExposedMetric("sovereign_gateway_tokens_total")).toBe(true);
    expect(isExposedMetric("sovereign_gateway_tokens_total_bucket")).toBe(false);
  });
});

describe("dashboards", () => {
  it("GIVEN the dashboard folder WHEN listed THEN the four required dashboards are there and load", () => {
    expect(files.sort()).toEqual([
      "gateway-chargeback.json",
      "gpus.json",
      "model-serving.json",
      "training.json",
    ]);
    expect(loadDashboards().map((d) => d.name)).toEqual(files.map((f) => f.replace(/\.json$/, "")));
  });

  it("GIVEN a file that is not JSON WHEN loaded THEN the error names the file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dash-"));
    fs.writeFileSync(path.join(dir, "broken.json"), "{ nope");
    expect(() => loadDashboards(dir)).toThrow(/broken\.json/);
  });

  it.each(dashboards)(
    "GIVEN $file WHEN parsed THEN it has a unique uid, a title and queries on every panel",
    ({ json }) => {
      expect(json.uid).toMatch(/^sovereign-/);
      expect(json.title).toMatch(/^Sovereign \/ /);
      expect(panelExpressions(json).length).toBeGreaterThan(4);
      for (const p of json.panels ?? []) expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
    },
  );

  it("GIVEN all dashboards WHEN comparing uids THEN none repeats", () => {
    const uids = dashboards.map((d) => d.json.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it.each(dashboards)(
    "GIVEN $file WHEN reading every query THEN each metric name is one a component exposes",
    ({ json }) => {
      const exposed = exposedMetricNames();
      const used = [...panelExpressions(json).map((p) => p.expr), ...variableQueries(json)].flatMap(
        metricNames,
      );
      expect(used.length).toBeGreaterThan(0);
      expect(used.filter((n) => !isExposedMetric(n, exposed))).toEqual([]);
    },
  );

  it("GIVEN the issue's views WHEN looking at what the dashboards query THEN each required signal is shown", () => {
    const exprs = (file: string) =>
      panelExpressions(dashboards.find((d) => d.file === file)!.json)
        .map((p) => p.expr)
        .join("\n");
    const serving = exprs("model-serving.json");
    for (const m of [
      "vllm:request_success_total",
      "vllm:time_to_first_token_seconds_bucket",
      "vllm:inter_token_latency_seconds_bucket",
      "vllm:generation_tokens_total",
      "vllm:num_requests_waiting",
      "vllm:kv_cache_usage_perc",
    ])
      expect(serving).toContain(m);
    expect(serving).toContain("by (model_name");
    const gpus = exprs("gpus.json");
    for (const m of [
      "DCGM_FI_DEV_GPU_UTIL",
      "DCGM_FI_DEV_FB_USED",
      "DCGM_FI_DEV_POWER_USAGE",
      "DCGM_FI_DEV_XID_ERRORS",
    ])
      expect(gpus).toContain(m);
    expect(gpus).toContain("label_sovereign_ai_gpu_pool");
    const gw = exprs("gateway-chargeback.json");
    for (const m of [
      "sovereign_gateway_requests_total",
      "sovereign_gateway_added_latency_seconds_bucket",
      "sovereign_gateway_denials_total",
      "sovereign_gateway_tokens_total",
    ])
      expect(gw).toContain(m);
    expect(gw).toContain("by (team, model, direction)");
    expect(gw).toContain("by (reason)");
    const training = exprs("training.json");
    for (const m of [
      "kueue_pending_workloads",
      "kueue_admitted_active_workloads",
      "kueue_cluster_queue_resource_usage",
    ])
      expect(training).toContain(m);
  });

  it("GIVEN every dashboard query WHEN promtool checks it as a recording rule THEN it is valid PromQL", () => {
    const rules = dashboards.flatMap(({ file, json }) =>
      panelExpressions(json).map((p, i) => ({
        record: `dashboard:${file.replace(/\W/g, "_")}:${i}`,
        expr: withoutGrafanaVariables(p.expr),
      })),
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dash-rules-"));
    fs.writeFileSync(path.join(dir, "rules.yaml"), stringify({ groups: [{ name: "dashboards", rules }] }));
    let out = "";
    let ok = true;
    try {
      out = execFileSync(toolPath("promtool"), ["check", "rules", "rules.yaml"], {
        cwd: dir,
        encoding: "utf8",
        stdio: "pipe",
      });
    } catch (e) {
      ok = false;
      out = String((e as { stdout?: string }).stdout) + String((e as { stderr?: string }).stderr);
    }
    expect(ok, out).toBe(true);
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

describe("alert expressions", () => {
  it("GIVEN every alert WHEN reading its expression THEN each metric name is one a component exposes", () => {
    const exposed = exposedMetricNames();
    for (const r of alertRuleGroups().flatMap((g) => g.rules)) {
      const used = metricNames(r.expr);
      expect(used.length, r.alert).toBeGreaterThan(0);
      expect(
        used.filter((n) => !isExposedMetric(n, exposed)),
        r.alert,
      ).toEqual([]);
    }
  });

  it("GIVEN the scrape targets WHEN listing what each exposes THEN every target lists metrics and at least one is used by a dashboard or alert", () => {
    const used = new Set([
      ...dashboards.flatMap(({ json }) => panelExpressions(json).flatMap((p) => metricNames(p.expr))),
      ...alertRuleGroups().flatMap((g) => g.rules.flatMap((r) => metricNames(r.expr))),
    ]);
    for (const [key, t] of Object.entries(SCRAPE_TARGETS)) {
      expect(t.metrics.length, key).toBeGreaterThan(0);
      expect(
        [...used].some((n) => t.metrics.some((m) => n === m || n.startsWith(`${m}_`))),
        `${key} is scraped but nothing reads it`,
      ).toBe(true);
    }
  });
});

describe("metric lists", () => {
  it("GIVEN the histogram list WHEN compared with the component lists THEN every histogram is listed by a component", () => {
    const exposed = exposedMetricNames();
    for (const h of HISTOGRAM_METRICS) expect(exposed.has(h), h).toBe(true);
  });
});

describe("runbooks", () => {
  it("GIVEN every alert WHEN reading docs/runbooks.md THEN it has its own heading followed by a runbook paragraph", () => {
    const doc = fs.readFileSync(path.resolve(__dirname, "../../docs/runbooks.md"), "utf8");
    for (const r of alertRuleGroups().flatMap((g) => g.rules)) {
      const at = doc.indexOf(`\n### ${r.alert}\n`);
      expect(at, r.alert).toBeGreaterThan(0);
      const body = doc.slice(at + r.alert.length + 6).split(/\n#{2,3} /)[0];
      expect(body.trim().length, r.alert).toBeGreaterThan(200);
    }
  });
});
