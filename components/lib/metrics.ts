/**
 * The one list of what each component exposes to Prometheus and how it is scraped. Dashboards
 * and alert rules may use only metric names listed here (a test checks), and each component
 * must label its pods and name its metrics port as listed.
 */
import { PLATFORM_NAMESPACES } from "./naming";

export interface ScrapeTarget {
  readonly namespace: string;
  /** Labels on the Service (ServiceMonitor) or Pods (PodMonitor) to select. */
  readonly selector: Readonly<Record<string, string>>;
  readonly kind: "ServiceMonitor" | "PodMonitor";
  /** Name of the metrics port. */
  readonly port: string;
  readonly path: string;
}

/** Metric names the gateway exposes (prom-client, `/metrics` on the http port). */
export const GATEWAY_METRICS = [
  "sovereign_gateway_requests_total", // counter {team, model, endpoint, status}
  "sovereign_gateway_request_duration_seconds", // histogram {endpoint}: whole request
  "sovereign_gateway_added_latency_seconds", // histogram {endpoint}: time spent in the gateway itself
  "sovereign_gateway_time_to_first_byte_seconds", // histogram {model}: streaming
  "sovereign_gateway_tokens_total", // counter {team, model, direction: in|out}
  "sovereign_gateway_denials_total", // counter {team, reason}
  "sovereign_gateway_opa_errors_total", // counter
  "sovereign_gateway_upstream_errors_total", // counter {model}
  "sovereign_gateway_capture_queue_depth", // gauge
  "sovereign_gateway_capture_spill_records", // gauge: records waiting on local disk
  "sovereign_gateway_capture_dropped_total", // counter
  "sovereign_gateway_audit_spill_records", // gauge: audit rows waiting for Postgres
] as const;

export const SCRAPE_TARGETS: Readonly<Record<string, ScrapeTarget>> = {
  "model-server": {
    namespace: PLATFORM_NAMESPACES.serving,
    selector: { "app.kubernetes.io/name": "model-server" },
    kind: "ServiceMonitor",
    port: "http",
    path: "/metrics",
  },
  gateway: {
    namespace: PLATFORM_NAMESPACES.gateway,
    selector: { "app.kubernetes.io/name": "gateway" },
    kind: "ServiceMonitor",
    port: "http",
    path: "/metrics",
  },
  opa: {
    namespace: PLATFORM_NAMESPACES.policy,
    selector: { "app.kubernetes.io/name": "opa" },
    kind: "ServiceMonitor",
    port: "http",
    path: "/metrics",
  },
};
