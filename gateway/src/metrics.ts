/** The gateway's Prometheus metrics: exactly the names in `GATEWAY_METRICS`, on a private registry. */
import * as client from "prom-client";
import { GATEWAY_METRICS } from "../../components/lib/metrics";

type MetricName = (typeof GATEWAY_METRICS)[number];
const name = (n: MetricName): MetricName => n;

const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const ADDED_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new client.Registry();
  const r = [registry];
  return {
    registry,
    requests: new client.Counter({
      name: name("sovereign_gateway_requests_total"),
      help: "Requests by team, model, endpoint and status",
      labelNames: ["team", "model", "endpoint", "status"] as const,
      registers: r,
    }),
    duration: new client.Histogram({
      name: name("sovereign_gateway_request_duration_seconds"),
      help: "Whole request duration",
      labelNames: ["endpoint"] as const,
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    added: new client.Histogram({
      name: name("sovereign_gateway_added_latency_seconds"),
      help: "Time spent in the gateway itself (request duration minus upstream time)",
      labelNames: ["endpoint"] as const,
      buckets: ADDED_BUCKETS,
      registers: r,
    }),
    ttfb: new client.Histogram({
      name: name("sovereign_gateway_time_to_first_byte_seconds"),
      help: "Streaming: time to the first byte sent to the client",
      labelNames: ["model"] as const,
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    tokens: new client.Counter({
      name: name("sovereign_gateway_tokens_total"),
      help: "Tokens by team, model and direction (from the upstream's usage)",
      labelNames: ["team", "model", "direction"] as const,
      registers: r,
    }),
    denials: new client.Counter({
      name: name("sovereign_gateway_denials_total"),
      help: "Denied requests by team and reason id",
      labelNames: ["team", "reason"] as const,
      registers: r,
    }),
    opaErrors: new client.Counter({
      name: name("sovereign_gateway_opa_errors_total"),
      help: "OPA decisions that failed or timed out (the request failed closed)",
      registers: r,
    }),
    policyReloadErrors: new client.Counter({
      name: name("sovereign_gateway_policy_reload_errors_total"),
      help: "Changed policy or data files that did not load (the previous policy stayed in force)",
      registers: r,
    }),
    upstreamErrors: new client.Counter({
      name: name("sovereign_gateway_upstream_errors_total"),
      help: "Upstream model server errors by model",
      labelNames: ["model"] as const,
      registers: r,
    }),
    captureQueue: new client.Gauge({
      name: name("sovereign_gateway_capture_queue_depth"),
      help: "Captured records waiting in memory",
      registers: r,
    }),
    captureSpill: new client.Gauge({
      name: name("sovereign_gateway_capture_spill_records"),
      help: "Captured records waiting on local disk",
      registers: r,
    }),
    captureDropped: new client.Counter({
      name: name("sovereign_gateway_capture_dropped_total"),
      help: "Captured records that could not be kept",
      registers: r,
    }),
    auditDeadLetters: new client.Counter({
      name: name("sovereign_gateway_audit_dead_letters_total"),
      help: "Audit rows PostgreSQL refused (bad data), kept in the dead-letter store",
      registers: r,
    }),
    auditDropped: new client.Counter({
      name: name("sovereign_gateway_audit_dropped_total"),
      help: "Audit rows that could not be kept at all (the spill disk failed)",
      registers: r,
    }),
    auditSpill: new client.Gauge({
      name: name("sovereign_gateway_audit_spill_records"),
      help: "Audit rows waiting for Postgres",
      registers: r,
    }),
    routePicks: new client.Counter({
      name: name("sovereign_gateway_route_picks_total"),
      help: "Replica choices by model server and why (affinity, spill, least-load, retry, service)",
      labelNames: ["upstream", "reason"] as const,
      registers: r,
    }),
    routeReplicas: new client.Gauge({
      name: name("sovereign_gateway_route_replicas"),
      help: "Ready replicas of a model server as discovered, and how many of them are ejected",
      labelNames: ["upstream", "state"] as const,
      registers: r,
    }),
    routeEjections: new client.Counter({
      name: name("sovereign_gateway_route_ejections_total"),
      help: "Replicas ejected by outlier detection",
      labelNames: ["upstream"] as const,
      registers: r,
    }),
  };
}
