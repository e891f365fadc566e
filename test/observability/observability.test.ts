/**
 * The monitoring objects as recorded under mocks, through the wiring function, for every
 * shipped stack (on the substrate test double), plus the receivers and login options.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { prometheusUrl } from "../../components/lib/endpoints";
import { SCRAPE_TARGETS } from "../../components/lib/metrics";
import { PLATFORM_NAMESPACES } from "../../components/lib/naming";
import { KUBE_PROMETHEUS_STACK_CHART } from "../../components/lib/versions";
import { alertNames } from "../../components/platform/alerts";
import {
  Observability,
  observabilityPlan,
  quantityBytes,
  retentionSizeFor,
  SIZING,
  type ObservabilityArgs,
} from "../../components/platform/observability";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { parseConfig } from "../../stacks/config/validate";
import { resolveSettings } from "../../stacks/config/settings";
import { loadDashboards } from "../../stacks/wiring/observability";
import { observabilityArgs, wireObservability } from "../../stacks/wiring/observability";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { validateObject, type K8sObject } from "../helpers/k8s-schema";
import { assertMonitoringInvariants, contractProblems } from "./invariants";
import {
  installMocks,
  settle,
  valueOf,
  type RecordedResource,
  type ResourceRecorder,
} from "../helpers/mocks";

const MONITORING = PLATFORM_NAMESPACES.monitoring;
/** The API server and the nodes as a substrate gives them (the monitoring namespace is default-deny). */
const NET = {
  apiServer: { peers: [{ ipBlock: { cidr: "192.0.2.10/32" } }], ports: [6443] },
  nodes: [{ ipBlock: { cidr: "192.0.2.0/24" } }],
};
const RELEASE = "kubernetes:helm.sh/v3:Release";
const SM = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
const PM = "kubernetes:monitoring.coreos.com/v1:PodMonitor";
const RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";
const SECRET = "kubernetes:core/v1:Secret";
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";

function mocks(): ResourceRecorder {
  return installMocks({
    outputs: (r) =>
      r.type === "random:index/randomPassword:RandomPassword" ? { result: "generated-password" } : {},
  });
}

function shipped(stack: string, edit: (raw: Record<string, any>) => void = () => {}): StackConfig {
  const { raw, secretKeys } = rawFromStackFile(stackFile(stack));
  const copy = structuredClone(raw) as Record<string, any>;
  edit(copy);
  return parseConfig(copy, { secretKeys: copy.secrets ? [...secretKeys, "secrets"] : secretKeys });
}

async function wire(config: StackConfig, stack = "test") {
  const recorder = mocks();
  const substrate = fakeSubstrate();
  const outputs = wireObservability(config, { stack }, substrate);
  await settle();
  return { recorder, outputs };
}

/** stringData of a recorded Secret (the Kubernetes SDK marks all of it secret; the recorder keeps the wrapper). */
function stringData(r: RecordedResource): Record<string, string> {
  const v = r.inputs.stringData as Record<string, unknown>;
  return ("value" in v && Object.keys(v).length === 2 ? v.value : v) as Record<string, string>;
}
const secretNamed = (rec: ResourceRecorder, name: string) =>
  rec.ofType(SECRET).find((s) => s.inputs.metadata.name === name)!;

const release = (rec: ResourceRecorder) => rec.one(RELEASE);
const values = (rec: ResourceRecorder) => release(rec).inputs.values as Record<string, any>;

