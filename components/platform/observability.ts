/**
 * Observability inside the account: kube-prometheus-stack (Prometheus Operator, Prometheus,
 * optional Alertmanager, Grafana, kube-state-metrics) pinned in `versions.ts`, one scrape
 * object per entry of `SCRAPE_TARGETS`, the platform's alert rules, and Grafana dashboards
 * provisioned from the dashboards it is given (the stack reads the repo's JSON files). Nothing leaves the cluster: no SaaS agent, and
 * Grafana's phone-home features are off.
 *
 * The constructor only registers resources; every value is computed by the exported pure
 * functions (`observabilityPlan` and the builders it uses).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { stringify } from "yaml";
import { GPU_POOL_LABEL, GPU_TYPE_LABEL } from "../lib/gpu-catalog";
import { PROMETHEUS_PODS, PROMETHEUS_PORT, prometheusUrl } from "../lib/endpoints";
import { CHART_IMAGES, withChartImages } from "../lib/chart-images";
import type { RegistryMirrors } from "../lib/images";
import { k8sLabels } from "../lib/labels";
import { SCRAPE_TARGETS, type ScrapeTarget } from "../lib/metrics";
import { kueueCaBundleCertificate } from "../lib/kueue-tls";
import { modelCaBundleCertificate } from "../lib/model-tls";
import type { ModelCaBundle } from "./cert-manager";
import { PLATFORM_NAMESPACES } from "../lib/naming";
import { chartNamespacePolicies, type ApiServerPeers, type ChartNamespaceFlows } from "../lib/network-policy";
import { KUBE_PROMETHEUS_STACK_CHART, type ChartMirror, type ChartPin, chartSource } from "../lib/versions";
import { alertRuleGroups, prometheusRule, type RuleGroup } from "./alerts";

/** Helm release name; kube-prometheus-stack labels its own monitors `release: <name>`. */
export const RELEASE_NAME = "monitoring";
/** Label (and value) the Grafana sidecar loads dashboards ConfigMaps by. */
export const DASHBOARD_LABEL = { key: "grafana_dashboard", value: "1" } as const;
/** Annotation naming the Grafana folder of a dashboard. */
export const DASHBOARD_FOLDER_ANNOTATION = "grafana_folder";
export const DASHBOARD_FOLDER = "Sovereign";
/** Kubernetes object names the chart values refer to. */
export const GRAFANA_ADMIN_SECRET = "grafana-admin";
export const GRAFANA_OIDC_SECRET = "grafana-oidc";
export const ALERTMANAGER_CONFIG_SECRET = "alertmanager-sovereign";
/** Grafana's in-cluster Service (chart `fullnameOverride`). */
export const GRAFANA_SERVICE = "grafana";

export type AlertReceiver =
  | { readonly receiver: "none" }
  | {
      readonly receiver: "webhook";
      readonly url: pulumi.Input<string>;
      /** The URL's port, which Alertmanager may reach at any address (the URL is a secret). @default 443 */
      readonly port?: number;
    }
  | {
      readonly receiver: "email";
      readonly to: string;
      readonly from: string;
      /** `host:port` of the SMTP relay. */
      readonly smarthost: string;
      /** SMTP password; omit for a relay without authentication. @default none */
      readonly password?: pulumi.Input<string>;
    };

export interface GrafanaOidc {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: pulumi.Input<string>;
  /** @default `${issuer}/protocol/openid-connect/auth` */
  readonly authUrl?: string;
  /** @default `${issuer}/protocol/openid-connect/token` */
  readonly tokenUrl?: string;
  /** @default `${issuer}/protocol/openid-connect/userinfo` */
  readonly userinfoUrl?: string;
  /** @default groups */
  readonly groupsClaim?: string;
  /** Group whose members become Grafana admins. @default none (everyone signs in as Viewer) */
  readonly adminGroup?: string;
}

/** A dashboard file: `name` is the file name without `.json`. */
export interface Dashboard {
  readonly name: string;
  readonly json: string;
}

