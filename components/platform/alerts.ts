/**
 * The platform's alerting rules, as pure data. The observability component wraps them in a
 * PrometheusRule; tests run them through `promtool check rules` and `promtool test rules`.
 * Every expression uses only metric names listed in `components/lib/metrics.ts`, and every
 * alert has a runbook paragraph in `docs/runbooks.md` (headed by the alert name).
 */
import { PLATFORM_NAMESPACES } from "../lib/naming";

export type Severity = "critical" | "warning";

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity; readonly component: string };
  readonly annotations: {
    readonly summary: string;
    readonly description: string;
    readonly runbook_url: string;
  };
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

export interface AlertOptions {
  /**
   * Where runbooks live; each alert links `${runbookBase}#<alert name in lower case>`.
   * @default "docs/runbooks.md"
   */
  readonly runbookBase?: string;
  /** Waiting requests per model above which a growing queue alerts. @default 10 */
  readonly queueThreshold?: number;
  /** How long a model server may have no ready replica before alerting. @default 15m */
  readonly modelServerGrace?: string;
  /** How long a Kueue ClusterQueue may hold pending workloads without any admission. @default 1h */
  readonly kueuePendingFor?: string;
}

/** Anchor of an alert's runbook section (GitHub-style heading slug of the alert name). */
export function runbookAnchor(alert: string): string {
  return alert.toLowerCase();
}

type Def = Omit<AlertRule, "annotations" | "labels"> & {
  readonly severity: Severity;
  readonly component: string;
  readonly summary: string;
  readonly description: string;
};