describe.each(shippedStacks())("observability wiring for the shipped stack %s", (stack) => {
  it("GIVEN the stack WHEN wired THEN every component that exposes metrics gets exactly its scrape object, selected by Prometheus", async () => {
    const { recorder } = await wire(shipped(stack), stack);
    const monitors = [...recorder.ofType(SM), ...recorder.ofType(PM)];
    expect(monitors).toHaveLength(Object.keys(SCRAPE_TARGETS).length);
    const spec = values(recorder).prometheus.prometheusSpec;
    for (const [key, t] of Object.entries(SCRAPE_TARGETS)) {
      const found = monitors.filter(
        (m) =>
          m.inputs.kind === t.kind &&
          JSON.stringify(m.inputs.spec.selector.matchLabels) === JSON.stringify(t.selector) &&
          m.inputs.spec.namespaceSelector.matchNames[0] === t.namespace,
      );
      expect(found, key).toHaveLength(1);
      const m = found[0];
      const ep = (
        t.kind === "ServiceMonitor" ? m.inputs.spec.endpoints : m.inputs.spec.podMetricsEndpoints
      )[0];
      expect(ep.port).toBe(t.port);
      expect(ep.path).toBe(t.path);
      expect(ep.relabelings).toContainEqual({ action: "replace", targetLabel: "job", replacement: key });
      expect(ep.honorLabels ?? false).toBe(t.honorLabels ?? false);
      expect(m.inputs.spec.selector.matchExpressions ?? []).toEqual(
        Object.entries(t.exclude ?? {}).map(([k, v]) => ({ key: k, operator: "NotIn", values: v })),
      );
      expect(ep.scheme).toBe(t.scheme ?? "http");
      if (t.kubernetesAuth)
        expect(ep.bearerTokenFile).toBe("/var/run/secrets/kubernetes.io/serviceaccount/token");
      // the Prometheus picks it up: labels and namespace match its selectors
      const selector = t.kind === "ServiceMonitor" ? spec.serviceMonitorSelector : spec.podMonitorSelector;
      const nsSelector =
        t.kind === "ServiceMonitor" ? spec.serviceMonitorNamespaceSelector : spec.podMonitorNamespaceSelector;
      expect(m.inputs.metadata.labels).toMatchObject(selector.matchLabels);
      expect(nsSelector.matchLabels["kubernetes.io/metadata.name"]).toBe(m.inputs.metadata.namespace);
    }
  });

  it("GIVEN the stack WHEN its monitors and rules are validated against the Prometheus Operator schemas THEN all are valid", async () => {
    const { recorder } = await wire(shipped(stack), stack);
    const objects = [...recorder.ofType(SM), ...recorder.ofType(PM), ...recorder.ofType(RULE)];
    expect(objects.length).toBe(Object.keys(SCRAPE_TARGETS).length + 1);
    for (const o of objects) {
      const r = await validateObject(o.inputs as K8sObject);
      expect(r, `${o.name}`).toEqual({ status: "valid" });
    }
    const rule = recorder.one(RULE);
    expect(rule.inputs.metadata.labels).toMatchObject(
      values(recorder).prometheus.prometheusSpec.ruleSelector.matchLabels,
    );
    expect(rule.inputs.spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert))).toEqual(
      alertNames(),
    );
  });

  it("GIVEN the stack WHEN wired THEN the pinned chart runs in the monitoring namespace with a volume on the substrate's storage class", async () => {
    const config = shipped(stack);
    const { recorder } = await wire(config, stack);
    const r = release(recorder);
    expect(r.inputs.chart).toBe(KUBE_PROMETHEUS_STACK_CHART.chart);
    expect(r.inputs.version).toBe(KUBE_PROMETHEUS_STACK_CHART.version);
    expect(r.inputs.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.inputs.namespace).toBe(MONITORING);
    const spec = values(recorder).prometheus.prometheusSpec;
    const pvc = spec.storageSpec.volumeClaimTemplate.spec;
    expect(pvc.storageClassName).toBe("standard"); // fakeSubstrate's default class
    expect(pvc.resources.requests.storage).toBe(config.observability.storageSize);
    expect(spec.externalLabels).toEqual({ stack });
    const ns = recorder.one("kubernetes:core/v1:Namespace");
    expect(ns.inputs.metadata.name).toBe(MONITORING);
    // the metrics volumes live in the namespace: kept on destroy in prod only
    expect(ns.retainOnDelete).toBe(config.profile === "prod");
  });

  it("GIVEN the stack WHEN wired THEN the Prometheus URL handed to KEDA is the in-cluster query address", async () => {
    const { outputs } = await wire(shipped(stack), stack);
    const url = await valueOf(outputs.prometheusUrl as pulumi.Output<string>);
    expect(url).toBe(prometheusUrl());
    expect(url).toBe(`http://prometheus-operated.${MONITORING}.svc.cluster.local:9090`);
  });

  it("GIVEN the stack WHEN wired THEN each dashboard file becomes a ConfigMap the Grafana sidecar loads", async () => {
    const { recorder } = await wire(shipped(stack), stack);
    const sidecar = values(recorder).grafana.sidecar.dashboards;
    const maps = recorder.ofType(CONFIGMAP);
    expect(maps.map((m) => m.inputs.metadata.name).sort()).toEqual(
      loadDashboards()
        .map((d) => `dashboard-${d.name}`)
        .sort(),
    );
    for (const m of maps) {
      expect(m.inputs.metadata.labels[sidecar.label]).toBe(sidecar.labelValue);
      expect(m.inputs.metadata.namespace).toBe(sidecar.searchNamespace);
      const [file, json] = Object.entries(m.inputs.data as Record<string, string>)[0];
      expect(file).toMatch(/\.json$/);
      expect(JSON.parse(json).uid).toMatch(/^sovereign-/);
    }
  });

  it("GIVEN the stack WHEN wired THEN the Grafana admin credential is generated, kept in a Secret, and never in the Helm values", async () => {
    const { recorder } = await wire(shipped(stack), stack);
    expect(recorder.ofType("random:index/randomPassword:RandomPassword")).toHaveLength(1);
    const secret = secretNamed(recorder, "grafana-admin");
    expect(stringData(secret)["admin-password"]).toBe("generated-password");
    expect(secret.secretPaths).toContain("stringData");
    const admin = values(recorder).grafana.admin;
    expect(admin).toEqual({
      existingSecret: "grafana-admin",
      userKey: "admin-user",
      passwordKey: "admin-password",
    });
    expect(release(recorder).secretPaths).toEqual([]);
    expect(JSON.stringify(values(recorder))).not.toContain("generated-password");
    expect(values(recorder).grafana.service.type).toBe("ClusterIP");
  });

  it("GIVEN the stack WHEN wired THEN every object is a child of the component on the substrate's provider", async () => {
    const { recorder } = await wire(shipped(stack), stack);
    const component = recorder.one("sovereign:platform:Observability");
    const custom = recorder.resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers"));
    const fakeProvider = recorder.resources.find((r) => r.type === "pulumi:providers:kubernetes")!;
    for (const r of custom) {
      expect(r.parent, r.name).toBe(component.urn);
      expect(r.name.startsWith("observability-"), r.name).toBe(true);
      if (r.type.startsWith("kubernetes:")) expect(r.provider, r.name).toContain(fakeProvider.urn);
    }
  });
});