export interface ObservabilityArgs {
  /**
   * The model servers serve HTTPS (components/lib/model-tls.ts): the model CA's bundle in the
   * monitoring namespace (after `dependsOn`, the model CA issuer), which the model servers'
   * ServiceMonitor verifies with. @default none (their scrape then fails: no CA Secret)
   */
  readonly modelCa?: ModelCaBundle;
  /**
   * Kueue serves its metrics with a certificate of the Kueue CA (components/lib/kueue-tls.ts):
   * that CA's bundle in the monitoring namespace (after `dependsOn`, the Kueue CA issuer), which
   * Kueue's ServiceMonitor verifies with. @default none (its scrape then fails: no CA Secret)
   */
  readonly kueueCa?: ModelCaBundle;
  /** The API server as NetworkPolicy peers (`substrate.apiServer`): the namespace is default-deny. */
  readonly apiServer: ApiServerPeers;
  /** Where the nodes are (`substrate.nodes`): Prometheus scrapes the kubelets and node-exporter there. */
  readonly nodes: readonly Record<string, unknown>[];
  /** Resource footprint: `minimal` fits a laptop cluster, `full` adds node-exporter and HA Alertmanager. */
  readonly footprint: Footprint;
  /** Keep the namespace (and the metrics volumes in it) when the stack is destroyed. */
  readonly retainData: boolean;
  /** Storage class of the Prometheus (and Alertmanager) volumes: the substrate's default. */
  readonly storageClass: string;
  /** Prometheus volume per replica, a Kubernetes quantity such as `50Gi`. */
  readonly storageSize: string;
  /** Prometheus retention, e.g. `15d`. */
  readonly retention: string;
  /** Prometheus replicas. */
  readonly replicas: number;
  /** Alert receiver; `none` deploys no Alertmanager. @default { receiver: "none" } */
  readonly alerting?: AlertReceiver;
  /** Grafana exposure and login. @default internal only, local admin login */
  readonly grafana?: {
    /** Expose Grafana through a private (network-internal) LoadBalancer Service. @default false (ClusterIP only) */
    readonly exposed?: boolean;
    /** URL users open Grafana at; OIDC redirects go there. @default http://localhost:3000 (port-forward) */
    readonly url?: string;
    /** Single sign-on. @default none */
    readonly oidc?: GrafanaOidc;
  };
  /** Dashboards to provision (the stack reads them from `components/platform/dashboards/`). @default [] */
  readonly dashboards?: readonly Dashboard[];
  /** Labels added to every series (e.g. the stack name). @default {} */
  readonly externalLabels?: Readonly<Record<string, string>>;
  /** Chart to install. @default KUBE_PROMETHEUS_STACK_CHART */
  readonly chart?: ChartPin;
  /**
   * Annotations that make a LoadBalancer Service internal (`substrate.loadBalancerAnnotations`),
   * for an exposed Grafana. @default {}
   */
  readonly internalLoadBalancerAnnotations?: Readonly<Record<string, string>>;
  /** Registry mirrors every image of the chart is pulled through (`substrate.registryMirrors`). @default {} */
  readonly registryMirrors?: pulumi.Input<RegistryMirrors>;
  /** Where the chart comes from when the chart repository is not reachable. @default upstream */
  readonly chartMirror?: ChartMirror;
}

interface Resources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly memory: string };
}

export interface Sizing {
  readonly prometheus: Resources;
  readonly alertmanager: Resources;
  readonly grafana: Resources;
  readonly operator: Resources;
  readonly kubeStateMetrics: Resources;
  /** node-exporter on every node (a DaemonSet): off in the minimal footprint. */
  readonly nodeExporter: boolean;
  readonly alertmanagerReplicas: number;
  readonly alertmanagerStorage: string;
}

const res = (cpu: string, memory: string, limit: string): Resources => ({
  requests: { cpu, memory },
  limits: { memory: limit },
});

export type Footprint = "minimal" | "full";

/** Sizing per footprint: `minimal` fits a laptop cluster next to the rest of the local stack. */
export const SIZING: Readonly<Record<Footprint, Sizing>> = {
  minimal: {
    prometheus: res("100m", "256Mi", "1Gi"),
    alertmanager: res("10m", "32Mi", "64Mi"),
    grafana: res("50m", "128Mi", "256Mi"),
    operator: res("20m", "64Mi", "128Mi"),
    kubeStateMetrics: res("10m", "32Mi", "128Mi"),
    nodeExporter: false,
    alertmanagerReplicas: 1,
    alertmanagerStorage: "1Gi",
  },
  full: {
    prometheus: res("500m", "2Gi", "8Gi"),
    alertmanager: res("50m", "64Mi", "256Mi"),
    grafana: res("100m", "256Mi", "512Mi"),
    operator: res("100m", "128Mi", "256Mi"),
    kubeStateMetrics: res("50m", "128Mi", "512Mi"),
    nodeExporter: true,
    alertmanagerReplicas: 2,
    alertmanagerStorage: "2Gi",
  },
};

