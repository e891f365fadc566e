/** The gateway's Prometheus metrics: exactly the names in `GATEWAY_METRICS`, on a private registry. */
import * as client from "prom-client";
import { GATEWAY_METRICS } from "../../components/lib/metrics";

type MetricName = (typeof GATEWAY_METRICS)[number];

const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const ADDED_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new client.Registry();
  const registers = [registry];
  // Each metric is its name (one of GATEWAY_METRICS), help text and labels; histograms add buckets.
  const counter = <L extends string>(name: MetricName, help: string, labelNames: readonly L[] = []) =>
    new client.Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: MetricName, help: string, labelNames: readonly L[] = []) =>
    new client.Gauge<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(
    name: MetricName,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ) => new client.Histogram<L>({ name, help, labelNames, buckets, registers });
  return {
    registry,
    requests: counter("sovereign_gateway_requests_total", "Requests by team, model, endpoint and status", [
      "team",
      "model",
      "endpoint",
      "status",
    ]),
    duration: histogram(
      "sovereign_gateway_request_duration_seconds",
      "Whole request duration",
      ["endpoint"],
      LATENCY_BUCKETS,
    ),
    added: histogram(
      "sovereign_gateway_added_latency_seconds",
      "Time spent in the gateway itself (request duration minus upstream time)",
      ["endpoint"],
      ADDED_BUCKETS,
    ),
    ttfb: histogram(
      "sovereign_gateway_time_to_first_byte_seconds",
      "Streaming: time to the first byte sent to the client",
      ["model"],
      LATENCY_BUCKETS,
    ),
    tokens: counter(
      "sovereign_gateway_tokens_total",
      "Tokens by team, model and direction (from the upstream's usage)",
      ["team", "model", "direction"],
    ),
    denials: counter("sovereign_gateway_denials_total", "Denied requests by team and reason id", [
      "team",
      "reason",
    ]),
    opaErrors: counter(
      "sovereign_gateway_opa_errors_total",
      "OPA decisions that failed or timed out (the request failed closed)",
    ),
    policyReloadErrors: counter(
      "sovereign_gateway_policy_reload_errors_total",
      "Changed policy or data files that did not load (the previous policy stayed in force)",
    ),
    upstreamErrors: counter(
      "sovereign_gateway_upstream_errors_total",
      "Upstream model server errors by model",
      ["model"],
    ),
    captureQueue: gauge("sovereign_gateway_capture_queue_depth", "Captured records waiting in memory"),
    captureSpill: gauge("sovereign_gateway_capture_spill_records", "Captured records waiting on local disk"),
    captureDropped: counter(
      "sovereign_gateway_capture_dropped_total",
      "Captured records that could not be kept",
    ),
    auditDeadLetters: counter(
      "sovereign_gateway_audit_dead_letters_total",
      "Audit rows PostgreSQL refused (bad data), kept in the dead-letter store",
    ),
    auditDropped: counter(
      "sovereign_gateway_audit_dropped_total",
      "Audit rows that could not be kept at all (the spill disk failed)",
    ),
    auditSpill: gauge("sovereign_gateway_audit_spill_records", "Audit rows waiting for Postgres"),
    routePicks: counter(
      "sovereign_gateway_route_picks_total",
      "Replica choices by model server and why (affinity, spill, least-load, retry, service)",
      ["upstream", "reason"],
    ),
    routeReplicas: gauge(
      "sovereign_gateway_route_replicas",
      "Ready replicas of a model server as discovered, and how many of them are ejected",
      ["upstream", "state"],
    ),
    routeEjections: counter(
      "sovereign_gateway_route_ejections_total",
      "Replicas ejected by outlier detection",
      ["upstream"],
    ),
  };
}
