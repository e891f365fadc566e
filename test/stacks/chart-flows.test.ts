/**
 * The NetworkPolicies of the charts' default-deny namespaces against the charts themselves.
 *
 * Rendered here (`helm template`, offline, with the values the shipped stack records for the
 * release): Gatekeeper and cert-manager at their pinned versions, and Kueue from its Go module at
 * v0.19.0, the nearest served release to the pinned 0.19.4 (scripts/tools.sh). Every admission
 * webhook and aggregated API the rendering registers is followed to the pods and the container
 * port that serve it (→ Service → targetPort → pod port), and every scrape target of the kit in
 * the namespace to the pods and the container port Prometheus reaches.
 *
 * Recorded (the charts live in chart repositories, which CI cannot reach): KEDA, kube-prometheus-stack,
 * CloudNativePG, the DCGM exporter and the NVIDIA device plugin. Their readings below come from one
 * `helm template` of each chart with the values the shipped stack records; each says the chart
 * version read and the files the values come from. A change of pin must be read again.
 *
 * Either way the same checks run: the recorded policies admit the API server to exactly those
 * pods and ports, Prometheus to the scraped ones, and no ingress rule admits a port that no pod
 * it selects serves.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TENANCY_CHARTS, CHARTS } from "../../components/lib/versions";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import type { K8sObject } from "../helpers/k8s-schema";
import { helmTemplate } from "../helpers/helm";
import { runShippedStack, type StackRun } from "../helpers/stack";
import { chartPath } from "../helpers/tools";

type Labels = Record<string, string>;

/** The Kueue chart rendered: v0.19.0, the nearest release to the pinned 0.19.4 that its Go module serves. */
const KUEUE_RENDERED = "0.19.0";

/** What a namespace's policies must agree with: its pods, and who calls them on which port. */
interface Reading {
  /** Every pod the chart runs on the pod network (host-network pods are outside NetworkPolicy): labels and container ports. */
  readonly pods: readonly {
    readonly name: string;
    readonly labels: Labels;
    readonly ports: readonly number[];
  }[];
  /** Admission webhooks and aggregated APIs: the pods and container port the API server calls. */
  readonly calledByApiServer: readonly {
    readonly what: string;
    readonly labels: Labels;
    readonly port: number;
  }[];
  /** Pods Prometheus scrapes on a container port; `target` names the kit's `SCRAPE_TARGETS` entry. */
  readonly scraped: readonly {
    readonly what: string;
    readonly labels: Labels;
    readonly port: number;
    readonly target?: string;
    /** The container port's name (what the scrape target names). */
    readonly portName?: string;
  }[];
}

const subset = (sel: Labels | undefined, labels: Labels) =>
  Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);

const WORKLOADS = /^(Deployment|DaemonSet|StatefulSet)$/;

/** Follows a Service port (by port number or name) to the pods behind it and their container port. */
function behind(all: any[], svc: any, match: (p: any) => boolean, what: string) {
  const sp = svc.spec.ports.find(match);
  expect(sp, `${what}: port of Service ${svc.metadata.name}`).toBeDefined();
  const target = sp.targetPort ?? sp.port;
  const out: { what: string; labels: Labels; port: number }[] = [];
  for (const o of all.filter(
    (x) => WORKLOADS.test(x.kind) && subset(svc.spec.selector, x.spec.template.metadata.labels),
  ))
    for (const c of o.spec.template.spec.containers)
      for (const p of c.ports ?? [])
        if (p.name === target || p.containerPort === target)
          out.push({ what, labels: o.spec.template.metadata.labels, port: p.containerPort });
  expect(out.length, `${what}: pods behind ${svc.metadata.name}`).toBeGreaterThan(0);
  return out;
}