const BINARY_UNITS: Record<string, number> = { "": 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL_UNITS: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** Bytes of a Kubernetes storage quantity (`50Gi`, `500M`). Throws on anything else. */
export function quantityBytes(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`expected a storage quantity like 50Gi, found "${q}"`);
  const unit = m[2] ?? "";
  return Number(m[1]) * (BINARY_UNITS[unit] ?? DECIMAL_UNITS[unit]);
}

/**
 * Prometheus `retentionSize` for a volume: 85% of it, in Prometheus's binary MB, so the
 * volume never fills up whatever the retention time says.
 */
export function retentionSizeFor(storageSize: string): string {
  const mb = Math.floor((quantityBytes(storageSize) * 0.85) / 2 ** 20);
  if (mb < 256) throw new Error(`expected a Prometheus volume of at least 512Mi, found "${storageSize}"`);
  return `${mb}MB`;
}

/** A ServiceMonitor or PodMonitor for one scrape target, living in the monitoring namespace. */
export function scrapeObject(
  key: string,
  target: ScrapeTarget,
  namespace: string,
  labels: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const endpoint: Record<string, unknown> = {
    port: target.port,
    path: target.path,
    scheme: target.scheme ?? "http",
    interval: "30s",
    relabelings: [
      // one stable job name per component, whatever its Service is called
      { action: "replace", targetLabel: "job", replacement: key },
      { action: "replace", sourceLabels: ["__meta_kubernetes_pod_node_name"], targetLabel: "node" },
    ],
  };
  if (target.honorLabels) endpoint.honorLabels = true;
  if (target.kubernetesAuth) endpoint.bearerTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  if (target.tls)
    endpoint.tlsConfig = {
      ca: { secret: { name: target.tls.caSecret.name, key: target.tls.caSecret.key } },
      serverName: target.tls.serverName,
    };
  const metadata = { name: `sovereign-${key}`, namespace, labels: { ...labels } };
  const common = {
    namespaceSelector: { matchNames: [target.namespace] },
    selector: {
      matchLabels: { ...target.selector },
      ...(target.exclude
        ? {
            matchExpressions: Object.entries(target.exclude).map(([key, values]) => ({
              key,
              operator: "NotIn",
              values: [...values],
            })),
          }
        : {}),
    },
  };
  return target.kind === "ServiceMonitor"
    ? {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata,
        spec: { ...common, endpoints: [endpoint] },
      }
    : {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata,
        spec: { ...common, podMetricsEndpoints: [endpoint] },
      };
}

/** A dashboard ConfigMap the Grafana sidecar picks up. */
export function dashboardConfigMap(
  d: Dashboard,
  namespace: string,
): {
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  data: Record<string, string>;
} {
  return {
    metadata: {
      name: `dashboard-${d.name}`,
      namespace,
      labels: { ...k8sLabels("grafana-dashboard", d.name), [DASHBOARD_LABEL.key]: DASHBOARD_LABEL.value },
      annotations: { [DASHBOARD_FOLDER_ANNOTATION]: DASHBOARD_FOLDER },
    },
    data: { [`${d.name}.json`]: d.json },
  };
}

/** Alertmanager configuration for a receiver whose secrets are resolved. */
export function alertmanagerConfig(
  r:
    | { receiver: "webhook"; url: string }
    | { receiver: "email"; to: string; from: string; smarthost: string; password?: string },
): Record<string, unknown> {
  const target =
    r.receiver === "webhook"
      ? { webhook_configs: [{ url: r.url, send_resolved: true }] }
      : {
          email_configs: [
            {
              to: r.to,
              from: r.from,
              smarthost: r.smarthost,
              require_tls: true,
              send_resolved: true,
              ...(r.password !== undefined ? { auth_username: r.from, auth_password: r.password } : {}),
            },
          ],
        };
  return {
    route: {
      receiver: "platform",
      group_by: ["alertname", "namespace"],
      group_wait: "30s",
      group_interval: "5m",
      repeat_interval: "4h",
      routes: [{ receiver: "null", matchers: ['alertname=~"Watchdog|InfoInhibitor"'] }],
    },
    inhibit_rules: [
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ["alertname", "namespace"],
      },
    ],
    receivers: [{ name: "null" }, { name: "platform", ...target }],
  };
}

