/**
 * Every container image and chart version the kit deploys, pinned in one place.
 * Never `latest`. Each can be overridden from the stack config (`images`) for
 * air-gapped mirrors. Components import from here; tests assert no tag is `latest`.
 */
export const IMAGES = {
  // vLLM OpenAI server (v0.30.0 is the newest release found; it ships the Run:ai streamer and boto3).
  vllm: "docker.io/vllm/vllm-openai:v0.30.0",
  // llm-d inference simulator: vLLM's HTTP API and metrics on CPU, no weights (local stack).
  vllmCpu: "ghcr.io/llm-d/llm-d-inference-sim:v0.10.2",
  opa: "docker.io/openpolicyagent/opa:1.22.3-static",
  gateway: "ghcr.io/sovereign-ai/gateway:0.1.0",
} as const;

export type ImageKey = keyof typeof IMAGES;

/** The Kubernetes version the kit targets and validates rendered objects against. */
export const KUBERNETES_VERSION = "1.33";

/** A Helm chart from a public chart repository, pinned to one version. */
export interface ChartPin {
  /** Chart repository URL. */
  readonly repo: string;
  readonly chart: string;
  readonly version: string;
}
export type ChartRef = ChartPin;

/**
 * Third-party Helm charts the kit installs. Chart versions are pinned; where a chart's images
 * matter they are pinned separately too (a repository may re-publish a version in place).
 */
export const CHARTS = {
  /** NVIDIA device plugin (the AMI/node image ships the driver and container toolkit). */
  nvidiaDevicePlugin: {
    repo: "https://nvidia.github.io/k8s-device-plugin",
    chart: "nvidia-device-plugin",
    version: "0.20.0",
  },
  /** NVIDIA DCGM exporter (GPU metrics); chart version follows the exporter (image 4.6.0-4.8.3). */
  dcgmExporter: {
    repo: "https://nvidia.github.io/dcgm-exporter/helm-charts",
    chart: "dcgm-exporter",
    version: "4.8.3",
  },
  /** KEDA (event-driven autoscaling of model servers). */
  keda: { repo: "https://kedacore.github.io/charts", chart: "keda", version: "2.21.1" },
  /** SeaweedFS (Apache-2.0), the in-cluster S3 server. See docs/object-storage.md. */
  seaweedfs: {
    repo: "https://seaweedfs.github.io/seaweedfs/helm",
    chart: "seaweedfs",
    version: "4.22.0",
  },
  /**
   * cert-manager (Apache-2.0): the gateway's TLS certificate (a private CA per stack, or the
   * customer's issuer). Its CRDs ship in its Go module (the e2e installs them from there).
   */
  certManager: { repo: "https://charts.jetstack.io", chart: "cert-manager", version: "v1.21.2" },
  /** CloudNativePG operator 1.30.1 (chart 0.29.1). */
  cloudnativePg: {
    repo: "https://cloudnative-pg.github.io/charts",
    chart: "cloudnative-pg",
    version: "0.29.1",
  },
} as const satisfies Record<string, ChartPin>;

export type ChartKey = keyof typeof CHARTS;

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
 * The kit's training runner image (LoRA fine-tune, llm-compressor quantization, evaluation),
 * built from `trainer/` (`trainer/Dockerfile`); the tag is the version in `trainer/pyproject.toml`
 * (a test checks they agree). Override per job with `--image` (your registry or an air-gapped mirror).
 */
export const TRAINER_IMAGE = "ghcr.io/sovereign-ai/trainer:0.1.0";

/** Images of the existing-cluster substrate (SeaweedFS server, its chart's appVersion, and PostgreSQL per major version). */
export const SUBSTRATE_IMAGES = {
  seaweedfs: "docker.io/chrislusf/seaweedfs:4.22",
  /** CloudNativePG operand images (the project's `standard` flavour on Debian trixie). */
  postgres: {
    "16": "ghcr.io/cloudnative-pg/postgresql:16.15-standard-trixie",
    "17": "ghcr.io/cloudnative-pg/postgresql:17.11-standard-trixie",
    "18": "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie",
  } as Readonly<Record<string, string>>,
} as const;

/** Monitoring: Prometheus Operator, Prometheus, Alertmanager, Grafana, kube-state-metrics (operator v0.85.0). */
export const KUBE_PROMETHEUS_STACK_CHART: ChartPin = {
  chart: "kube-prometheus-stack",
  version: "77.11.1",
  repo: "https://prometheus-community.github.io/helm-charts",
};

/**
 * Where the kit's third-party Helm charts come from when the chart repositories are not
 * reachable (air-gapped installs; `chartMirror` in the stack config, docs/registry-mirrors.md):
 * - `oci`: an OCI registry prefix; each chart is pulled as `<prefix>/<chart name>` at its pinned
 *   version (push them with `helm push <chart>-<version>.tgz <prefix>`);
 * - `directory`: a local directory of packaged charts, each as `<chart name>-<version>.tgz`
 *   (what `helm pull` / `helm package` write), read by the machine that runs `pulumi up`.
 */
export type ChartMirror = { readonly oci: string } | { readonly directory: string };

/** A pinned chart: from a chart repository (`repo` + `chart`) or an OCI reference (`chart` = `oci://...`). */
export interface PinnedChart {
  readonly chart: string;
  readonly version: string;
  readonly repo?: string;
}

/** The chart's name: the last path segment of an OCI reference, or the chart itself. */
export function chartName(pin: PinnedChart): string {
  return pin.chart.startsWith("oci://") ? pin.chart.slice(pin.chart.lastIndexOf("/") + 1) : pin.chart;
}

/**
 * The `chart`, `version` and `repositoryOpts` of a Helm Release for a pinned chart: from its
 * upstream repository, or from the mirror when one is configured.
 */
export function chartSource(
  pin: PinnedChart,
  mirror?: ChartMirror,
): { chart: string; version?: string; repositoryOpts?: { repo: string } } {
  if (mirror && "oci" in mirror) {
    return { chart: `${mirror.oci.replace(/\/+$/, "")}/${chartName(pin)}`, version: pin.version };
  }
  if (mirror && "directory" in mirror) {
    // A packaged chart on disk: Helm reads the file; the version is in its name.
    return { chart: `${mirror.directory.replace(/\/+$/, "")}/${chartName(pin)}-${pin.version}.tgz` };
  }
  if (pin.repo === undefined) return { chart: pin.chart, version: pin.version };
  return { chart: pin.chart, version: pin.version, repositoryOpts: { repo: pin.repo } };
}