/** The reading of a rendering: its pods, what the API server calls, and the kit's scrape targets in `namespace`. */
function readRendering(objects: readonly K8sObject[], namespace: string): Reading {
  const all = objects as any[];
  const service = (name: string) => all.find((o) => o.kind === "Service" && o.metadata.name === name);
  const calledByApiServer = [
    ...all
      .filter((o) => /^(Validating|Mutating)WebhookConfiguration$/.test(o.kind))
      .flatMap((cfg) =>
        cfg.webhooks.flatMap((w: any) => {
          const ref = w.clientConfig.service;
          expect(ref.namespace, w.name).toBe(namespace);
          return behind(all, service(ref.name), (p) => p.port === (ref.port ?? 443), w.name);
        }),
      ),
    ...all
      .filter((o) => o.kind === "APIService" && o.spec.service)
      .flatMap((a) =>
        behind(
          all,
          service(a.spec.service.name),
          (p) => p.port === (a.spec.service.port ?? 443),
          a.metadata.name,
        ),
      ),
  ];
  const scraped = Object.entries(SCRAPE_TARGETS)
    .filter(([, t]) => t.namespace === namespace)
    .flatMap(([key, t]) => {
      if (t.kind === "PodMonitor")
        return all
          .filter((o) => WORKLOADS.test(o.kind) && subset(t.selector, o.spec.template.metadata.labels))
          .flatMap((o) =>
            o.spec.template.spec.containers.flatMap((c: any) =>
              (c.ports ?? [])
                .filter((p: any) => p.name === t.port)
                .map((p: any) => ({
                  what: key,
                  labels: o.spec.template.metadata.labels,
                  port: p.containerPort,
                  target: key,
                })),
            ),
          );
      const excluded = (l: Labels) =>
        Object.entries(t.exclude ?? {}).some(([k, vs]) => l[k] !== undefined && vs.includes(l[k]));
      return all
        .filter(
          (o) =>
            o.kind === "Service" &&
            subset(t.selector, o.metadata.labels ?? {}) &&
            !excluded(o.metadata.labels ?? {}),
        )
        .flatMap((svc) =>
          behind(all, svc, (p) => p.name === t.port, key).map((s) => ({ ...s, target: key })),
        );
    });
  const pods = all
    .filter((o) => WORKLOADS.test(o.kind) && !o.spec.template.spec.hostNetwork)
    .map((o) => ({
      name: o.metadata.name,
      labels: o.spec.template.metadata.labels,
      ports: o.spec.template.spec.containers.flatMap((c: any) =>
        (c.ports ?? []).map((p: any) => p.containerPort),
      ),
    }));
  return { pods, calledByApiServer, scraped };
}

/*
 * Recorded readings. Each comes from `helm template <release> <chart> --namespace <ns>
 * --kube-version 1.33.0` with the values the shipped stack records for the release (aws-prod; local
 * for CloudNativePG), read from the chart's repository at the version named. Where that snapshot
 * lacked the pinned version, the nearest earlier release was read; it is named.
 */

/**
 * KEDA chart 2.20.2 (pinned 2.21.1; the newest in the snapshot read), files
 * keda/templates/{manager,metrics-server,webhooks}/{deployment,service}.yaml,
 * metrics-server/apiservice.yaml and webhooks/validatingconfiguration.yaml. With
 * `prometheus.operator.enabled` the operator gets container port `metrics` 8080.
 */
const KEDA_READING: Reading = {
  pods: [
    { name: "keda-operator", labels: { app: "keda-operator" }, ports: [8080, 9666] },
    {
      name: "keda-operator-metrics-apiserver",
      labels: { app: "keda-operator-metrics-apiserver" },
      ports: [6443, 8080],
    },
    { name: "keda-admission-webhooks", labels: { app: "keda-admission-webhooks" }, ports: [9443] },
  ],
  calledByApiServer: [
    // keda-admission-webhooks Service 443 → targetPort 9443 (container port `http`)
    { what: "keda-admission (6 webhooks)", labels: { app: "keda-admission-webhooks" }, port: 9443 },
    // APIService v1beta1.external.metrics.k8s.io → Service keda-operator-metrics-apiserver 443 → 6443
    {
      what: "v1beta1.external.metrics.k8s.io",
      labels: { app: "keda-operator-metrics-apiserver" },
      port: 6443,
    },
  ],
  scraped: [
    {
      what: "keda operator",
      labels: { app: "keda-operator" },
      port: 8080,
      target: "keda",
      portName: "metrics",
    },
  ],
};

