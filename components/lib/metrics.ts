/**
 * The one list of what each component exposes to Prometheus and how it is scraped. Dashboards
 * and alert rules may use only metric names listed here (a test checks), and each component
 * must label its pods (and Service, for a ServiceMonitor) and name its metrics port as listed.
 * The observability component creates one ServiceMonitor or PodMonitor per entry of
 * `SCRAPE_TARGETS`; no other component creates scrape objects.
 */
import {
  MODEL_CA_BUNDLE_KEY,
  MODEL_CA_BUNDLE_SECRET,
  MODEL_SCRAPE_SERVER_NAME,
  MODEL_SERVER_PORT_NAME,
} from "./model-tls";
import { PLATFORM_NAMESPACES } from "./naming";
import { KUEUE_CA_BUNDLE_KEY, KUEUE_CA_BUNDLE_SECRET, KUEUE_METRICS_SERVER_NAME } from "./kueue-tls";

export interface ScrapeTarget {
  readonly namespace: string;
  /** Labels on the Service (ServiceMonitor) or Pods (PodMonitor) to select. */
  readonly selector: Readonly<Record<string, string>>;
  /** Label values to leave out even when the selector matches (`NotIn`; an absent label passes). @default {} */
  readonly exclude?: Readonly<Record<string, readonly string[]>>;
  readonly kind: "ServiceMonitor" | "PodMonitor";
  /** Name of the metrics port. */
  readonly port: string;
  /**
   * The container port behind `port`: the monitoring namespace's egress and the target
   * namespace's ingress admit Prometheus on it (NetworkPolicies name ports by number).
   */
  readonly containerPort: number;
  readonly path: string;
  /** Scheme of the metrics endpoint. @default http */
  readonly scheme?: "http" | "https";
  /**
   * The endpoint authenticates scrapers with Kubernetes tokens (controller-runtime secure
   * metrics): Prometheus sends its ServiceAccount token. The server's certificate is verified
   * as `tls` says (never skipped). @default false
   */
  readonly kubernetesAuth?: boolean;
  /**
   * An https endpoint with a certificate from a private CA: Prometheus verifies it with the CA in
   * this Secret of its own namespace and checks `serverName` (it scrapes pod addresses).
   * @default none
   */
  readonly tls?: {
    readonly caSecret: { readonly name: string; readonly key: string };
    readonly serverName: string;
  };
  /**
   * Keep the target's own `namespace`/`pod` labels when they clash with the scrape's (KEDA
   * labels each series with the ScaledObject's namespace). @default false
   */
  readonly honorLabels?: boolean;
  /** Metric names the component exposes (histograms by base name). */
  readonly metrics: readonly string[];
}

/**
 * Metric names the gateway exposes (prom-client, `/metrics` on the separate metrics port).
 * `model` label values are catalog names or `other`.
 */
export const GATEWAY_METRICS = [
  "sovereign_gateway_requests_total", // counter {team, model, endpoint, status}
  "sovereign_gateway_request_duration_seconds", // histogram {endpoint}: whole request
  "sovereign_gateway_added_latency_seconds", // histogram {endpoint}: time spent in the gateway itself
  "sovereign_gateway_time_to_first_byte_seconds", // histogram {model}: streaming
  "sovereign_gateway_tokens_total", // counter {team, model, direction: in|out}
  "sovereign_gateway_denials_total", // counter {team, reason}
  "sovereign_gateway_opa_errors_total", // counter
  "sovereign_gateway_policy_reload_errors_total", // counter: changed policy or data files that did not load
  "sovereign_gateway_upstream_errors_total", // counter {model}
  "sovereign_gateway_capture_queue_depth", // gauge
  "sovereign_gateway_capture_spill_records", // gauge: records waiting on local disk
  "sovereign_gateway_capture_dropped_total", // counter
  "sovereign_gateway_audit_spill_records", // gauge: audit rows waiting for Postgres
  "sovereign_gateway_audit_dead_letters_total", // counter: audit rows Postgres refused, kept in the dead-letter store
  "sovereign_gateway_audit_dropped_total", // counter: audit rows that could not be kept at all (spill disk failed)
  "sovereign_gateway_route_picks_total", // counter {upstream, reason}: replica choices (routing across replicas)
  "sovereign_gateway_route_replicas", // gauge {upstream, state: ready|ejected}: discovered replicas
  "sovereign_gateway_route_ejections_total", // counter {upstream}: outlier ejections
] as const;

/**
 * vLLM (V1 engine, v0.11) on `/metrics` of the API port; every series carries `model_name`
 * (the served model name). The CPU simulator of the local stack exposes the same names.
 */