/** Grafana `grafana.ini`: no phoning home, no sign-up, optional generic OAuth. */
export function grafanaIni(
  oidc: Omit<GrafanaOidc, "clientSecret"> | undefined,
  url?: string,
): Record<string, unknown> {
  const ini: Record<string, unknown> = {
    ...(url ? { server: { root_url: url } } : {}),
    analytics: { reporting_enabled: false, check_for_updates: false, check_for_plugin_updates: false },
    news: { news_feed_enabled: false },
    users: { allow_sign_up: false },
    "auth.anonymous": { enabled: false },
    security: { disable_gravatar: true },
  };
  if (oidc) {
    const claim = oidc.groupsClaim ?? "groups";
    const issuer = oidc.issuer.replace(/\/$/, "");
    ini["auth.generic_oauth"] = {
      enabled: true,
      name: "SSO",
      client_id: oidc.clientId,
      // client_secret comes from GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET (a Secret), never the values
      scopes: "openid profile email",
      auth_url: oidc.authUrl ?? `${issuer}/protocol/openid-connect/auth`,
      token_url: oidc.tokenUrl ?? `${issuer}/protocol/openid-connect/token`,
      api_url: oidc.userinfoUrl ?? `${issuer}/protocol/openid-connect/userinfo`,
      use_pkce: true,
      allow_sign_up: true,
      groups_attribute_path: claim,
      role_attribute_path: oidc.adminGroup
        ? `contains(${claim}[*], '${oidc.adminGroup}') && 'Admin' || 'Viewer'`
        : "'Viewer'",
      role_attribute_strict: false,
    };
  }
  return ini;
}

/** Alertmanager's web port (its Service's `port` and `targetPort`, the chart's defaults). */
export const ALERTMANAGER_WEB_PORT = 9093;

/**
 * The pods of the pinned kube-prometheus-stack chart (release `monitoring`), by the labels its
 * Services select them by, and their container ports (chart-flows.test.ts records the reading).
 */
export const MONITORING_PODS = {
  prometheus: { pods: PROMETHEUS_PODS, ports: [PROMETHEUS_PORT, 8080] }, // web, config reloader
  alertmanager: { pods: { "app.kubernetes.io/name": "alertmanager" }, ports: [ALERTMANAGER_WEB_PORT, 8080] }, // web, reloader
  grafana: { pods: { "app.kubernetes.io/name": "grafana" }, ports: [3000] },
  kubeStateMetrics: { pods: { "app.kubernetes.io/name": "kube-state-metrics" }, ports: [8080] },
  // The operator serves its admission webhook (PrometheusRules) and its metrics on one port.
  operator: { pods: { app: "kube-prometheus-stack-operator" }, ports: [10250] },
} as const;
/** Alertmanager replicas gossip on this port, TCP and UDP. */
export const ALERTMANAGER_MESH_PORT = 9094;
/** Ports Prometheus scrapes on the nodes: the kubelet (cAdvisor, probes) and node-exporter. */
export const KUBELET_PORT = 10250;
export const NODE_EXPORTER_PORT = 9100;
/** CoreDNS's metrics port (the chart's `coreDns` ServiceMonitor, in kube-system). */
export const COREDNS_METRICS_PORT = 9153;

/** What the monitoring namespace's flows depend on. */
export interface MonitoringFlowArgs {
  readonly nodes: readonly Record<string, unknown>[];
  readonly nodeExporter: boolean;
  readonly alertmanager: boolean;
  /** Port Alertmanager reaches its receiver on, at any address. @default none */
  readonly receiverPort?: number;
  /** Ports Grafana reaches the identity provider on, at any address (token and userinfo). @default [] */
  readonly identityProviderPorts?: readonly number[];
  /** Grafana is exposed through a LoadBalancer: its port is open to any address. */
  readonly grafanaExposed: boolean;
}

const byName = (ns: string) => ({ matchLabels: { "kubernetes.io/metadata.name": ns } });
const anywhere = [{ ipBlock: { cidr: "0.0.0.0/0" } }];

