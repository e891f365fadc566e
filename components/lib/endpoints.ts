/**
 * In-cluster addresses of platform services. They are derived from names alone, so one
 * component can point at another without waiting for it (and tests can assert the wiring).
 */
import { PLATFORM_NAMESPACES } from "./naming";

const svc = (name: string, ns: string, port: number, scheme = "http") =>
  `${scheme}://${name}.${ns}.svc.cluster.local:${port}`;

/** Service name of a model server. */
export function modelServiceName(model: string): string {
  return `model-${model}`;
}

/** Labels of a model server's pods (the chart's `model-server.selectorLabels`). */
export function modelServerPodLabels(model: string): Record<string, string> {
  return { "app.kubernetes.io/name": "model-server", "app.kubernetes.io/instance": model };
}

/**
 * OpenAI-compatible base URL (without `/v1`) of a model server: HTTPS, its certificate from the
 * model CA (components/lib/model-tls.ts).
 */
export function modelServerUrl(model: string): string {
  return svc(modelServiceName(model), PLATFORM_NAMESPACES.serving, 8000, "https");
}

/**
 * The Service an in-cluster URL names (`<scheme>://<service>.<namespace>.svc[.cluster.local][:port]`),
 * or undefined for any other URL. The gateway discovers the replicas of such a Service from its
 * EndpointSlices; the gateway component grants it exactly that in `namespace`.
 */
export function inClusterService(
  url: string,
): { scheme: "http" | "https"; service: string; namespace: string; port: number } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const m =
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\.?$/.exec(
      u.hostname,
    );
  if (!m || (u.protocol !== "http:" && u.protocol !== "https:")) return undefined;
  const scheme = u.protocol === "https:" ? "https" : "http";
  return {
    scheme,
    service: m[1],
    namespace: m[3],
    port: u.port ? Number(u.port) : scheme === "https" ? 443 : 80,
  };
}

/** OPA's REST API. */
export function opaUrl(): string {
  return svc("opa", PLATFORM_NAMESPACES.policy, 8181);
}

/** The Prometheus query API's port. */
export const PROMETHEUS_PORT = 9090;

/**
 * Labels of the monitoring stack's Prometheus pods (the operator sets them; its
 * `prometheus-operated` Service selects by them): who scrapes, and who answers queries.
 */
export const PROMETHEUS_PODS: Readonly<Record<string, string>> = { "app.kubernetes.io/name": "prometheus" };

/** The Prometheus query API (what KEDA's triggers use). */
export function prometheusUrl(): string {
  return svc("prometheus-operated", PLATFORM_NAMESPACES.monitoring, PROMETHEUS_PORT);
}

/** The gateway's in-cluster URL (HTTPS unless its TLS is off, a dev-only choice). */
export function gatewayUrl(tls = true): string {
  return svc("gateway", PLATFORM_NAMESPACES.gateway, 8080, tls ? "https" : "http");
}
