/**
 * Identity of the Kubernetes objects a program registers: API group, kind, namespace and name.
 * Two registrations with one identity are one object to the API server ("already exists", or
 * one silently overwriting the other), however different their Pulumi names are.
 */
import type { RecordedResource, ResourceRecorder } from "./mocks";

/** Kinds without a namespace among those the kit registers (a namespace on them is ignored). */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "StorageClass",
  "PriorityClass",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
  "ClusterQueue",
  "ResourceFlavor",
  "Cohort",
  "WorkloadPriorityClass",
  "ClusterIssuer",
  "NodePool",
  "EC2NodeClass",
  "ConstraintTemplate",
  "IngressClass",
  "RuntimeClass",
]);

/** `group/kind namespace/name` of a recorded Kubernetes object or Helm release; undefined for anything else. */
export function objectIdentity(r: RecordedResource): string | undefined {
  if (!r.type.startsWith("kubernetes:")) return undefined;
  if (r.type === "kubernetes:helm.sh/v3:Release") {
    // A release is a Secret-backed object too: one name per namespace.
    return `helm.sh/Release ${r.inputs.namespace ?? "default"}/${r.inputs.name ?? r.name}`;
  }
  const i = r.inputs;
  if (typeof i.apiVersion !== "string" || typeof i.kind !== "string") return undefined;
  const group = i.apiVersion.includes("/") ? i.apiVersion.split("/")[0] : "core";
  const name = i.metadata?.name;
  if (typeof name !== "string") return `${group}/${i.kind} <generated name of ${r.name}>`;
  // The Kubernetes provider's default namespace for namespaced objects without one.
  const ns =
    CLUSTER_SCOPED.has(i.kind) || i.kind.endsWith("Constraint")
      ? ""
      : String(i.metadata?.namespace ?? "default");
  return `${group}/${i.kind} ${ns}/${name}`;
}

/**
 * Every identity registered more than once, with the Pulumi names of the registrations
 * (empty when every object is registered once).
 */
export function duplicateObjects(recorder: ResourceRecorder): Record<string, string[]> {
  const seen = new Map<string, string[]>();
  for (const r of recorder.resources) {
    const id = objectIdentity(r);
    if (id === undefined) continue;
    seen.set(id, [...(seen.get(id) ?? []), r.name]);
  }
  return Object.fromEntries([...seen].filter(([, names]) => names.length > 1));
}