/**
 * The flows of the monitoring namespace besides DNS and the API server (which every pod of it
 * reaches: the operator, kube-state-metrics, Grafana's sidecars, Prometheus's discovery and its
 * `apiserver` scrape, the chart's admission Jobs):
 * - in: the API server calls the operator's admission webhook; KEDA's operator queries Prometheus;
 *   an exposed Grafana takes its users from any address;
 * - inside: Prometheus scrapes the stack's own pods and sends alerts to Alertmanager; Grafana
 *   queries Prometheus, and Alertmanager (its Alertmanager datasource); Alertmanager replicas gossip;
 * - out: Prometheus scrapes every entry of `SCRAPE_TARGETS` in its namespace on its container
 *   port, CoreDNS's metrics, and the kubelets (and node-exporter) on the nodes; Alertmanager
 *   reaches its receiver and Grafana the identity provider, at any address on their ports only
 *   (the kit knows no address of either).
 */
export function monitoringFlows(namespace: string, a: MonitoringFlowArgs): ChartNamespaceFlows {
  const P = MONITORING_PODS;
  const scraped = [
    P.kubeStateMetrics,
    P.operator,
    P.grafana,
    P.prometheus,
    ...(a.alertmanager ? [P.alertmanager] : []),
  ];
  const targets = new Map<string, Set<number>>();
  for (const t of Object.values(SCRAPE_TARGETS))
    targets.set(t.namespace, (targets.get(t.namespace) ?? new Set()).add(t.containerPort));
  return {
    namespace,
    fromApiServer: [{ pods: P.operator.pods, ports: P.operator.ports }],
    withinNamespace: [
      ...scraped.map((t) => ({ pods: t.pods, ports: t.ports, clients: PROMETHEUS_PODS })),
      { pods: PROMETHEUS_PODS, ports: [PROMETHEUS_PORT], clients: P.grafana.pods },
      ...(a.alertmanager
        ? [
            {
              pods: P.alertmanager.pods,
              ports: [ALERTMANAGER_MESH_PORT],
              udpPorts: [ALERTMANAGER_MESH_PORT],
              clients: P.alertmanager.pods,
            },
            // Grafana's Alertmanager datasource (on only with Alertmanager) queries its web port.
            { pods: P.alertmanager.pods, ports: [ALERTMANAGER_WEB_PORT], clients: P.grafana.pods },
          ]
        : []),
    ],
    egress: [
      ...[...targets.keys()].sort().map((ns) => ({
        pods: PROMETHEUS_PODS,
        to: [{ namespaceSelector: byName(ns) }],
        ports: [...targets.get(ns)!].sort((x, y) => x - y),
      })),
      {
        pods: PROMETHEUS_PODS,
        to: [
          {
            namespaceSelector: byName("kube-system"),
            podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
          },
        ],
        ports: [COREDNS_METRICS_PORT],
      },
      {
        pods: PROMETHEUS_PODS,
        to: [...a.nodes],
        ports: [KUBELET_PORT, ...(a.nodeExporter ? [NODE_EXPORTER_PORT] : [])],
      },
      ...(a.alertmanager && a.receiverPort !== undefined
        ? [{ pods: P.alertmanager.pods, to: anywhere, ports: [a.receiverPort] }]
        : []),
      ...(a.identityProviderPorts?.length
        ? [
            {
              pods: P.grafana.pods,
              to: anywhere,
              ports: [...new Set(a.identityProviderPorts)].sort((x, y) => x - y),
            },
          ]
        : []),
    ],
    ingress: [
      {
        pods: PROMETHEUS_PODS,
        from: [
          {
            namespaceSelector: byName(PLATFORM_NAMESPACES.keda),
            podSelector: { matchLabels: { app: "keda-operator" } },
          },
        ],
        ports: [PROMETHEUS_PORT],
      },
      ...(a.grafanaExposed ? [{ pods: P.grafana.pods, from: [], ports: P.grafana.ports }] : []),
    ],
  };
}

/** The port a URL names, or its scheme's default. */
export function urlPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : u.protocol === "http:" ? 80 : 443;
}