/** The rule groups, one per area. */
export function alertRuleGroups(opts: AlertOptions = {}): RuleGroup[] {
  const base = opts.runbookBase ?? "docs/runbooks.md";
  const queue = opts.queueThreshold ?? 10;
  const serving = PLATFORM_NAMESPACES.serving;
  const rule = (d: Def): AlertRule => ({
    alert: d.alert,
    expr: d.expr,
    for: d.for,
    labels: { severity: d.severity, component: d.component },
    annotations: {
      summary: d.summary,
      description: d.description,
      runbook_url: `${base}#${runbookAnchor(d.alert)}`,
    },
  });
  return [
    {
      name: "sovereign.serving",
      rules: [
        rule({
          alert: "ModelServerUnavailable",
          expr: `kube_deployment_spec_replicas{namespace="${serving}"} > 0 unless on (namespace, deployment) kube_deployment_status_replicas_available{namespace="${serving}"} > 0`,
          for: opts.modelServerGrace ?? "15m",
          severity: "critical",
          component: "model-server",
          summary: "Model server {{ $labels.deployment }} has no available replica.",
          description:
            "{{ $labels.deployment }} wants replicas but none has been available for the grace period; requests for the model fail at the gateway.",
        }),
        rule({
          alert: "ModelQueueGrowing",
          expr: `sum by (model_name) (vllm:num_requests_waiting) > ${queue} and sum by (model_name) (deriv(vllm:num_requests_waiting[10m])) > 0`,
          for: "15m",
          severity: "warning",
          component: "model-server",
          summary: "Queue of {{ $labels.model_name }} keeps growing ({{ $value }} waiting).",
          description:
            "More than " +
            `${queue}` +
            " requests wait for {{ $labels.model_name }} and the queue has grown for 15 minutes: autoscaling is not absorbing the load (replicas at max, or GPU pool exhausted).",
        }),
        rule({
          alert: "AutoscalerErrors",
          expr: "sum by (namespace, scaledObject) (rate(keda_scaler_detail_errors_total[5m])) > 0",
          for: "10m",
          severity: "warning",
          component: "keda",
          summary: "KEDA cannot read the metric of {{ $labels.scaledObject }}.",
          description:
            "The scaler of {{ $labels.namespace }}/{{ $labels.scaledObject }} has failed for 10 minutes; the model server does not scale on its queue.",
        }),
      ],
    },
    {
      name: "sovereign.gpu",
      rules: [
        rule({
          alert: "GpuXidError",
          expr: "max by (node, gpu, UUID) (max_over_time(DCGM_FI_DEV_XID_ERRORS[5m])) > 0",
          for: "0m",
          severity: "critical",
          component: "gpu",
          summary: "GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID {{ $value }}.",
          description:
            "The NVIDIA driver reported an XID error on GPU {{ $labels.gpu }} ({{ $labels.UUID }}) of node {{ $labels.node }}.",
        }),
      ],
    },
    {
      name: "sovereign.gateway",
      rules: [
        rule({
          alert: "GatewayHighErrorRate",
          expr: 'sum(rate(sovereign_gateway_requests_total{status=~"5.."}[5m])) / sum(rate(sovereign_gateway_requests_total[5m])) > 0.05 and sum(rate(sovereign_gateway_requests_total[5m])) > 0.1',
          for: "5m",
          severity: "critical",
          component: "gateway",
          summary: "{{ $value | humanizePercentage }} of gateway requests fail with 5xx.",
          description: "More than 5% of gateway requests have answered 5xx for 5 minutes.",
        }),
        rule({
          alert: "GatewayDenialSpike",
          expr: "sum by (reason) (rate(sovereign_gateway_denials_total[10m])) / ignoring (reason) group_left () sum(rate(sovereign_gateway_requests_total[10m])) > 0.2 and ignoring (reason) sum(rate(sovereign_gateway_requests_total[10m])) > 0.05",
          for: "10m",
          severity: "warning",
          component: "gateway",
          summary: "{{ $value | humanizePercentage }} of gateway requests denied for {{ $labels.reason }}.",
          description:
            "More than 20% of requests have been denied for reason {{ $labels.reason }} for 10 minutes.",
        }),
        rule({
          alert: "GatewayCaptureSpillBacklog",
          expr: "sum(sovereign_gateway_capture_spill_records) > 0",
          for: "30m",
          severity: "warning",
          component: "gateway",
          summary: "{{ $value }} captured records wait on the gateway's local disk.",
          description:
            "Captured traffic has been spilling to local disk for 30 minutes instead of reaching the inference-log bucket.",
        }),
        rule({
          alert: "GatewayAuditRowsRefused",
          expr: "sum(increase(sovereign_gateway_audit_dead_letters_total[10m])) > 0",
          for: "0m",
          severity: "warning",
          component: "gateway",
          summary: "Postgres refused {{ $value }} audit rows; they are in the gateway's dead-letter store.",
          description:
            "Audit rows that cannot be stored (bad data) were moved to <spill dir>/audit/dead/ so the others keep flowing.",
        }),
        rule({
          alert: "GatewayAuditRowsLost",
          expr: "sum(increase(sovereign_gateway_audit_dropped_total[10m])) > 0",
          for: "0m",
          severity: "critical",
          component: "gateway",
          summary: "The gateway lost {{ $value }} audit rows.",
          description: "Audit rows could not even be written to the spill disk; the pod reports not ready.",
        }),
        rule({
          alert: "GatewayCaptureDropped",
          expr: "sum(increase(sovereign_gateway_capture_dropped_total[10m])) > 0",
          for: "0m",
          severity: "critical",
          component: "gateway",
          summary: "The gateway dropped {{ $value }} captured records.",
          description: "Capture queue and spill were full: captured records were lost.",
        }),
      ],
    },
    {
      name: "sovereign.policy",
      rules: [
        rule({
          alert: "OpaDecisionErrors",
          expr: 'sum(rate(sovereign_gateway_opa_errors_total[5m])) > 0.01 or sum(rate(http_request_duration_seconds_count{job="opa", handler="v1/data", code=~"5.."}[5m])) > 0.01',
          for: "5m",
          severity: "critical",
          component: "opa",
          summary: "Policy decisions are failing ({{ $value }} errors/s).",
          description:
            "OPA decisions fail or time out; the gateway fails closed, so affected requests are denied.",
        }),
        rule({
          alert: "OpaDecisionLatencyHigh",
          expr: 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="opa", handler="v1/data"}[5m]))) > 0.1',
          for: "10m",
          severity: "warning",
          component: "opa",
          summary: "OPA p99 decision latency is {{ $value | humanizeDuration }}.",
          description:
            "The 99th percentile of OPA decision latency has been above 100 ms for 10 minutes; close to the gateway's decision deadline.",
        }),
      ],
    },
    {
      name: "sovereign.data",
      rules: [
        rule({
          alert: "PostgresDown",
          expr: "min by (namespace, pod) (cnpg_collector_up) == 0",
          for: "5m",
          severity: "critical",
          component: "postgres",
          summary: "Postgres instance {{ $labels.pod }} is down.",
          description: "The CloudNativePG exporter of {{ $labels.pod }} cannot reach PostgreSQL.",
        }),
        rule({
          alert: "PostgresUnreachableFromGateway",
          expr: "sum(sovereign_gateway_audit_spill_records) > 0",
          for: "10m",
          severity: "critical",
          component: "postgres",
          summary: "{{ $value }} audit rows wait for Postgres.",
          description:
            "The gateway has been spilling audit rows for 10 minutes because Postgres does not accept them (any substrate, managed or in-cluster).",
        }),
      ],
    },
    {
      name: "sovereign.training",
      rules: [
        rule({
          alert: "KueueWorkloadPendingTooLong",
          expr: "sum by (cluster_queue) (kueue_pending_workloads) > 0 unless on (cluster_queue) sum by (cluster_queue) (increase(kueue_admitted_workloads_total[30m])) > 0",
          for: opts.kueuePendingFor ?? "1h",
          severity: "warning",
          component: "kueue",
          summary: "{{ $value }} workloads pending in {{ $labels.cluster_queue }} without admission.",
          description:
            "ClusterQueue {{ $labels.cluster_queue }} has held pending workloads and admitted none for the whole period.",
        }),
      ],
    },
    {
      name: "sovereign.targets",
      rules: [
        rule({
          alert: "MetricsTargetDown",
          expr: 'up{job=~"gateway|opa|model-server|kueue|keda|dcgm-exporter|cnpg"} == 0',
          for: "10m",
          severity: "warning",
          component: "observability",
          summary: "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}.",
          description:
            "The {{ $labels.job }} target has failed its scrapes for 10 minutes; its dashboards and alerts are blind.",
        }),
      ],
    },
  ];
}

/** Names of every alert, in group order. */
export function alertNames(opts: AlertOptions = {}): string[] {
  return alertRuleGroups(opts).flatMap((g) => g.rules.map((r) => r.alert));
}

/** The PrometheusRule object holding the groups. */
export function prometheusRule(
  name: string,
  namespace: string,
  labels: Readonly<Record<string, string>>,
  groups: readonly RuleGroup[],
): {
  apiVersion: "monitoring.coreos.com/v1";
  kind: "PrometheusRule";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: { groups: RuleGroup[] };
} {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name, namespace, labels: { ...labels } },
    spec: { groups: groups.map((g) => ({ name: g.name, rules: g.rules.map((r) => ({ ...r })) })) },
  };
}