export const VLLM_METRICS = [
  "vllm:num_requests_running", // gauge
  "vllm:num_requests_waiting", // gauge: the queue KEDA scales on
  "vllm:kv_cache_usage_perc", // gauge 0..1
  "vllm:prompt_tokens_total", // counter
  "vllm:generation_tokens_total", // counter
  "vllm:request_success_total", // counter {finished_reason}
  "vllm:num_preemptions_total", // counter
  "vllm:prefix_cache_queries_total", // counter
  "vllm:prefix_cache_hits_total", // counter
  "vllm:time_to_first_token_seconds", // histogram
  "vllm:inter_token_latency_seconds", // histogram
  "vllm:e2e_request_latency_seconds", // histogram
  "vllm:request_queue_time_seconds", // histogram
  "vllm:request_prompt_tokens", // histogram
  "vllm:request_generation_tokens", // histogram
  "vllm:lora_requests_info", // gauge {running_lora_adapters, waiting_lora_adapters}
] as const;

/**
 * NVIDIA DCGM exporter default counters (port 9400). Series carry `gpu`, `UUID`, `modelName`
 * and `Hostname`; the scrape adds `node` from the pod's node.
 */
export const DCGM_METRICS = [
  "DCGM_FI_DEV_GPU_UTIL", // gauge %
  "DCGM_FI_DEV_MEM_COPY_UTIL", // gauge %
  "DCGM_FI_DEV_FB_USED", // gauge MiB
  "DCGM_FI_DEV_FB_FREE", // gauge MiB
  "DCGM_FI_DEV_POWER_USAGE", // gauge W
  "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", // counter mJ
  "DCGM_FI_DEV_GPU_TEMP", // gauge C
  "DCGM_FI_DEV_SM_CLOCK", // gauge MHz
  "DCGM_FI_DEV_MEM_CLOCK", // gauge MHz
  "DCGM_FI_DEV_XID_ERRORS", // gauge: last XID error code (0 = none)
  "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", // counter
] as const;

/** OPA server `/metrics` (same port as the REST API): Go runtime plus per-handler latency. */
export const OPA_METRICS = [
  "http_request_duration_seconds", // histogram {code, handler, method}; handler="v1/data" for decisions
  "go_goroutines",
  "go_memstats_alloc_bytes",
] as const;

/** Kueue controller manager (secure metrics on 8443). */
export const KUEUE_METRICS = [
  "kueue_pending_workloads", // gauge {cluster_queue, status: active|inadmissible}
  "kueue_admitted_workloads_total", // counter {cluster_queue}
  "kueue_admitted_active_workloads", // gauge {cluster_queue}
  "kueue_reserving_active_workloads", // gauge {cluster_queue}
  "kueue_quota_reserved_workloads_total", // counter {cluster_queue}
  "kueue_evicted_workloads_total", // counter {cluster_queue, reason}
  "kueue_admission_attempts_total", // counter {result}
  "kueue_admission_wait_time_seconds", // histogram {cluster_queue}
  "kueue_cluster_queue_status", // gauge {cluster_queue, status}
  "kueue_cluster_queue_resource_usage", // gauge {cohort, cluster_queue, flavor, resource}
  "kueue_cluster_queue_resource_reservation", // gauge {cohort, cluster_queue, flavor, resource}
  "kueue_cluster_queue_nominal_quota", // gauge {cohort, cluster_queue, flavor, resource}
  "kueue_cluster_queue_borrowing_limit", // gauge {cohort, cluster_queue, flavor, resource}
] as const;

/** KEDA operator (port 8080). */
export const KEDA_METRICS = [
  "keda_build_info",
  "keda_scaler_active", // gauge {namespace, scaledObject, scaler, metric}
  "keda_scaler_metrics_value", // gauge {namespace, scaledObject, scaler, metric}
  "keda_scaler_metrics_latency_seconds", // gauge
  "keda_scaler_detail_errors_total", // counter {namespace, scaledObject, scaler}
  "keda_scaled_object_errors_total", // counter {namespace, scaledObject}
  "keda_scaled_object_paused", // gauge
  "keda_internal_scale_loop_latency_seconds", // gauge
] as const;

/** CloudNativePG instance exporter (port 9187, named `metrics`), where the substrate uses it. */
export const CNPG_METRICS = [
  "cnpg_collector_up", // gauge {cluster}: 1 when PostgreSQL answers
  "cnpg_collector_last_collection_error", // gauge
  "cnpg_pg_replication_lag", // gauge seconds
  "cnpg_pg_replication_in_recovery", // gauge
  "cnpg_pg_database_size_bytes", // gauge {datname}
  "cnpg_backends_total", // gauge {datname, usename, state}
] as const;

/**
 * Series the monitoring stack itself provides, not a component: Prometheus's per-target `up`
 * and kube-state-metrics (bundled with kube-prometheus-stack and scraped by its own monitor).
 */
export const MONITORING_STACK_METRICS = [
  "up",
  "kube_deployment_spec_replicas",
  "kube_deployment_status_replicas_available",
  "kube_node_labels", // with label_sovereign_ai_gpu_pool (allowlisted by the observability component)
  "kube_horizontalpodautoscaler_status_current_replicas",
  "kube_horizontalpodautoscaler_spec_max_replicas",
] as const;

const serviceMonitor = (
  namespace: string,
  name: string,
  containerPort: number,
  metrics: readonly string[],
): ScrapeTarget => ({
  namespace,
  selector: { "app.kubernetes.io/name": name },
  kind: "ServiceMonitor",
  port: "http",
  containerPort,
  path: "/metrics",
  metrics,
});