export interface ObservabilityPlan {
  readonly namespace: string;
  readonly retention: string;
  readonly retentionSize: string;
  readonly replicas: number;
  readonly alertmanagerEnabled: boolean;
  /** Keep the namespace (and the metrics volumes in it) when the stack is destroyed. */
  readonly retainData: boolean;
  readonly sizing: Sizing;
  /** Labels every monitor and rule carries; Prometheus selects exactly these. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly values: Record<string, unknown>;
  readonly scrapeObjects: readonly { readonly key: string; readonly object: Record<string, unknown> }[];
  readonly rules: ReturnType<typeof prometheusRule>;
  readonly ruleGroups: readonly RuleGroup[];
  /** Default-deny both ways plus exactly `monitoringFlows`. */
  readonly networkPolicies: ReturnType<typeof chartNamespacePolicies>;
}

/** Everything the component creates, computed from its args alone. */
export function observabilityPlan(args: ObservabilityArgs): ObservabilityPlan {
  const namespace = PLATFORM_NAMESPACES.monitoring;
  const sizing = SIZING[args.footprint];
  const { retention, replicas } = args;
  if (!Number.isInteger(replicas) || replicas < 1)
    throw new Error(`expected at least 1 Prometheus replica, found ${replicas}`);
  const retentionSize = retentionSizeFor(args.storageSize);
  const alertmanagerEnabled = (args.alerting ?? { receiver: "none" }).receiver !== "none";
  const oidc = args.grafana?.oidc;
  const selectorLabels = { release: RELEASE_NAME };
  const inNamespace = { matchLabels: { "kubernetes.io/metadata.name": namespace } };
  const volume = (size: string) => ({
    volumeClaimTemplate: {
      spec: {
        storageClassName: args.storageClass,
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: size } },
      },
    },
  });
  const off = { enabled: false };

  const values: Record<string, unknown> = {
    fullnameOverride: RELEASE_NAME,
    crds: { enabled: true },
    defaultRules: {
      create: true,
      rules: {
        etcd: false,
        kubeControllerManager: false,
        kubeSchedulerAlerting: false,
        kubeSchedulerRecording: false,
        kubeProxy: false,
        ...(sizing.nodeExporter
          ? {}
          : { node: false, nodeExporterAlerting: false, nodeExporterRecording: false }),
      },
    },
    // managed control planes do not expose these
    kubeEtcd: off,
    kubeControllerManager: off,
    kubeScheduler: off,
    kubeProxy: off,
    nodeExporter: { enabled: sizing.nodeExporter },
    prometheusOperator: { resources: sizing.operator },
    "kube-state-metrics": {
      resources: sizing.kubeStateMetrics,
      // lets dashboards put GPUs in their pool (kube_node_labels{label_sovereign_ai_gpu_pool})
      metricLabelsAllowlist: [`nodes=[${GPU_POOL_LABEL},${GPU_TYPE_LABEL}]`],
    },
    prometheus: {
      enabled: true,
      prometheusSpec: {
        replicas,
        retention,
        retentionSize,
        walCompression: true,
        enableAdminAPI: false,
        externalLabels: { ...(args.externalLabels ?? {}) },
        resources: sizing.prometheus,
        podAntiAffinity: replicas > 1 ? "hard" : "",
        storageSpec: volume(args.storageSize),
        serviceMonitorSelector: { matchLabels: selectorLabels },
        serviceMonitorNamespaceSelector: inNamespace,
        podMonitorSelector: { matchLabels: selectorLabels },
        podMonitorNamespaceSelector: inNamespace,
        ruleSelector: { matchLabels: selectorLabels },
        ruleNamespaceSelector: inNamespace,
        probeSelector: { matchLabels: selectorLabels },
        probeNamespaceSelector: inNamespace,
      },
    },
    alertmanager: alertmanagerEnabled
      ? {
          enabled: true,
          alertmanagerSpec: {
            replicas: sizing.alertmanagerReplicas,
            useExistingSecret: true,
            configSecret: ALERTMANAGER_CONFIG_SECRET,
            resources: sizing.alertmanager,
            storage: volume(sizing.alertmanagerStorage),
          },
        }
      : off,
    grafana: {
      enabled: true,
      fullnameOverride: GRAFANA_SERVICE,
      defaultDashboardsEnabled: true,
      testFramework: off,
      admin: { existingSecret: GRAFANA_ADMIN_SECRET, userKey: "admin-user", passwordKey: "admin-password" },
      persistence: off,
      resources: sizing.grafana,
      service: args.grafana?.exposed
        ? { type: "LoadBalancer", annotations: { ...(args.internalLoadBalancerAnnotations ?? {}) } }
        : { type: "ClusterIP" },
      envFromSecrets: oidc ? [{ name: GRAFANA_OIDC_SECRET }] : [],
      "grafana.ini": grafanaIni(oidc, args.grafana?.url),
      sidecar: {
        dashboards: {
          enabled: true,
          label: DASHBOARD_LABEL.key,
          labelValue: DASHBOARD_LABEL.value,
          searchNamespace: namespace,
          folderAnnotation: DASHBOARD_FOLDER_ANNOTATION,
          provider: { foldersFromFilesStructure: true },
        },
        datasources: {
          enabled: true,
          defaultDatasourceEnabled: true,
          uid: "prometheus",
          // The chart's Alertmanager datasource (on by default, even without Alertmanager): alerts
          // and silences in Grafana where Alertmanager runs (its flow is in monitoringFlows).
          alertmanager: { enabled: alertmanagerEnabled },
        },
      },
    },
  };

  const monitorLabels = { ...k8sLabels("observability", RELEASE_NAME), ...selectorLabels };
  const scrapeObjects = Object.entries(SCRAPE_TARGETS).map(([key, t]) => ({
    key,
    object: scrapeObject(key, t, namespace, monitorLabels),
  }));
  const alerting = args.alerting ?? { receiver: "none" };
  const networkPolicies = chartNamespacePolicies(
    monitoringFlows(namespace, {
      nodes: args.nodes,
      nodeExporter: sizing.nodeExporter,
      alertmanager: alertmanagerEnabled,
      receiverPort:
        alerting.receiver === "webhook"
          ? (alerting.port ?? 443)
          : alerting.receiver === "email"
            ? Number(alerting.smarthost.slice(alerting.smarthost.lastIndexOf(":") + 1))
            : undefined,
      identityProviderPorts: oidc
        ? [urlPort(oidc.tokenUrl ?? oidc.issuer), urlPort(oidc.userinfoUrl ?? oidc.issuer)]
        : [],
      grafanaExposed: args.grafana?.exposed ?? false,
    }),
    args.apiServer,
    namespace,
  );
  const ruleGroups = alertRuleGroups();
  const rules = prometheusRule("sovereign-alerts", namespace, monitorLabels, ruleGroups);
  return {
    namespace,
    retention,
    retentionSize,
    replicas,
    alertmanagerEnabled,
    retainData: args.retainData,
    sizing,
    selectorLabels,
    values,
    scrapeObjects,
    rules,
    ruleGroups,
    networkPolicies,
  };
}