describe("sizing per profile", () => {
  it("GIVEN local (dev) WHEN planned THEN Prometheus is minimal: 1 replica, the configured short retention, no Alertmanager, no node-exporter", async () => {
    const { recorder } = await wire(shipped("local"), "local");
    const v = values(recorder);
    expect(v.prometheus.prometheusSpec.replicas).toBe(1);
    expect(v.prometheus.prometheusSpec.retention).toBe("1d");
    expect(v.prometheus.prometheusSpec.retentionSize).toBe(retentionSizeFor("2Gi"));
    expect(v.alertmanager.enabled).toBe(false);
    expect(v.nodeExporter.enabled).toBe(false);
    expect(recorder.ofType(SECRET).map((s) => s.inputs.metadata.name)).toEqual(["grafana-admin"]);
  });

  it("GIVEN the dev footprint WHEN adding up the requests THEN it fits the laptop budget (0.5 CPU, 1 GiB)", () => {
    const s = SIZING.minimal;
    const parts = [s.prometheus, s.grafana, s.operator, s.kubeStateMetrics];
    const cpu = parts.reduce((a, r) => a + Number(r.requests.cpu.replace(/m$/, "")), 0);
    const mem = parts.reduce((a, r) => a + quantityBytes(r.requests.memory), 0);
    expect(cpu).toBeLessThanOrEqual(500);
    expect(mem).toBeLessThanOrEqual(2 ** 30);
  });

  it("GIVEN aws-dev without a retention WHEN wired THEN the dev profile's 2d applies", async () => {
    const { recorder } = await wire(shipped("aws-dev"), "aws-dev");
    expect(values(recorder).prometheus.prometheusSpec.retention).toBe("2d");
    expect(values(recorder).prometheus.prometheusSpec.replicas).toBe(1);
  });

  it("GIVEN prod WHEN planned without overrides THEN 2 hard-anti-affine Prometheus replicas keep 15 days", () => {
    // aws-dev sets no retention or replicas; as prod, the resolved settings decide them.
    const s = resolveSettings({ ...shipped("aws-dev"), profile: "prod" });
    const plan = observabilityPlan({
      ...NET,
      footprint: s.observability.footprint,
      retainData: s.dataProtection.protect,
      retention: s.observability.retention,
      replicas: s.observability.replicas,
      storageClass: "gp3",
      storageSize: "200Gi",
    });
    const spec = (plan.values.prometheus as any).prometheusSpec;
    expect(spec.replicas).toBe(2);
    expect(spec.retention).toBe("15d");
    expect(spec.podAntiAffinity).toBe("hard");
    expect((plan.values.nodeExporter as any).enabled).toBe(true);
  });

  it("GIVEN explicit replicas and retention WHEN settings are resolved THEN config wins over the profile", () => {
    const c = shipped("aws-dev");
    const s = resolveSettings({
      ...c,
      profile: "prod",
      observability: { ...c.observability, replicas: 3, retention: "30d" },
    });
    expect(s.observability.replicas).toBe(3);
    expect(s.observability.retention).toBe("30d");
  });

  it("GIVEN volume sizes WHEN deriving retentionSize THEN it is 85% of the volume, and a tiny volume is refused with its value", () => {
    expect(retentionSizeFor("50Gi")).toBe(`${Math.floor(50 * 1024 * 0.85)}MB`);
    expect(retentionSizeFor("2Gi")).toBe("1740MB");
    expect(() => retentionSizeFor("100Mi")).toThrow('found "100Mi"');
    expect(() => quantityBytes("lots")).toThrow('found "lots"');
  });
});

