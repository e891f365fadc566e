/**
 * Validates Kubernetes objects offline against the OpenAPI schemas shipped in npm's
 * `kubernetes-models` packages (core API of the pinned Kubernetes minor, plus CRD packages
 * where one exists, e.g. the Prometheus Operator). Objects of kinds with no offline schema
 * are reported as `unvalidated` so a test can hold them to documented expectations instead.
 */
import type { RecordedResource, ResourceRecorder } from "./mocks";

/** CRD API groups with an offline schema package. */
const CRD_PACKAGES: Record<string, string> = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: Record<string, unknown>;
  [k: string]: unknown;
}

export type SchemaResult =
  | { readonly status: "valid" }
  | { readonly status: "invalid"; readonly errors: string }
  | { readonly status: "unvalidated"; readonly reason: string };

function modelModule(apiVersion: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "") return `kubernetes-models/${version}`;
  const crd = CRD_PACKAGES[group];
  if (crd) return `${crd}/${group}/${version}`;
  // Built-in groups are folders of kubernetes-models (apps, batch, policy, rbac..., networking.k8s.io ...).
  return `kubernetes-models/${group}/${version}`;
}

type ModelClass = new (o: unknown) => { validate(): void };
const modules = new Map<string, Record<string, ModelClass> | undefined>();

/** Validates one object; `unvalidated` when no offline schema exists for its kind. */
export async function validateObject(obj: K8sObject): Promise<SchemaResult> {
  const mod = modelModule(obj.apiVersion);
  if (!modules.has(mod)) {
    try {
      modules.set(mod, (await import(mod)) as Record<string, ModelClass>);
    } catch {
      modules.set(mod, undefined);
    }
  }
  const Model = modules.get(mod)?.[obj.kind];
  if (!Model) return { status: "unvalidated", reason: `no offline schema for ${obj.apiVersion} ${obj.kind}` };
  try {
    new Model(obj).validate();
    return { status: "valid" };
  } catch (e) {
    return { status: "invalid", errors: e instanceof Error ? e.message : String(e) };
  }
}

/** The Kubernetes object a recorded `kubernetes:*` resource carries (CRs and built-ins). */
export function objectOf(r: RecordedResource): K8sObject | undefined {
  if (!r.type.startsWith("kubernetes:") || r.type.startsWith("kubernetes:helm.sh")) return undefined;
  const i = r.inputs;
  if (typeof i.apiVersion !== "string" || typeof i.kind !== "string") return undefined;
  return i as K8sObject;
}

/** Every Kubernetes object registered directly by TypeScript components. */
export function recordedObjects(recorder: ResourceRecorder): K8sObject[] {
  return recorder.resources.map(objectOf).filter((o): o is K8sObject => o !== undefined);
}

/**
 * Validates every recorded object; returns the failures (empty when all pass) and the kinds
 * that had no offline schema.
 */
export async function validateRecorded(recorder: ResourceRecorder): Promise<{
  invalid: { name: string; kind: string; errors: string }[];
  unvalidatedKinds: string[];
  validated: number;
}> {
  const invalid: { name: string; kind: string; errors: string }[] = [];
  const unvalidated = new Set<string>();
  let validated = 0;
  for (const o of recordedObjects(recorder)) {
    const r = await validateObject(o);
    if (r.status === "invalid")
      invalid.push({
        name: String(o.metadata?.name ?? "?"),
        kind: `${o.apiVersion} ${o.kind}`,
        errors: r.errors,
      });
    else if (r.status === "unvalidated") unvalidated.add(`${o.apiVersion} ${o.kind}`);
    else validated++;
  }
  return { invalid, unvalidatedKinds: [...unvalidated].sort(), validated };
}