export class Observability extends pulumi.ComponentResource {
  /** Prometheus query API for in-cluster clients (KEDA's triggers). */
  public readonly prometheusUrl: pulumi.Output<string>;
  /** Grafana's in-cluster URL. */
  public readonly grafanaUrl: pulumi.Output<string>;
  /** Secret (in the monitoring namespace) with keys `admin-user` and `admin-password`. */
  public readonly grafanaAdminSecretName: pulumi.Output<string>;
  /** The generated Grafana admin password (a secret output). */
  public readonly grafanaAdminPassword: pulumi.Output<string>;
  public readonly alertmanagerEnabled: boolean;

  constructor(name: string, args: ObservabilityArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:platform:Observability", name, {}, opts);
    const plan = observabilityPlan(args);
    const ns = plan.namespace;
    const chart = args.chart ?? KUBE_PROMETHEUS_STACK_CHART;
    const labels = k8sLabels("observability", name);

    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: ns, labels } },
      // deleting the namespace would delete the Prometheus volumes: kept in prod
      { parent: this, retainOnDelete: plan.retainData },
    );
    const password = new random.RandomPassword(
      `${name}-grafana-admin-password`,
      { length: 32, special: false },
      { parent: this },
    );
    const adminPassword = pulumi.secret(password.result);
    const adminSecret = new k8s.core.v1.Secret(
      `${name}-grafana-admin`,
      {
        metadata: { name: GRAFANA_ADMIN_SECRET, namespace: ns, labels },
        type: "Opaque",
        stringData: { "admin-user": "admin", "admin-password": adminPassword },
      },
      { parent: this, dependsOn: [namespace] },
    );
    const secrets: pulumi.Resource[] = [adminSecret];
    const oidc = args.grafana?.oidc;
    if (oidc) {
      secrets.push(
        new k8s.core.v1.Secret(
          `${name}-grafana-oidc`,
          {
            metadata: { name: GRAFANA_OIDC_SECRET, namespace: ns, labels },
            type: "Opaque",
            stringData: { GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET: pulumi.secret(oidc.clientSecret) },
          },
          { parent: this, dependsOn: [namespace] },
        ),
      );
    }
    const alerting = args.alerting ?? { receiver: "none" };
    if (alerting.receiver !== "none") {
      const rendered =
        alerting.receiver === "webhook"
          ? pulumi
              .output(alerting.url)
              .apply((url) => stringify(alertmanagerConfig({ receiver: "webhook", url })))
          : pulumi
              .output(alerting.password)
              .apply((password) =>
                stringify(
                  alertmanagerConfig({ ...alerting, receiver: "email", password: password ?? undefined }),
                ),
              );
      secrets.push(
        new k8s.core.v1.Secret(
          `${name}-alertmanager-config`,
          {
            metadata: { name: ALERTMANAGER_CONFIG_SECRET, namespace: ns, labels },
            type: "Opaque",
            stringData: { "alertmanager.yaml": pulumi.secret(rendered) },
          },
          { parent: this, dependsOn: [namespace] },
        ),
      );
    }

    // Default-deny both ways plus exactly the flows above, before the chart installs.
    const policies = plan.networkPolicies.map(
      (np) =>
        new k8s.networking.v1.NetworkPolicy(`${name}-np-${np.metadata.name}`, np, {
          parent: this,
          dependsOn: [namespace],
        }),
    );
    const release = new k8s.helm.v3.Release(
      `${name}-stack`,
      {
        name: RELEASE_NAME,
        ...chartSource(chart, args.chartMirror),
        namespace: ns,
        createNamespace: false,
        values: pulumi
          .output(args.registryMirrors ?? {})
          .apply((m) => withChartImages(plan.values, CHART_IMAGES.kubePrometheusStack, m)),
        timeout: 900,
      },
      { parent: this, dependsOn: [namespace, ...secrets, ...policies] },
    );

    // The model CA's bundle: Prometheus verifies the model servers with its `ca.crt`.
    if (args.modelCa)
      new k8s.apiextensions.CustomResource(`${name}-model-server-ca`, modelCaBundleCertificate(ns), {
        parent: this,
        dependsOn: [namespace, ...(args.modelCa.dependsOn ?? [])],
      });
    // The Kueue CA's bundle: Prometheus verifies Kueue's metrics endpoint with its `ca.crt`.
    if (args.kueueCa)
      new k8s.apiextensions.CustomResource(`${name}-kueue-metrics-ca`, kueueCaBundleCertificate(ns), {
        parent: this,
        dependsOn: [namespace, ...(args.kueueCa.dependsOn ?? [])],
      });
    for (const { key, object } of plan.scrapeObjects) {
      new k8s.apiextensions.CustomResource(
        `${name}-monitor-${key}`,
        object as k8s.apiextensions.CustomResourceArgs,
        { parent: this, dependsOn: [release] },
      );
    }
    new k8s.apiextensions.CustomResource(`${name}-rules`, plan.rules, { parent: this, dependsOn: [release] });
    for (const d of args.dashboards ?? []) {
      new k8s.core.v1.ConfigMap(`${name}-dashboard-${d.name}`, dashboardConfigMap(d, ns), {
        parent: this,
        dependsOn: [namespace],
      });
    }

    this.prometheusUrl = pulumi.output(release.status).apply(() => prometheusUrl());
    this.grafanaUrl = pulumi
      .output(release.status)
      .apply(() => `http://${GRAFANA_SERVICE}.${ns}.svc.cluster.local:80`);
    this.grafanaAdminSecretName = adminSecret.metadata.name;
    this.grafanaAdminPassword = adminPassword;
    this.alertmanagerEnabled = plan.alertmanagerEnabled;
    this.registerOutputs({
      prometheusUrl: this.prometheusUrl,
      grafanaUrl: this.grafanaUrl,
      grafanaAdminSecretName: this.grafanaAdminSecretName,
      grafanaAdminPassword: this.grafanaAdminPassword,
    });
  }
}