/**
 * kube-prometheus-stack 77.11.1 with its dependencies at the versions its Chart.yaml names
 * (grafana 10.0.0, kube-state-metrics 6.3.0, prometheus-node-exporter 4.48.0). Files:
 * templates/prometheus-operator/{deployment,service,admission-webhooks/*}.yaml,
 * templates/{prometheus,alertmanager}/service.yaml, charts/grafana/templates/deployment.yaml,
 * charts/kube-state-metrics/templates/deployment.yaml. The operator makes the Prometheus and
 * Alertmanager pods: their labels are what the chart's Services select them by, their ports
 * what those Services target (web, config reloader) and Alertmanager's mesh (9094, TCP and UDP).
 * node-exporter runs on the host network (9100), outside NetworkPolicy.
 */
const MONITORING_READING: Reading = {
  pods: [
    {
      name: "prometheus",
      labels: {
        "app.kubernetes.io/name": "prometheus",
        "operator.prometheus.io/name": "monitoring-prometheus",
      },
      ports: [9090, 8080],
    },
    {
      name: "alertmanager",
      labels: { "app.kubernetes.io/name": "alertmanager", alertmanager: "monitoring-alertmanager" },
      ports: [9093, 8080, 9094],
    },
    {
      name: "grafana",
      labels: { "app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "monitoring" },
      ports: [3000, 9094, 6060],
    },
    {
      name: "kube-state-metrics",
      labels: { "app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": "monitoring" },
      ports: [8080],
    },
    {
      name: "operator",
      labels: { app: "kube-prometheus-stack-operator", release: "monitoring" },
      ports: [10250],
    },
  ],
  calledByApiServer: [
    // monitoring-admission (validating and mutating) → Service monitoring-operator 443 → `https` 10250
    {
      what: "monitoring-admission",
      labels: { app: "kube-prometheus-stack-operator", release: "monitoring" },
      port: 10250,
    },
  ],
  // The chart's own ServiceMonitors in the namespace (Prometheus selects `release: monitoring` there).
  scraped: [
    { what: "prometheus http-web", labels: { "app.kubernetes.io/name": "prometheus" }, port: 9090 },
    { what: "prometheus reloader-web", labels: { "app.kubernetes.io/name": "prometheus" }, port: 8080 },
    { what: "alertmanager http-web", labels: { "app.kubernetes.io/name": "alertmanager" }, port: 9093 },
    { what: "alertmanager reloader-web", labels: { "app.kubernetes.io/name": "alertmanager" }, port: 8080 },
    { what: "grafana http-web → grafana", labels: { "app.kubernetes.io/name": "grafana" }, port: 3000 },
    {
      what: "kube-state-metrics http",
      labels: { "app.kubernetes.io/name": "kube-state-metrics" },
      port: 8080,
    },
    { what: "operator https", labels: { app: "kube-prometheus-stack-operator" }, port: 10250 },
  ],
};

/**
 * cloudnative-pg chart 0.29.0 (pinned 0.29.1; the newest in the snapshot read), files
 * templates/{deployment,service,validatingwebhookconfiguration,mutatingwebhookconfiguration}.yaml:
 * the manager's `webhook-server` 9443 (Service cnpg-webhook-service 443), `metrics` 8080 (not
 * scraped: the stack turns the chart's PodMonitor off).
 */
const CNPG_READING: Reading = {
  pods: [
    {
      name: "cnpg-cloudnative-pg",
      labels: { "app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "cnpg" },
      ports: [8080, 9443],
    },
  ],
  calledByApiServer: [
    {
      what: "cnpg webhooks (4 mutating, 5 validating)",
      labels: { "app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "cnpg" },
      port: 9443,
    },
  ],
  scraped: [],
};

/**
 * The GPU namespace: dcgm-exporter chart 4.8.2 (pinned 4.8.3; the newest in the snapshot read),
 * deployment/templates/daemonset.yaml: container port `metrics` 9400, pods labelled
 * `app.kubernetes.io/name: dcgm-exporter`; nvidia-device-plugin 0.20.0,
 * templates/daemonset-device-plugin.yml and daemonset-mps-control-daemon.yml: no ports, not on
 * the host network (it lists its node through the API server).
 */
const GPU_READING: Reading = {
  pods: [
    {
      name: "dcgm-exporter",
      labels: {
        "app.kubernetes.io/name": "dcgm-exporter",
        "app.kubernetes.io/instance": "dcgm-exporter",
        "app.kubernetes.io/component": "dcgm-exporter",
      },
      ports: [9400],
    },
    {
      name: "device-plugin",
      labels: {
        "app.kubernetes.io/name": "nvidia-device-plugin",
        "app.kubernetes.io/instance": "device-plugin",
      },
      ports: [],
    },
  ],
  calledByApiServer: [],
  scraped: [
    {
      what: "dcgm-exporter metrics",
      labels: {
        "app.kubernetes.io/name": "dcgm-exporter",
        "app.kubernetes.io/instance": "dcgm-exporter",
        "app.kubernetes.io/component": "dcgm-exporter",
      },
      port: 9400,
      target: "dcgm-exporter",
      portName: "metrics",
    },
  ],
};

const runs: Record<string, StackRun> = {};
beforeAll(async () => {
  for (const stack of ["aws-prod", "local"]) {
    runs[stack] = await runShippedStack(stack);
    expect(runs[stack].error).toBeUndefined();
  }
});

const release = (stack: string, name: string) =>
  runs[stack].recorder.ofType("kubernetes:helm.sh/v3:Release").find((x) => x.inputs.name === name)!;

const rendered = (stack: string, name: string, chart: () => string) => (): Reading => {
  const r = release(stack, name);
  return readRendering(helmTemplate(name, chart(), r.inputs.namespace, r.inputs.values), r.inputs.namespace);
};

const CASES: { name: string; stack: string; namespace: string; how: string; reading: () => Reading }[] = [
  {
    name: "gatekeeper",
    stack: "aws-prod",
    namespace: "gatekeeper-system",
    how: "rendered",
    reading: rendered("aws-prod", "gatekeeper", () =>
      chartPath("gatekeeper", TENANCY_CHARTS.gatekeeper.version),
    ),
  },
  {
    name: "cert-manager",
    stack: "aws-prod",
    namespace: "cert-manager",
    how: "rendered",
    reading: rendered("aws-prod", "cert-manager", () =>
      chartPath("cert-manager", CHARTS.certManager.version),
    ),
  },
  {
    name: "kueue",
    stack: "aws-prod",
    namespace: "kueue-system",
    how: "rendered (v0.19.0)",
    reading: rendered("aws-prod", "kueue", () => chartPath("kueue", KUEUE_RENDERED)),
  },
  { name: "keda", stack: "aws-prod", namespace: "keda", how: "recorded", reading: () => KEDA_READING },
  {
    name: "kube-prometheus-stack",
    stack: "aws-prod",
    namespace: "sovereign-monitoring",
    how: "recorded",
    reading: () => MONITORING_READING,
  },
  {
    name: "dcgm-exporter + device plugin",
    stack: "aws-prod",
    namespace: "sovereign-gpu",
    how: "recorded",
    reading: () => GPU_READING,
  },
  {
    name: "cloudnative-pg",
    stack: "local",
    namespace: "cnpg-system",
    how: "recorded",
    reading: () => CNPG_READING,
  },
];

it("GIVEN the KEDA reading THEN the values aws-prod records turn on the operator's metrics port it assumes", () => {
  expect(release("aws-prod", "keda").inputs.values.prometheus.operator.enabled).toBe(true);
  expect(release("aws-prod", "keda").inputs.values.prometheus.operator.port ?? 8080).toBe(8080);
});

it("GIVEN the Kueue chart rendered THEN it is the same minor release as the pinned one", () => {
  const [major, minor] = TENANCY_CHARTS.kueue.version.split(".");
  expect(KUEUE_RENDERED.startsWith(`${major}.${minor}.`)).toBe(true);
  const script = fs.readFileSync(path.resolve(__dirname, "../../scripts/tools.sh"), "utf8");
  expect(script).toContain(`KUEUE_CHART_VERSION=${KUEUE_RENDERED}`);
});

describe.each(CASES)("GIVEN the $name chart ($how) and $stack's policies in $namespace", (c) => {
  let reading: Reading;
  let policies: any[];
  let api: unknown[];
  const monitoring = [
    { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "sovereign-monitoring" } } },
  ];
  beforeAll(() => {
    reading = c.reading();
    policies = runs[c.stack].recorder
      .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
      .map((x) => x.inputs)
      .filter((p) => p.metadata.namespace === c.namespace);
    api = policies.find((p) => p.metadata.name === "allow-api-server")!.spec.egress[0].to;
  });

  /** A policy selecting pods with `labels` admits `from` on `port`. */
  const admits = (labels: Labels, from: unknown[], port: number) =>
    policies.some(
      (p) =>
        p.spec.policyTypes.includes("Ingress") &&
        subset(p.spec.podSelector.matchLabels, labels) &&
        (p.spec.ingress ?? []).some(
          (rule: any) =>
            JSON.stringify(rule.from) === JSON.stringify(from) &&
            rule.ports.some((x: any) => x.port === port),
        ),
    );

  it("WHEN each webhook and aggregated API is followed to its pods THEN a policy admits the API server to that pod on that container port", () => {
    for (const s of reading.calledByApiServer)
      expect(admits(s.labels, api, s.port), `${s.what} → ${s.port}`).toBe(true);
  });

  it("WHEN each scraped endpoint is followed to its pods THEN the kit's scrape target names that port, and a policy admits Prometheus to it", () => {
    for (const t of Object.keys(SCRAPE_TARGETS).filter((k) => SCRAPE_TARGETS[k].namespace === c.namespace))
      expect(
        reading.scraped.map((s) => s.target),
        `scrape target ${t} selects pods of the chart`,
      ).toContain(t);
    for (const s of reading.scraped) {
      if (s.target) expect(SCRAPE_TARGETS[s.target].containerPort, s.what).toBe(s.port);
      if (s.target && s.portName) expect(SCRAPE_TARGETS[s.target].port, s.what).toBe(s.portName);
      // A PodMonitor selects the pods themselves (a recorded reading does not follow the selector).
      if (s.target && SCRAPE_TARGETS[s.target].kind === "PodMonitor")
        expect(subset(SCRAPE_TARGETS[s.target].selector, s.labels), `${s.target} selects the pods`).toBe(
          true,
        );
      const prometheus =
        c.namespace === "sovereign-monitoring"
          ? [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } } }]
          : monitoring;
      expect(admits(s.labels, prometheus, s.port), `${s.what} → ${s.port}`).toBe(true);
    }
  });

  it("WHEN the namespace's policies are listed THEN one denies both ways for every pod, and every admitted port is served by a pod the rule selects", () => {
    expect(
      policies.filter(
        (p) =>
          Object.keys(p.spec.podSelector).length === 0 &&
          [...p.spec.policyTypes].sort().join() === "Egress,Ingress" &&
          !p.spec.ingress &&
          !p.spec.egress,
      ),
    ).toHaveLength(1);
    for (const p of policies.filter((x) => x.spec.ingress))
      for (const rule of p.spec.ingress)
        for (const port of rule.ports) {
          const served = reading.pods.filter((pod) => subset(p.spec.podSelector.matchLabels, pod.labels));
          expect(
            served.some((pod) => pod.ports.includes(port.port)),
            `${p.metadata.name} admits port ${port.port}, which no pod it selects serves (${served.map((x) => x.name).join()})`,
          ).toBe(true);
          // Whom a rule admits says why: the API server only to what it calls, monitoring only to what is scraped.
          if (JSON.stringify(rule.from) === JSON.stringify(api))
            expect(
              reading.calledByApiServer.map((x) => x.port),
              `${p.metadata.name}`,
            ).toContain(port.port);
          if (JSON.stringify(rule.from) === JSON.stringify(monitoring))
            expect(
              reading.scraped.map((x) => x.port),
              `${p.metadata.name}`,
            ).toContain(port.port);
        }
  });
});

