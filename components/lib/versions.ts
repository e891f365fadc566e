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

/** Helm charts of the tenancy/policy area: Kueue (training queues) and Gatekeeper (admission). */
export const TENANCY_CHARTS = {
  /** Kueue, from the project's OCI chart registry (chart version = app version without `v`). */
  kueue: { chart: "oci://registry.k8s.io/kueue/charts/kueue", version: "0.19.4" },
  /** OPA Gatekeeper, from the project's Helm repository. */
  gatekeeper: {
    chart: "gatekeeper",
    repo: "https://open-policy-agent.github.io/gatekeeper/charts",
    version: "3.23.0",
  },
} as const;

/**
 * The kit's training runner image (LoRA fine-tune, llm-compressor quantization, evaluation).
 * Override per job with `--image` (air-gapped mirror).
 */
export const TRAINER_IMAGE = "ghcr.io/sovereign-ai/trainer:0.1.0";
