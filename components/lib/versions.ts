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

/** A Helm chart pinned to one version. */
export interface ChartRef {
  /** Chart repository URL. */
  readonly repo: string;
  readonly chart: string;
  readonly version: string;
}

/**
 * Helm charts the in-cluster substrate installs. Chart versions are pinned; the images they
 * run are pinned separately below (a chart repository may re-publish a version in place, an
 * explicit image tag keeps what runs fixed).
 */
export const CHARTS = {
  /** SeaweedFS (Apache-2.0), the in-cluster S3 server. See docs/object-storage.md. */
  seaweedfs: {
    repo: "https://seaweedfs.github.io/seaweedfs/helm",
    chart: "seaweedfs",
    version: "4.22.0",
  },
  /** CloudNativePG operator 1.30.1 (chart 0.29.1). */
  cloudnativePg: {
    repo: "https://cloudnative-pg.github.io/charts",
    chart: "cloudnative-pg",
    version: "0.29.1",
  },
} as const satisfies Record<string, ChartRef>;

/** Images of the in-cluster substrate (SeaweedFS server and PostgreSQL per major version). */
export const SUBSTRATE_IMAGES = {
  /** Tag of `chrislusf/seaweedfs` that the pinned chart runs (its appVersion). */
  seaweedfsTag: "4.22",
  seaweedfs: "docker.io/chrislusf/seaweedfs:4.22",
  /** CloudNativePG operand images (the project's `standard` flavour on Debian trixie). */
  postgres: {
    "16": "ghcr.io/cloudnative-pg/postgresql:16.15-standard-trixie",
    "17": "ghcr.io/cloudnative-pg/postgresql:17.11-standard-trixie",
    "18": "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie",
  } as Readonly<Record<string, string>>,
} as const;
