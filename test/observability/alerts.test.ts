/**
 * Alert rules through the pinned promtool: `check rules` on the rules exactly as deployed, and
 * `test rules` with, for every alert, a series that must fire it and one that must not.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { alertNames, alertRuleGroups, type AlertRule } from "../../components/platform/alerts";
import { toolPath } from "../helpers/tools";

interface Series {
  readonly series: string;
  readonly values: string;
}
interface Case {
  /** Series that must fire the alert at `at`, with these labels (besides alertname/severity/component). */
  readonly firing: {
    readonly series: readonly Series[];
    readonly at: string;
    readonly labels: Record<string, string>;
  };
  /** Series that must not fire it at `at`. */
  readonly quiet: { readonly series: readonly Series[]; readonly at: string };
}

const S = (series: string, values: string): Series => ({ series, values });
const serving = 'namespace="sovereign-serving",deployment="model-chat"';
const opaBucket = (le: string, values: string) =>
  S(
    `http_request_duration_seconds_bucket{job="opa",handler="v1/data",code="200",method="POST",le="${le}"}`,
    values,
  );

const CASES: Record<string, Case> = {
  ModelServerUnavailable: {
    firing: {
      series: [
        S(`kube_deployment_spec_replicas{${serving}}`, "1x40"),
        S(`kube_deployment_status_replicas_available{${serving}}`, "0x40"),
      ],
      at: "30m",
      labels: { namespace: "sovereign-serving", deployment: "model-chat" },
    },
    quiet: {
      series: [
        S(`kube_deployment_spec_replicas{${serving}}`, "1x40"),
        S(`kube_deployment_status_replicas_available{${serving}}`, "1x40"),
        // scaled to zero by KEDA: wanted 0, available 0 is not an outage
        S('kube_deployment_spec_replicas{namespace="sovereign-serving",deployment="model-idle"}', "0x40"),
        S(
          'kube_deployment_status_replicas_available{namespace="sovereign-serving",deployment="model-idle"}',
          "0x40",
        ),
      ],
      at: "30m",
    },
  },
  ModelQueueGrowing: {
    firing: {
      series: [S('vllm:num_requests_waiting{model_name="chat",pod="p1"}', "0+2x60")],
      at: "40m",
      labels: { model_name: "chat" },
    },
    // long but stable queue: scaling keeps up
    quiet: { series: [S('vllm:num_requests_waiting{model_name="chat",pod="p1"}', "50x60")], at: "40m" },
  },
  AutoscalerErrors: {
    firing: {
      series: [
        S(
          'keda_scaler_detail_errors_total{namespace="sovereign-serving",scaledObject="model-chat",scaler="prometheusScaler"}',
          "0+1x40",
        ),
      ],
      at: "30m",
      labels: { namespace: "sovereign-serving", scaledObject: "model-chat" },
    },
    quiet: {
      series: [
        S(
          'keda_scaler_detail_errors_total{namespace="sovereign-serving",scaledObject="model-chat",scaler="prometheusScaler"}',
          "5x40",
        ),
      ],
      at: "30m",
    },
  },
  GpuXidError: {
    firing: {
      series: [S('DCGM_FI_DEV_XID_ERRORS{node="gpu-1",gpu="0",UUID="GPU-1",Hostname="gpu-1"}', "0x5 79x10")],
      at: "10m",
      labels: { node: "gpu-1", gpu: "0", UUID: "GPU-1" },
    },
    quiet: {
      series: [S('DCGM_FI_DEV_XID_ERRORS{node="gpu-1",gpu="0",UUID="GPU-1",Hostname="gpu-1"}', "0x20")],
      at: "10m",
    },
  },
  GatewayHighErrorRate: {
    firing: {
      series: [
        S('sovereign_gateway_requests_total{team="a",model="chat",endpoint="chat",status="500"}', "0+10x30"),
        S('sovereign_gateway_requests_total{team="a",model="chat",endpoint="chat",status="200"}', "0+60x30"),
      ],
      at: "20m",
      labels: {},
    },
    quiet: {
      series: [
        S('sovereign_gateway_requests_total{team="a",model="chat",endpoint="chat",status="500"}', "0+1x30"),
        S('sovereign_gateway_requests_total{team="a",model="chat",endpoint="chat",status="200"}', "0+600x30"),
      ],
      at: "20m",
    },
  },
  GatewayDenialSpike: {
    firing: {
      series: [
        S('sovereign_gateway_denials_total{team="a",reason="budget"}', "0+30x40"),
        S('sovereign_gateway_requests_total{team="a",model="chat",endpoint="chat",status="429"}', "0+60x40"),
      ],
      at: "30m",
      labels: { reason: "budget" },
    },
    quiet: {
      series: [
        S('sovereign_gateway_denials_total{team="a",reason="budget"}', "0+1x40"),
        S('sovereign_gateway_requests_total{team="a",model="chat",endpoint="chat",status="200"}', "0+600x40"),
      ],
      at: "30m",
    },
  },
  GatewayCaptureSpillBacklog: {
    firing: {
      series: [S('sovereign_gateway_capture_spill_records{pod="gw-1"}', "500x60")],
      at: "45m",
      labels: {},
    },
    // spilled, then drained once the bucket was back
    quiet: { series: [S('sovereign_gateway_capture_spill_records{pod="gw-1"}', "500x10 0x50")], at: "45m" },
  },
  GatewayCaptureDropped: {
    firing: {
      series: [S('sovereign_gateway_capture_dropped_total{pod="gw-1"}', "0x10 0+5x20")],
      at: "20m",
      labels: {},
    },
    quiet: { series: [S('sovereign_gateway_capture_dropped_total{pod="gw-1"}', "3x30")], at: "20m" },
  },
  GatewayAuditRowsRefused: {
    firing: {
      series: [S('sovereign_gateway_audit_dead_letters_total{pod="gw-1"}', "0x10 0+1x20")],
      at: "20m",
      labels: {},
    },
    quiet: { series: [S('sovereign_gateway_audit_dead_letters_total{pod="gw-1"}', "2x30")], at: "20m" },
  },
  GatewayAuditRowsLost: {
    firing: {
      series: [S('sovereign_gateway_audit_dropped_total{pod="gw-1"}', "0x10 0+3x20")],
      at: "20m",
      labels: {},
    },
    quiet: { series: [S('sovereign_gateway_audit_dropped_total{pod="gw-1"}', "4x30")], at: "20m" },
  },
  OpaDecisionErrors: {
    firing: {
      series: [S('sovereign_gateway_opa_errors_total{pod="gw-1"}', "0+6x30")],
      at: "20m",
      labels: {},
    },
    quiet: {
      series: [
        S('sovereign_gateway_opa_errors_total{pod="gw-1"}', "0x30"),
        S(
          'http_request_duration_seconds_count{job="opa",handler="v1/data",code="200",method="POST"}',
          "0+600x30",
        ),
      ],
      at: "20m",
    },
  },
  OpaDecisionLatencyHigh: {
    firing: {
      series: [opaBucket("0.05", "0x40"), opaBucket("0.25", "0+60x40"), opaBucket("+Inf", "0+60x40")],
      at: "30m",
      labels: {},
    },
    quiet: {
      series: [opaBucket("0.005", "0+60x40"), opaBucket("0.25", "0+60x40"), opaBucket("+Inf", "0+60x40")],
      at: "30m",
    },
  },
  PostgresDown: {
    firing: {
      series: [S('cnpg_collector_up{namespace="sovereign-data",pod="pg-1",cluster="pg"}', "0x20")],
      at: "10m",
      labels: { namespace: "sovereign-data", pod: "pg-1" },
    },
    quiet: {
      series: [S('cnpg_collector_up{namespace="sovereign-data",pod="pg-1",cluster="pg"}', "1x20")],
      at: "10m",
    },
  },
  PostgresUnreachableFromGateway: {
    firing: {
      series: [S('sovereign_gateway_audit_spill_records{pod="gw-1"}', "20x30")],
      at: "20m",
      labels: {},
    },
    quiet: { series: [S('sovereign_gateway_audit_spill_records{pod="gw-1"}', "20x3 0x27")], at: "20m" },
  },
  KueueWorkloadPendingTooLong: {
    firing: {
      series: [S('kueue_pending_workloads{cluster_queue="team-a",status="active"}', "2x120")],
      at: "100m",
      labels: { cluster_queue: "team-a" },
    },
    // a busy queue that keeps admitting is not stuck
    quiet: {
      series: [
        S('kueue_pending_workloads{cluster_queue="team-a",status="active"}', "2x120"),
        S('kueue_admitted_workloads_total{cluster_queue="team-a"}', "0+1x120"),
      ],
      at: "100m",
    },
  },
  MetricsTargetDown: {
    firing: {
      series: [S('up{job="gateway",instance="10.0.0.1:8080",namespace="sovereign-gateway"}', "0x20")],
      at: "15m",
      labels: { job: "gateway", instance: "10.0.0.1:8080", namespace: "sovereign-gateway" },
    },
    quiet: {
      series: [S('up{job="gateway",instance="10.0.0.1:8080",namespace="sovereign-gateway"}', "1x20")],
      at: "15m",
    },
  },
};