describe("receivers and Grafana login", () => {
  it("GIVEN a webhook receiver WHEN wired THEN Alertmanager runs with its config in a Secret, the URL secret and out of the Helm values", async () => {
    const config = shipped("aws-prod", (raw) => {
      raw.observability.alertmanager = { receiver: "webhook" };
      raw.secrets = { alertWebhookUrl: "https://hooks.example/alert" };
    });
    const { recorder } = await wire(config);
    const v = values(recorder);
    expect(v.alertmanager.enabled).toBe(true);
    expect(v.alertmanager.alertmanagerSpec.configSecret).toBe("alertmanager-sovereign");
    expect(v.alertmanager.alertmanagerSpec.useExistingSecret).toBe(true);
    expect(v.alertmanager.alertmanagerSpec.replicas).toBe(2);
    expect(v.alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec.storageClassName).toBe(
      "standard",
    );
    const secret = secretNamed(recorder, "alertmanager-sovereign");
    expect(secret.secretPaths).toContain("stringData");
    const am = parseYaml(stringData(secret)["alertmanager.yaml"]);
    const platform = am.receivers.find((r: any) => r.name === am.route.receiver);
    expect(platform.webhook_configs).toEqual([{ url: "https://hooks.example/alert", send_resolved: true }]);
    expect(JSON.stringify(v)).not.toContain("hooks.example");
  });

  it("GIVEN an email receiver with an SMTP password WHEN wired THEN the email config authenticates with it over TLS", async () => {
    const config = shipped("aws-dev", (raw) => {
      raw.observability.alertmanager = {
        receiver: "email",
        to: "oncall@acme.example",
        from: "alerts@acme.example",
        smarthost: "smtp.acme.example:587",
      };
      raw.secrets = { smtpPassword: "s3cret" };
    });
    const { recorder } = await wire(config);
    expect(values(recorder).alertmanager.alertmanagerSpec.replicas).toBe(1);
    const am = parseYaml(stringData(secretNamed(recorder, "alertmanager-sovereign"))["alertmanager.yaml"]);
    const email = am.receivers.find((r: any) => r.name === "platform").email_configs[0];
    expect(email).toMatchObject({
      to: "oncall@acme.example",
      from: "alerts@acme.example",
      smarthost: "smtp.acme.example:587",
      require_tls: true,
      auth_username: "alerts@acme.example",
      auth_password: "s3cret",
    });
  });

  it("GIVEN Grafana OIDC and exposure WHEN wired THEN the client secret is in its own Secret read through the environment, and the Service is a LoadBalancer", async () => {
    const config = shipped("aws-prod", (raw) => {
      raw.observability.grafana = {
        exposed: true,
        url: "https://grafana.ai.acme.example",
        oidc: {
          issuer: "https://login.acme.example/realms/ai",
          clientId: "grafana",
          adminGroup: "platform-admins",
        },
      };
      raw.secrets = { grafanaOidcClientSecret: "oidc-secret" };
    });
    const { recorder } = await wire(config);
    const g = values(recorder).grafana;
    expect(g.service.type).toBe("LoadBalancer");
    expect(g.service.annotations).toEqual({ "fake.example/load-balancer": "internal" });
    expect(g.envFromSecrets).toEqual([{ name: "grafana-oidc" }]);
    const oauth = g["grafana.ini"]["auth.generic_oauth"];
    expect(oauth).toMatchObject({
      enabled: true,
      client_id: "grafana",
      auth_url: "https://login.acme.example/realms/ai/protocol/openid-connect/auth",
      token_url: "https://login.acme.example/realms/ai/protocol/openid-connect/token",
      role_attribute_path: "contains(groups[*], 'platform-admins') && 'Admin' || 'Viewer'",
    });
    expect(oauth.client_secret).toBeUndefined();
    expect(g["grafana.ini"].server).toEqual({ root_url: "https://grafana.ai.acme.example" });
    const secret = secretNamed(recorder, "grafana-oidc");
    expect(stringData(secret).GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET).toBe("oidc-secret");
    expect(secret.secretPaths).toContain("stringData");
    expect(JSON.stringify(values(recorder))).not.toContain("oidc-secret");
  });

  it("GIVEN Grafana WHEN planned THEN it never phones home and allows no anonymous or self sign-up", () => {
    const ini = (
      observabilityPlan({
        ...NET,
        footprint: "minimal",
        retainData: false,
        retention: "2d",
        replicas: 1,
        storageClass: "x",
        storageSize: "5Gi",
      }).values.grafana as any
    )["grafana.ini"];
    expect(ini.analytics).toEqual({
      reporting_enabled: false,
      check_for_updates: false,
      check_for_plugin_updates: false,
    });
    expect(ini["auth.anonymous"].enabled).toBe(false);
    expect(ini.users.allow_sign_up).toBe(false);
    expect(ini["auth.generic_oauth"]).toBeUndefined();
  });

  it("GIVEN the webhook receiver without its secret WHEN mapping args directly THEN the error names the missing config path", () => {
    const config = shipped("aws-dev");
    const broken = {
      ...config,
      observability: { ...config.observability, alertmanager: { receiver: "webhook" as const } },
    };
    expect(() =>
      observabilityArgs(
        broken,
        { stack: "x" },
        {
          ...NET,
          storageClasses: { default: "gp3" },
          registryMirrors: pulumi.output<Record<string, string>>({}),
          chartMirror: undefined,
          loadBalancerAnnotations: () => ({}),
        },
        [],
      ),
    ).toThrow("sovereign:secrets.alertWebhookUrl");
  });
});