/**
 * Grafana's datasources, kube-prometheus-stack 77.11.1 (templates/grafana/configmaps-datasources.yaml,
 * templates/alertmanager/service.yaml, values.yaml): with `grafana.enabled` and
 * `grafana.sidecar.datasources.enabled`, the chart provisions an Alertmanager datasource when
 * `grafana.sidecar.datasources.alertmanager.enabled`, which is on in the chart's values and does
 * NOT depend on `alertmanager.enabled`. Its URL is
 * `http://<fullname>-alertmanager.<namespace>:<alertmanager.service.port>/`, queried from
 * Grafana's pod (`access: proxy`); that Service port targets `alertmanager.service.targetPort` on
 * the Alertmanager pods. The chart's defaults of those values:
 */
const KPS_DATASOURCE_DEFAULTS: Record<string, unknown> = {
  "grafana.enabled": true,
  "grafana.sidecar.datasources.enabled": true,
  "grafana.sidecar.datasources.alertmanager.enabled": true,
  "alertmanager.enabled": true,
  "alertmanager.service.port": 9093,
  "alertmanager.service.targetPort": 9093,
};

describe("Grafana's Alertmanager datasource (kube-prometheus-stack, recorded)", () => {
  const seen: Record<string, boolean> = {};
  it.each(["aws-prod", "local"])(
    "GIVEN %s's chart values WHEN the datasources they provision are derived THEN an Alertmanager datasource exists exactly when Alertmanager does, and the monitoring policies admit Grafana's pods to the container port its Service targets, both ways (and not without it)",
    (stack) => {
      const r = release(stack, "monitoring");
      const at = (key: string): unknown =>
        key.split(".").reduce<any>((o, k) => o?.[k], r.inputs.values) ?? KPS_DATASOURCE_DEFAULTS[key];
      const datasource = Boolean(
        at("grafana.enabled") &&
        at("grafana.sidecar.datasources.enabled") &&
        at("grafana.sidecar.datasources.alertmanager.enabled"),
      );
      // A datasource without Alertmanager would name a Service that does not exist.
      expect(datasource, stack).toBe(Boolean(at("alertmanager.enabled")));
      seen[stack] = datasource;
      const pods = Object.fromEntries(MONITORING_READING.pods.map((p) => [p.name, p]));
      const port = at("alertmanager.service.targetPort") as number;
      expect(pods.alertmanager.ports).toContain(port);
      const policies = runs[stack].recorder
        .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        .map((x) => x.inputs)
        .filter((p) => p.metadata.namespace === r.inputs.namespace);
      const peer = (to: any, labels: Labels) =>
        to.namespaceSelector === undefined && to.podSelector && subset(to.podSelector.matchLabels, labels);
      const egress = policies.some(
        (p) =>
          p.spec.policyTypes.includes("Egress") &&
          subset(p.spec.podSelector.matchLabels, pods.grafana.labels) &&
          (p.spec.egress ?? []).some(
            (rule: any) =>
              (rule.to ?? []).some((t: any) => peer(t, pods.alertmanager.labels)) &&
              rule.ports.some((x: any) => x.port === port),
          ),
      );
      const ingress = policies.some(
        (p) =>
          p.spec.policyTypes.includes("Ingress") &&
          subset(p.spec.podSelector.matchLabels, pods.alertmanager.labels) &&
          (p.spec.ingress ?? []).some(
            (rule: any) =>
              (rule.from ?? []).some((f: any) => peer(f, pods.grafana.labels)) &&
              rule.ports.some((x: any) => x.port === port),
          ),
      );
      expect({ egress, ingress }, stack).toEqual({ egress: datasource, ingress: datasource });
    },
  );

  it("GIVEN both stacks THEN both cases were checked (aws-prod runs Alertmanager, local does not)", () => {
    expect(seen).toEqual({ "aws-prod": true, local: false });
  });
});
