/**
 * The NetworkPolicies of the charts' default-deny namespaces against the charts themselves: the
 * pinned Gatekeeper and cert-manager charts are rendered offline (`helm template`) with the
 * values the shipped aws-prod stack records for their releases, and every admission webhook the
 * rendering registers is followed to the pods and the container port that serve it (webhook →
 * Service → targetPort → pod port). The recorded policies must admit the API server to exactly
 * that pod and port, and every pod the chart runs must be under the namespace's default-deny.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TENANCY_CHARTS, CHARTS } from "../../components/lib/versions";
import type { K8sObject } from "../helpers/k8s-schema";
import { helmTemplate } from "../helpers/helm";
import { runShippedStack, type StackRun } from "../helpers/stack";
import { chartPath } from "../helpers/tools";

let run: StackRun;
beforeAll(async () => {
  run = await runShippedStack("aws-prod");
  expect(run.error).toBeUndefined();
});

const CASES = [
  { release: "gatekeeper", chart: () => chartPath("gatekeeper", TENANCY_CHARTS.gatekeeper.version) },
  { release: "cert-manager", chart: () => chartPath("cert-manager", CHARTS.certManager.version) },
];

interface Served {
  readonly webhook: string;
  readonly labels: Record<string, string>;
  readonly port: number;
  readonly portName?: string;
}

const subset = (sel: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);

/** Each admission webhook of the rendering: the labels of the pods serving it and their container port. */
function servedWebhooks(objects: readonly K8sObject[], namespace: string): Served[] {
  const all = objects as any[];
  const out: Served[] = [];
  for (const cfg of all.filter((o) => /^(Validating|Mutating)WebhookConfiguration$/.test(o.kind)))
    for (const w of cfg.webhooks) {
      const ref = w.clientConfig.service;
      expect(ref.namespace, w.name).toBe(namespace);
      const svc = all.find((o) => o.kind === "Service" && o.metadata.name === ref.name);
      const sp = svc.spec.ports.find((p: any) => p.port === (ref.port ?? 443));
      const target = sp.targetPort ?? sp.port;
      const pods = all
        .filter((o) => o.kind === "Deployment" && subset(svc.spec.selector, o.spec.template.metadata.labels))
        .map((o) => o.spec.template);
      expect(pods.length, `${w.name}: pods behind ${svc.metadata.name}`).toBeGreaterThan(0);
      for (const pod of pods)
        for (const c of pod.spec.containers)
          for (const p of c.ports ?? [])
            if (p.name === target || p.containerPort === target)
              out.push({
                webhook: w.name,
                labels: pod.metadata.labels,
                port: p.containerPort,
                portName: p.name,
              });
    }
  return out;
}

describe.each(CASES)(
  "GIVEN the pinned $release chart rendered with the values aws-prod records",
  ({ release, chart }) => {
    let objects: K8sObject[];
    let namespace: string;
    let policies: any[];
    beforeAll(() => {
      const r = run.recorder.ofType("kubernetes:helm.sh/v3:Release").find((x) => x.inputs.name === release)!;
      namespace = r.inputs.namespace;
      objects = helmTemplate(release, chart(), namespace, r.inputs.values);
      policies = run.recorder
        .ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        .map((x) => x.inputs)
        .filter((p) => p.metadata.namespace === namespace);
    });

    it("WHEN each webhook is followed to its pods THEN a policy admits the API server to that pod on that container port", () => {
      const served = servedWebhooks(objects, namespace);
      expect(served.length).toBeGreaterThan(0);
      const api = policies.find((p) => p.metadata.name === "allow-api-server")!.spec.egress[0].to;
      for (const s of served) {
        const admitted = policies.some(
          (p) =>
            p.spec.policyTypes.includes("Ingress") &&
            subset(p.spec.podSelector.matchLabels, s.labels) &&
            (p.spec.ingress ?? []).some(
              (rule: any) =>
                JSON.stringify(rule.from) === JSON.stringify(api) &&
                rule.ports.some((x: any) => x.port === s.port || (s.portName && x.port === s.portName)),
            ),
        );
        expect(admitted, `${s.webhook} → port ${s.port} (${s.portName})`).toBe(true);
      }
    });

    it("WHEN the namespace's policies are listed THEN one denies both ways for every pod, and no other ingress reaches the chart's pods", () => {
      expect(
        policies.filter(
          (p) =>
            Object.keys(p.spec.podSelector).length === 0 &&
            [...p.spec.policyTypes].sort().join() === "Egress,Ingress" &&
            !p.spec.ingress &&
            !p.spec.egress,
        ),
      ).toHaveLength(1);
      const served = servedWebhooks(objects, namespace);
      for (const p of policies.filter((x) => x.spec.ingress))
        for (const rule of p.spec.ingress)
          for (const port of rule.ports)
            expect(
              served.some((s) => s.port === port.port),
              `${p.metadata.name} admits port ${port.port}, which serves no webhook`,
            ).toBe(true);
    });
  },
);