describe("component without wiring", () => {
  it("GIVEN explicit args WHEN constructed THEN the admin password output is secret", async () => {
    mocks();
    const args: ObservabilityArgs = {
      ...NET,
      footprint: "minimal",
      retainData: false,
      retention: "2d",
      replicas: 1,
      storageClass: "standard",
      storageSize: "5Gi",
      dashboards: [],
    };
    const o = new Observability("obs", args);
    await settle();
    expect(await pulumi.isSecret(o.grafanaAdminPassword)).toBe(true);
    expect(o.alertmanagerEnabled).toBe(false);
  });
});

describe("monitoring invariants", () => {
  it.each(shippedStacks())(
    "GIVEN %s wired WHEN checking the monitoring invariants THEN they hold",
    async (stack) => {
      const { recorder } = await wire(shipped(stack), stack);
      await assertMonitoringInvariants(recorder);
    },
  );

  it("GIVEN a gateway Service without the contract's label or port WHEN checking THEN the problem names the target and what is missing", async () => {
    const recorder = mocks();
    new k8s.core.v1.Service("gw", {
      metadata: { name: "gateway", namespace: "sovereign-gateway", labels: { app: "gateway" } },
      spec: { ports: [{ name: "web", port: 8080 }] },
    });
    new k8s.core.v1.Service("opa", {
      metadata: { name: "opa", namespace: "sovereign-policy", labels: { "app.kubernetes.io/name": "opa" } },
      spec: { ports: [{ name: "api", port: 8181 }] },
    });
    new k8s.apps.v1.DaemonSet("dcgm", {
      metadata: { name: "dcgm", namespace: "sovereign-gpu" },
      spec: {
        selector: { matchLabels: { "app.kubernetes.io/name": "dcgm-exporter" } },
        template: {
          metadata: { labels: { "app.kubernetes.io/name": "dcgm-exporter" } },
          spec: {
            containers: [{ name: "e", image: "x:1", ports: [{ name: "metrics", containerPort: 9400 }] }],
          },
        },
      },
    });
    await settle();
    expect(contractProblems("gateway", SCRAPE_TARGETS.gateway, recorder.resources)[0]).toMatch(
      /^gateway: no Service in sovereign-gateway carries \{"app.kubernetes.io\/name":"gateway"\}/,
    );
    expect(contractProblems("opa", SCRAPE_TARGETS.opa, recorder.resources)).toEqual([
      'opa: Service opa has no port named "http"',
    ]);
    expect(contractProblems("dcgm-exporter", SCRAPE_TARGETS["dcgm-exporter"], recorder.resources)).toEqual(
      [],
    );
  });
});