export const SCRAPE_TARGETS: Readonly<Record<string, ScrapeTarget>> = {
  // HTTPS with the model CA's certificates (components/lib/model-tls.ts); /metrics needs no key.
  "model-server": {
    ...serviceMonitor(PLATFORM_NAMESPACES.serving, "model-server", 8000, VLLM_METRICS),
    port: MODEL_SERVER_PORT_NAME,
    scheme: "https",
    tls: {
      caSecret: { name: MODEL_CA_BUNDLE_SECRET, key: MODEL_CA_BUNDLE_KEY },
      serverName: MODEL_SCRAPE_SERVER_NAME,
    },
  },
  // The gateway serves /metrics on its own port ("metrics"), not on the API port; its load
  // balancer Service (labelled with its exposure) carries the API port only and is not scraped.
  gateway: {
    ...serviceMonitor(PLATFORM_NAMESPACES.gateway, "gateway", 9090, GATEWAY_METRICS),
    port: "metrics",
    exclude: { "sovereign.ai/exposure": ["internal", "public"] },
  },
  opa: serviceMonitor(PLATFORM_NAMESPACES.policy, "opa", 8181, OPA_METRICS),
  /** The DCGM exporter chart's DaemonSet (its pods carry `app.kubernetes.io/name: dcgm-exporter`). */
  "dcgm-exporter": {
    namespace: PLATFORM_NAMESPACES.gpu,
    selector: { "app.kubernetes.io/name": "dcgm-exporter" },
    kind: "PodMonitor",
    port: "metrics",
    containerPort: 9400,
    path: "/metrics",
    metrics: DCGM_METRICS,
  },
  /**
   * Kueue's controller manager (its chart's metrics Service): HTTPS with the certificate the
   * chart asks the Kueue CA for (components/lib/kueue-tls.ts), and a Kubernetes token.
   */
  kueue: {
    namespace: PLATFORM_NAMESPACES.kueue,
    selector: { "control-plane": "controller-manager" },
    // the chart's webhook and visibility Services carry the same selector labels
    exclude: { "app.kubernetes.io/component": ["webhook-service", "visibility-service"] },
    kind: "ServiceMonitor",
    port: "https",
    containerPort: 8443,
    path: "/metrics",
    scheme: "https",
    kubernetesAuth: true,
    tls: {
      caSecret: { name: KUEUE_CA_BUNDLE_SECRET, key: KUEUE_CA_BUNDLE_KEY },
      serverName: KUEUE_METRICS_SERVER_NAME,
    },
    metrics: KUEUE_METRICS,
  },
  /** KEDA's operator pods; chart value `prometheus.operator.enabled: true` turns the endpoint on (`metrics`, 8080). */
  keda: {
    namespace: PLATFORM_NAMESPACES.keda,
    selector: { app: "keda-operator" },
    kind: "PodMonitor",
    port: "metrics",
    containerPort: 8080,
    path: "/metrics",
    honorLabels: true,
    metrics: KEDA_METRICS,
  },
  /** CloudNativePG instance pods (existing-cluster substrate); selects nothing where Postgres is managed. */
  cnpg: {
    namespace: PLATFORM_NAMESPACES.data,
    selector: { "cnpg.io/podRole": "instance" },
    kind: "PodMonitor",
    port: "metrics",
    containerPort: 9187,
    path: "/metrics",
    metrics: CNPG_METRICS,
  },
};

/** Every metric name a dashboard or alert may use: all components' plus the stack's own. */
export function exposedMetricNames(): ReadonlySet<string> {
  return new Set<string>([
    ...Object.values(SCRAPE_TARGETS).flatMap((t) => t.metrics),
    ...MONITORING_STACK_METRICS,
  ]);
}

/** The histograms among the listed metrics (their series are `_bucket`, `_sum`, `_count`). */
export const HISTOGRAM_METRICS: ReadonlySet<string> = new Set<string>([
  "sovereign_gateway_request_duration_seconds",
  "sovereign_gateway_added_latency_seconds",
  "sovereign_gateway_time_to_first_byte_seconds",
  "vllm:time_to_first_token_seconds",
  "vllm:inter_token_latency_seconds",
  "vllm:e2e_request_latency_seconds",
  "vllm:request_queue_time_seconds",
  "vllm:request_prompt_tokens",
  "vllm:request_generation_tokens",
  "http_request_duration_seconds",
  "kueue_admission_wait_time_seconds",
]);

const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"] as const;

/**
 * Whether a series name is exposed: listed as is, or the `_bucket`/`_sum`/`_count` series of
 * a listed histogram.
 */
export function isExposedMetric(name: string, exposed: ReadonlySet<string> = exposedMetricNames()): boolean {
  if (exposed.has(name)) return true;
  return HISTOGRAM_SUFFIXES.some((s) => {
    const base = name.slice(0, -s.length);
    return name.endsWith(s) && exposed.has(base) && HISTOGRAM_METRICS.has(base);
  });
}
