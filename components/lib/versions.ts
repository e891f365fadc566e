/**
 * Every container image and chart version the kit deploys, pinned in one place.
 * Never `latest`. Each can be overridden from the stack config (`images`) for
 * air-gapped mirrors. Components import from here; tests assert no tag is `latest`.
 */
export const IMAGES = {
  vllm: "docker.io/vllm/vllm-openai:v0.11.0",
  vllmCpu: "ghcr.io/llm-d/llm-d-inference-sim:v0.5.1",
  opa: "docker.io/openpolicyagent/opa:1.22.3-static",
  gateway: "ghcr.io/sovereign-ai/gateway:0.1.0",
} as const;

export type ImageKey = keyof typeof IMAGES;

/** The Kubernetes version the kit targets and validates rendered objects against. */
export const KUBERNETES_VERSION = "1.33";

/** A pinned Helm chart. */
export interface ChartPin {
  readonly chart: string;
  readonly version: string;
  readonly repo: string;
}

/** Monitoring: Prometheus Operator, Prometheus, Alertmanager, Grafana, kube-state-metrics (operator v0.85.0). */
export const KUBE_PROMETHEUS_STACK_CHART: ChartPin = {
  chart: "kube-prometheus-stack",
  version: "77.11.1",
  repo: "https://prometheus-community.github.io/helm-charts",
};
