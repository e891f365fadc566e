/**
 * Monitoring invariants of a recorded program (the whole stack, or the observability wiring
 * alone): one valid scrape object per `SCRAPE_TARGETS` entry, a valid rule object, and, for
 * every component whose Kubernetes objects the program records itself, the scrape contract
 * holds: a Service (ServiceMonitor) or pod template (PodMonitor) in the target's namespace
 * carries the selector labels and names its metrics port as listed.
 */
import { expect } from "vitest";
import { SCRAPE_TARGETS, type ScrapeTarget } from "../../components/lib/metrics";
import { validateObject, type K8sObject } from "../helpers/k8s-schema";
import type { RecordedResource, ResourceRecorder } from "../helpers/mocks";

const MONITOR_TYPES = [
  "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
  "kubernetes:monitoring.coreos.com/v1:PodMonitor",
];
const WORKLOAD_TYPES = [
  "kubernetes:apps/v1:Deployment",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:apps/v1:DaemonSet",
];

const matches = (labels: Record<string, string> | undefined, selector: Readonly<Record<string, string>>) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Problems with the scrape contract of one target, given the recorded objects ([] when none apply). */
export function contractProblems(
  key: string,
  t: ScrapeTarget,
  resources: readonly RecordedResource[],
): string[] {
  const inNs = (r: RecordedResource) => r.inputs.metadata?.namespace === t.namespace;
  if (t.kind === "ServiceMonitor") {
    const services = resources.filter((r) => r.type === "kubernetes:core/v1:Service" && inNs(r));
    if (services.length === 0) return []; // installed by a chart, or not part of this program
    // As the ServiceMonitor selects: the selector's labels, minus the excluded label values.
    const excluded = (labels: Record<string, string> | undefined) =>
      Object.entries(t.exclude ?? {}).some(([k, vs]) => labels?.[k] !== undefined && vs.includes(labels[k]));
    const selected = services.filter(
      (s) => matches(s.inputs.metadata?.labels, t.selector) && !excluded(s.inputs.metadata?.labels),
    );
    if (selected.length === 0)
      return [
        `${key}: no Service in ${t.namespace} carries ${JSON.stringify(t.selector)} (found ${services
          .map((s) => `${s.inputs.metadata?.name} ${JSON.stringify(s.inputs.metadata?.labels ?? {})}`)
          .join("; ")})`,
      ];
    return selected.flatMap((s) => {
      const port = (s.inputs.spec?.ports ?? []).find((p: { name?: string }) => p.name === t.port);
      if (!port) return [`${key}: Service ${s.inputs.metadata?.name} has no port named "${t.port}"`];
      // The NetworkPolicies admit Prometheus on the container port by number.
      const target = port.targetPort ?? port.port;
      // A named target port is the container port of that name on the pods the Service selects.
      const numbers: number[] =
        typeof target === "number"
          ? [target]
          : resources
              .filter(
                (w) =>
                  WORKLOAD_TYPES.includes(w.type) &&
                  inNs(w) &&
                  matches(w.inputs.spec?.template?.metadata?.labels, s.inputs.spec?.selector ?? {}),
              )
              .flatMap((w) => w.inputs.spec?.template?.spec?.containers ?? [])
              .flatMap((c: { ports?: { name?: string; containerPort?: number }[] }) => c.ports ?? [])
              .filter((p: { name?: string }) => p.name === target)
              .map((p) => p.containerPort as number);
      return numbers
        .filter((n) => n !== t.containerPort)
        .map(
          (n) =>
            `${key}: Service ${s.inputs.metadata?.name} port "${t.port}" reaches ${n}, not ${t.containerPort}`,
        );
    });
  }
  const workloads = resources.filter((r) => WORKLOAD_TYPES.includes(r.type) && inNs(r));
  if (workloads.length === 0) return [];
  const selected = workloads.filter((w) => matches(w.inputs.spec?.template?.metadata?.labels, t.selector));
  if (selected.length === 0)
    return [`${key}: no workload in ${t.namespace} has pods labelled ${JSON.stringify(t.selector)}`];
  return selected.flatMap((w) => {
    const ports = (w.inputs.spec?.template?.spec?.containers ?? []).flatMap(
      (c: { ports?: { name?: string; containerPort?: number }[] }) => c.ports ?? [],
    );
    const port = ports.find((p: { name?: string }) => p.name === t.port);
    if (!port) return [`${key}: ${w.inputs.metadata?.name} has no container port named "${t.port}"`];
    return port.containerPort !== t.containerPort
      ? [
          `${key}: ${w.inputs.metadata?.name} port "${t.port}" is ${port.containerPort}, not ${t.containerPort}`,
        ]
      : [];
  });
}

export async function assertMonitoringInvariants(recorder: ResourceRecorder): Promise<void> {
  const monitors = recorder.resources.filter((r) => MONITOR_TYPES.includes(r.type));
  for (const [key, t] of Object.entries(SCRAPE_TARGETS)) {
    const own = monitors.filter((m) => m.inputs.metadata?.name === `sovereign-${key}`);
    expect(own, `scrape object for ${key}`).toHaveLength(1);
    expect(own[0].inputs.kind).toBe(t.kind);
    expect(await validateObject(own[0].inputs as K8sObject), key).toEqual({ status: "valid" });
  }
  // no other component creates scrape objects of its own
  expect(monitors).toHaveLength(Object.keys(SCRAPE_TARGETS).length);
  const rules = recorder.ofType("kubernetes:monitoring.coreos.com/v1:PrometheusRule");
  expect(rules.length).toBeGreaterThan(0);
  for (const r of rules) expect(await validateObject(r.inputs as K8sObject)).toEqual({ status: "valid" });
  const problems = Object.entries(SCRAPE_TARGETS).flatMap(([key, t]) =>
    contractProblems(key, t, recorder.resources),
  );
  expect(problems).toEqual([]);
}
