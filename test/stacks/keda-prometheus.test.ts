/**
 * KEDA → Prometheus follows the ScaledObjects (docs/observability.md, "Network flows"): for every
 * shipped stack, each model server's chart (`charts/model-server`) is rendered with the values
 * the stack records for its release; every Prometheus trigger's `serverAddress` is resolved to
 * the Service, namespace and pod port it names; and the default-deny namespaces' policies must
 * admit exactly that: KEDA's operator (the process that runs the scalers' queries) out to those
 * pods on that port, and those pods in from KEDA's operator on that port, nothing else between
 * the two.
 *
 * The Services of the monitoring namespace are a reading, since neither is rendered here:
 * - `prometheus-operated`: made by the Prometheus Operator (v0.85.0,
 *   pkg/prometheus/common.go `BuildStatefulSetService`, pkg/prometheus/server/operator.go):
 *   headless (`clusterIP: None`), selector `app.kubernetes.io/name: prometheus`, port 9090. A
 *   headless Service resolves to the pods' addresses, so a client reaches the pods on the URL's
 *   port.
 * - `monitoring-prometheus`: kube-prometheus-stack 77.11.1, templates/prometheus/service.yaml
 *   (release `monitoring`): `prometheus.service.port` 9090 → `targetPort` 9090, selector
 *   `app.kubernetes.io/name: prometheus` and `operator.prometheus.io/name: monitoring-prometheus`.
 */
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { helmTemplate } from "../helpers/helm";
import { runShippedStack, type StackRun } from "../helpers/stack";

type Labels = Record<string, string>;

const SERVICES: Record<
  string,
  {
    readonly selector: Labels;
    readonly headless: boolean;
    readonly port: number;
    readonly targetPort: number;
  }
> = {
  "prometheus-operated": {
    selector: { "app.kubernetes.io/name": "prometheus" },
    headless: true,
    port: 9090,
    targetPort: 9090,
  },
  "monitoring-prometheus": {
    selector: {
      "app.kubernetes.io/name": "prometheus",
      "operator.prometheus.io/name": "monitoring-prometheus",
    },
    headless: false,
    port: 9090,
    targetPort: 9090,
  },
};

/** The KEDA chart's operator pods (the chart reading in chart-flows.test.ts). */
const KEDA_OPERATOR: Labels = { app: "keda-operator" };

const ROOT = path.resolve(__dirname, "../..");
const STACKS = ["aws-dev", "aws-prod", "local"];
const subset = (sel: Labels | undefined, labels: Labels) =>
  Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);
const nsIs = (peer: any, ns: string) =>
  peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === ns &&
  Object.keys(peer.namespaceSelector).length === 1 &&
  Object.keys(peer.namespaceSelector.matchLabels).length === 1;

/** Where a Prometheus trigger's `serverAddress` lands: the Service's namespace, its pods and their port. */
function resolve(serverAddress: string) {
  const u = new URL(serverAddress);
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?$/.exec(u.hostname);
  if (!m)
    throw new Error(
      `serverAddress ${serverAddress}: expected an in-cluster Service host, found ${u.hostname}`,
    );
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const svc = SERVICES[m[1]];
  if (!svc) throw new Error(`serverAddress ${serverAddress}: Service ${m[1]} is not in the reading`);
  // A headless Service hands out the pods' addresses (the URL's port reaches them); otherwise
  // the Service's port must be the URL's, and the pods answer on its targetPort.
  if (!svc.headless) expect(port, `${serverAddress}: the Service's port`).toBe(svc.port);
  return { namespace: m[2], pods: svc.selector, port: svc.headless ? port : svc.targetPort };
}

const runs: Record<string, StackRun> = {};
beforeAll(async () => {
  for (const stack of STACKS) {
    runs[stack] = await runShippedStack(stack);
    expect(runs[stack].error).toBeUndefined();
  }
});

describe("KEDA's queries to Prometheus, from the rendered ScaledObjects", () => {
  let checked = 0;
  it.each(STACKS)(
    "GIVEN %s WHEN each rendered ScaledObject's Prometheus serverAddress is resolved to its Service's pods and port THEN KEDA's operator may reach exactly those, and they admit exactly KEDA's operator, on that port",
    (stack) => {
      const run = runs[stack];
      const releases = run.recorder.ofType("kubernetes:helm.sh/v3:Release").map((r) => r.inputs);
      const targets = new Map<string, { namespace: string; pods: Labels; port: number }>();
      for (const r of releases.filter((x) => x.values?.autoscaling?.enabled)) {
        const objects = helmTemplate(r.name, path.resolve(ROOT, r.chart), r.namespace, r.values) as any[];
        const scaled = objects.filter((o) => o.kind === "ScaledObject");
        expect(scaled.length, `${stack}: ${r.name} renders a ScaledObject`).toBe(1);
        for (const t of scaled[0].spec.triggers.filter((x: any) => x.type === "prometheus")) {
          const to = resolve(t.metadata.serverAddress);
          targets.set(JSON.stringify(to), to);
        }
      }
      if (targets.size === 0) {
        // No autoscaled model server: KEDA is not installed, and nothing may reach Prometheus for it.
        expect(
          releases.some((x) => x.name === "keda"),
          `${stack}: KEDA without a ScaledObject`,
        ).toBe(false);
        return;
      }
      checked++;
      const keda = releases.find((x) => x.name === "keda")!;
      expect(keda, `${stack}: the KEDA release`).toBeDefined();
      const policies = run.recorder
        .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        .map((x) => x.inputs);
      for (const to of targets.values()) {
        // KEDA's side: egress of its operator's pods to anything in the target namespace.
        const egress = policies
          .filter(
            (p) =>
              p.metadata.namespace === keda.namespace &&
              p.spec.policyTypes.includes("Egress") &&
              subset(p.spec.podSelector.matchLabels, KEDA_OPERATOR),
          )
          .flatMap((p) => p.spec.egress ?? [])
          .filter((rule: any) => (rule.to ?? []).some((peer: any) => nsIs(peer, to.namespace)));
        expect(
          egress.map((rule: any) => ({
            pods: rule.to.map((peer: any) => peer.podSelector?.matchLabels),
            ports: rule.ports.map((x: any) => x.port),
          })),
          `${stack}: KEDA's operator → ${to.namespace}`,
        ).toEqual([{ pods: [to.pods], ports: [to.port] }]);
        // Prometheus's side: ingress of the target pods from KEDA's namespace.
        const ingress = policies
          .filter(
            (p) =>
              p.metadata.namespace === to.namespace &&
              p.spec.policyTypes.includes("Ingress") &&
              subset(p.spec.podSelector.matchLabels, to.pods),
          )
          .flatMap((p) => p.spec.ingress ?? [])
          .filter((rule: any) => (rule.from ?? []).some((peer: any) => nsIs(peer, keda.namespace)));
        expect(
          ingress.map((rule: any) => ({
            pods: rule.from.map((peer: any) => peer.podSelector?.matchLabels),
            ports: rule.ports.map((x: any) => x.port),
          })),
          `${stack}: ${to.namespace} ← KEDA's operator`,
        ).toEqual([{ pods: [KEDA_OPERATOR], ports: [to.port] }]);
      }
    },
  );

  it("GIVEN the shipped stacks THEN at least one autoscales a model server through KEDA", () => {
    expect(checked).toBeGreaterThan(0);
  });
});
