/**
 * Every container image the third-party Helm charts deploy, pinned per chart version, and the
 * chart values that set each one (pure, no Pulumi imports).
 *
 * The kit never relies on a chart's default image: it sets every image explicitly, so that
 * (a) a registry mirror (`registryMirrors`, ECR pull-through) applies to all of them, (b) an
 * upstream that re-publishes a tag cannot change what runs without a version bump here, and
 * (c) the config rules and tests can check every image against `policy.allowedRegistries`
 * before anything is deployed.
 */
import { mirrorImage, parseImage, type RegistryMirrors } from "./images";
import { CHARTS, SUBSTRATE_IMAGES, TENANCY_CHARTS } from "./versions";

/**
 * How a chart takes an image apart at one values path: the names of the keys it reads (a
 * dotted name is a nested key below the path). With `registry` the host goes there and
 * `repository` holds the path; without it `repository` holds `host/path`. With `image` the
 * whole reference is one string.
 */
export type ImageFields =
  | { readonly registry: string; readonly repository: string; readonly tag: string }
  | { readonly repository: string; readonly tag: string }
  | { readonly image: string };

export interface ChartImage {
  /** What runs it, for messages and docs. */
  readonly role: string;
  /**
   * The upstream reference. With a tag, the kit pins that tag (the chart version's default,
   * unless noted). Without one, the chart version's own default tag is kept: only the
   * registry and repository are set (used where that default could not be read offline).
   */
  readonly image: string;
  /** Path of the object holding the image keys, e.g. `["prometheusOperator", "image"]`. */
  readonly path: readonly string[];
  readonly fields: ImageFields;
  /** The chart feature that deploys it, when the kit's values leave it off. @default always deployed */
  readonly when?: string;
}

/** Image tags that are the chart's own version (a chart bump moves them with it). */
const GATEKEEPER_TAG = `v${TENANCY_CHARTS.gatekeeper.version}`;
const GATEKEEPER_CRDS = `docker.io/openpolicyagent/gatekeeper-crds:${GATEKEEPER_TAG}`;
const KEDA_TAG = CHARTS.keda.version;
const CERT_MANAGER_TAG = CHARTS.certManager.version;

const rt = { repository: "repository", tag: "tag" } as const;
const rrt = { registry: "registry", repository: "repository", tag: "tag" } as const;

/**
 * Images per chart. Sources: the Gatekeeper chart is rendered from its real source in the
 * tests; the other tables follow each chart's values.yaml at or near the pinned version
 * (docs/registry-mirrors.md lists which were confirmed how).
 */