const groups = alertRuleGroups();
const byName = new Map<string, AlertRule>(groups.flatMap((g) => g.rules.map((r) => [r.alert, r] as const)));

function promtool(args: string[], cwd: string): { ok: boolean; out: string } {
  try {
    const out = execFileSync(toolPath("promtool"), args, { cwd, encoding: "utf8", stdio: "pipe" });
    return { ok: true, out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-rules-"));
}

/** Rules without annotations: promtool compares rendered annotations, which `check rules` covers. */
function rulesForUnitTests(): string {
  return stringify({
    groups: groups.map((g) => ({
      name: g.name,
      rules: g.rules.map((r) => ({ alert: r.alert, expr: r.expr, for: r.for, labels: r.labels })),
    })),
  });
}

function unitTest(alert: string, c: Case): Record<string, unknown> {
  const rule = byName.get(alert)!;
  return {
    rule_files: ["rules.yaml"],
    evaluation_interval: "1m",
    tests: [
      {
        name: `${alert} fires`,
        interval: "1m",
        input_series: c.firing.series,
        alert_rule_test: [
          {
            eval_time: c.firing.at,
            alertname: alert,
            exp_alerts: [{ exp_labels: { ...c.firing.labels, ...rule.labels } }],
          },
        ],
      },
      {
        name: `${alert} stays quiet`,
        interval: "1m",
        input_series: c.quiet.series,
        alert_rule_test: [{ eval_time: c.quiet.at, alertname: alert, exp_alerts: [] }],
      },
    ],
  };
}

describe("alert rules", () => {
  it("GIVEN the deployed rule groups WHEN promtool checks them THEN they are valid", () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "rules.yaml"), stringify({ groups }));
    const r = promtool(["check", "rules", "rules.yaml"], dir);
    expect(r.out).toContain(`SUCCESS: ${byName.size} rules found`);
    expect(r.ok, r.out).toBe(true);
  });

  it("GIVEN the issue's required alerts WHEN listing the rules THEN each one exists", () => {
    for (const required of [
      "ModelServerUnavailable",
      "ModelQueueGrowing",
      "GpuXidError",
      "GatewayHighErrorRate",
      "GatewayDenialSpike",
      "OpaDecisionErrors",
      "OpaDecisionLatencyHigh",
      "GatewayCaptureSpillBacklog",
      "PostgresDown",
      "PostgresUnreachableFromGateway",
      "KueueWorkloadPendingTooLong",
    ])
      expect(alertNames()).toContain(required);
  });

  it("GIVEN every alert WHEN looking for its unit test THEN a firing and a quiet case exist", () => {
    expect(Object.keys(CASES).sort()).toEqual([...byName.keys()].sort());
  });

  it.each(Object.entries(CASES))(
    "GIVEN %s WHEN promtool runs its firing and quiet series THEN it fires exactly on the firing one",
    (alert, c) => {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, "rules.yaml"), rulesForUnitTests());
      fs.writeFileSync(path.join(dir, "test.yaml"), stringify(unitTest(alert, c)));
      const r = promtool(["test", "rules", "test.yaml"], dir);
      expect(r.ok, r.out).toBe(true);
      expect(r.out).toContain("SUCCESS");
    },
  );

  it("GIVEN a firing series WHEN the quiet expectation is used instead THEN promtool fails (the test can fail)", () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "rules.yaml"), rulesForUnitTests());
    const c = CASES.GatewayCaptureSpillBacklog;
    const wrong = unitTest("GatewayCaptureSpillBacklog", {
      firing: c.firing,
      quiet: { series: c.firing.series, at: c.firing.at },
    });
    fs.writeFileSync(path.join(dir, "test.yaml"), stringify(wrong));
    const r = promtool(["test", "rules", "test.yaml"], dir);
    expect(r.ok).toBe(false);
  });

  it("GIVEN the rules WHEN reading labels and annotations THEN each has severity, component, summary and a runbook link", () => {
    for (const r of byName.values()) {
      expect(["critical", "warning"]).toContain(r.labels.severity);
      expect(r.labels.component).not.toBe("");
      expect(r.annotations.summary).not.toBe("");
      expect(r.annotations.runbook_url).toBe(`docs/runbooks.md#${r.alert.toLowerCase()}`);
    }
  });
});