export const CHART_IMAGES = {
  /** Gatekeeper 3.23.0: controller and audit run `image.repository:image.release`. */
  gatekeeper: [
    {
      role: "controller and audit",
      image: `docker.io/openpolicyagent/gatekeeper:${GATEKEEPER_TAG}`,
      path: ["image"],
      fields: { repository: "repository", tag: "release" },
    },
    {
      role: "CRD upgrade hook",
      image: GATEKEEPER_CRDS,
      path: ["image"],
      fields: { repository: "crdRepository", tag: "release" },
    },
    {
      role: "CRD upgrade hook",
      image: GATEKEEPER_CRDS,
      path: ["preInstall", "crdRepository", "image"],
      fields: rt,
    },
    {
      role: "namespace label hook",
      image: GATEKEEPER_CRDS,
      path: ["postInstall", "labelNamespace", "image"],
      fields: rt,
    },
    {
      role: "webhook probe hook",
      image: "docker.io/curlimages/curl:8.20.0",
      path: ["postInstall", "probeWebhook", "image"],
      fields: rt,
    },
    {
      role: "namespace label upgrade hook",
      image: GATEKEEPER_CRDS,
      path: ["postUpgrade", "labelNamespace", "image"],
      fields: rt,
      when: "postUpgrade.labelNamespace.enabled",
    },
    {
      role: "webhook cleanup hook",
      image: GATEKEEPER_CRDS,
      path: ["preUninstall", "deleteWebhookConfigurations", "image"],
      fields: rt,
      when: "preUninstall.deleteWebhookConfigurations.enabled",
    },
  ],
  /** Kueue 0.19.4 (the released chart points at registry.k8s.io; KueueViz stays off). */
  kueue: [
    {
      role: "controller manager",
      image: `registry.k8s.io/kueue/kueue:v${TENANCY_CHARTS.kueue.version}`,
      path: ["controllerManager", "manager", "image"],
      fields: rt,
    },
  ],
  /** KEDA 2.21.1: image tags are the app version. */
  keda: [
    { role: "operator", image: `ghcr.io/kedacore/keda:${KEDA_TAG}`, path: ["image", "keda"], fields: rrt },
    {
      role: "metrics API server",
      image: `ghcr.io/kedacore/keda-metrics-apiserver:${KEDA_TAG}`,
      path: ["image", "metricsApiServer"],
      fields: rrt,
    },
    {
      role: "admission webhooks",
      image: `ghcr.io/kedacore/keda-admission-webhooks:${KEDA_TAG}`,
      path: ["image", "webhooks"],
      fields: rrt,
    },
  ],
  /** NVIDIA device plugin 0.20.0 (GFD and NFD stay off). */
  nvidiaDevicePlugin: [
    {
      role: "device plugin",
      image: `nvcr.io/nvidia/k8s-device-plugin:v${CHARTS.nvidiaDevicePlugin.version}`,
      path: ["image"],
      fields: rt,
    },
  ],
  /** DCGM exporter chart 4.8.3 (DCGM 4.6.0, distroless). */
  dcgmExporter: [
    {
      role: "DCGM exporter",
      image: "nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless",
      path: ["image"],
      fields: rt,
    },
  ],
  /** kube-prometheus-stack 77.11.1 and its subcharts (Grafana without persistence: no init image). */
  kubePrometheusStack: [
    {
      role: "Prometheus Operator",
      image: "quay.io/prometheus-operator/prometheus-operator:v0.85.0",
      path: ["prometheusOperator", "image"],
      fields: rrt,
    },
    {
      role: "config reloader (injected into Prometheus and Alertmanager)",
      image: "quay.io/prometheus-operator/prometheus-config-reloader:v0.85.0",
      path: ["prometheusOperator", "prometheusConfigReloader", "image"],
      fields: rrt,
    },
    {
      role: "admission webhook certificate jobs",
      image: "registry.k8s.io/ingress-nginx/kube-webhook-certgen",
      path: ["prometheusOperator", "admissionWebhooks", "patch", "image"],
      fields: rrt,
    },
    {
      role: "Thanos sidecar base image",
      image: "quay.io/thanos/thanos",
      path: ["prometheusOperator", "thanosImage"],
      fields: rrt,
      when: "prometheus.prometheusSpec.thanos",
    },
    {
      role: "Prometheus",
      image: "quay.io/prometheus/prometheus:v3.6.0",
      path: ["prometheus", "prometheusSpec", "image"],
      fields: rrt,
    },
    {
      role: "Alertmanager",
      image: "quay.io/prometheus/alertmanager",
      path: ["alertmanager", "alertmanagerSpec", "image"],
      fields: rrt,
      when: "observability.alertmanager.receiver other than none",
    },
    { role: "Grafana", image: "docker.io/grafana/grafana", path: ["grafana", "image"], fields: rrt },
    {
      role: "Grafana dashboard and datasource sidecars",
      image: "quay.io/kiwigrid/k8s-sidecar",
      path: ["grafana", "sidecar", "image"],
      fields: rrt,
    },
    {
      role: "kube-state-metrics",
      image: "registry.k8s.io/kube-state-metrics/kube-state-metrics",
      path: ["kube-state-metrics", "image"],
      fields: rrt,
    },
    {
      role: "node exporter",
      image: "quay.io/prometheus/node-exporter",
      path: ["prometheus-node-exporter", "image"],
      fields: rrt,
      when: "nodeExporter.enabled (the prod sizing)",
    },
  ],
  /** CloudNativePG chart 0.29.1: the operator image is also every Postgres pod's init container. */
  cloudnativePg: [
    {
      role: "operator (and the instance init container)",
      image: "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.1",
      path: ["image"],
      fields: rt,
    },
  ],
  /** SeaweedFS chart 4.22.0: one image for every server (`global.registry` + `global.imageName`). */
  seaweedfs: [
    {
      role: "master, volume, filer and S3 servers",
      image: SUBSTRATE_IMAGES.seaweedfs,
      path: [],
      fields: { registry: "global.registry", repository: "global.imageName", tag: "image.tag" },
    },
  ],
  /** cert-manager v1.21.2: image tags are the chart version (`image.repository` is the full reference). */
  certManager: [
    {
      role: "controller",
      image: `quay.io/jetstack/cert-manager-controller:${CERT_MANAGER_TAG}`,
      path: ["image"],
      fields: rt,
    },
    {
      role: "admission webhook",
      image: `quay.io/jetstack/cert-manager-webhook:${CERT_MANAGER_TAG}`,
      path: ["webhook", "image"],
      fields: rt,
    },
    {
      role: "CA injector",
      image: `quay.io/jetstack/cert-manager-cainjector:${CERT_MANAGER_TAG}`,
      path: ["cainjector", "image"],
      fields: rt,
    },
    {
      role: "ACME HTTP-01 solver",
      image: `quay.io/jetstack/cert-manager-acmesolver:${CERT_MANAGER_TAG}`,
      path: ["acmesolver", "image"],
      fields: rt,
      when: "gateway.tls.mode issuer (the customer's issuer may be ACME)",
    },
    {
      role: "post-install API check",
      image: `quay.io/jetstack/cert-manager-startupapicheck:${CERT_MANAGER_TAG}`,
      path: ["startupapicheck", "image"],
      fields: rt,
    },
  ],
} as const satisfies Record<string, readonly ChartImage[]>;

export type ChartImagesKey = keyof typeof CHART_IMAGES;

type Values = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Values =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** `b` merged into `a`: objects recursively, everything else (arrays included) replaced by `b`. */
export function mergeValues(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = isPlainObject(out[k]) && isPlainObject(v) ? mergeValues(out[k], v) : v;
  }
  return out;
}

/** `{a: {b: value}}` for the dotted name `a.b`. */
function nest(dotted: string, value: unknown): Values {
  return dotted
    .split(".")
    .reduceRight<Values>(
      (acc, key, i, all) => (i === all.length - 1 ? { [key]: value } : { [key]: acc }),
      {},
    );
}

/** The keys one image sets at its path, mirrored (no tag key when the image names no tag). */
export function imageFieldValues(image: string, fields: ImageFields, mirrors: RegistryMirrors): Values {
  const ref = mirrorImage(image, mirrors);
  if ("image" in fields) return nest(fields.image, ref);
  const p = parseImage(ref);
  if (p.digest)
    throw new Error(
      `chart image "${image}": expected a tag (this chart's values take registry, repository and tag), found a digest`,
    );
  const parts: [string, string][] =
    "registry" in fields
      ? [
          [fields.registry, p.registry],
          [fields.repository, p.repository],
        ]
      : [[fields.repository, `${p.registry}/${p.repository}`]];
  if (p.tag !== undefined) parts.push([fields.tag, p.tag]);
  return parts.reduce<Values>((acc, [k, v]) => mergeValues(acc, nest(k, v)), {});
}

/** Chart values that pin every image of a chart, each through its registry's mirror. */
export function chartImageValues(images: readonly ChartImage[], mirrors: RegistryMirrors = {}): Values {
  let out: Values = {};
  for (const i of images) {
    const leaf = imageFieldValues(i.image, i.fields, mirrors);
    const nested = i.path.reduceRight<Values>((acc, key) => ({ [key]: acc }), leaf);
    out = mergeValues(out, nested);
  }
  return out;
}

/** A chart's values with every image pinned and mirrored (the kit's values win elsewhere). */
export function withChartImages(
  values: Values,
  images: readonly ChartImage[],
  mirrors: RegistryMirrors = {},
): Values {
  return mergeValues(values, chartImageValues(images, mirrors));
}
