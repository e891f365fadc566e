/**
 * The e2e plan, as pure functions over what the real program registered under the recording
 * mocks: which Kubernetes objects a stack applies, in which order (the recorded dependency
 * edges), which Helm releases are rendered here and which are not, and which objects collide.
 * No I/O here, so the rules that make the run red are unit-tested (plan.test.ts).
 */

/** What the recorder keeps of one registered resource (test/helpers/mocks.ts RecordedResource). */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly custom: boolean;
  readonly inputs: Record<string, any>;
  readonly parent: string | undefined;
  readonly dependencies: readonly string[];
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** One applied object and where it came from (a resource's name, or `release/template`). */
export interface PlannedObject {
  readonly manifest: Manifest;
  readonly source: string;
}

/** A Helm release the program installs. */
export interface ReleasePlan {
  readonly resource: string;
  readonly releaseName: string;
  readonly namespace: string;
  readonly chart: string;
  readonly version: string | undefined;
  readonly values: Record<string, unknown>;
  readonly createNamespace: boolean;
}

/** A unit of apply: one Kubernetes resource, or one rendered release (its objects in Helm's order). */
export interface Unit {
  readonly urn: string;
  readonly label: string;
  readonly objects: PlannedObject[];
  readonly release?: ReleasePlan;
}

const HELM_RELEASE = /^kubernetes:helm\.sh\/v\d+:Release$/;
const CHART_TYPES = /^kubernetes:(helm\.sh\/v\d+:Chart|yaml(\/v2)?:Config(File|Group))$/;

/** `kubernetes:apps/v1:Deployment` → `apps/v1`, `Deployment`; `core/v1` → `v1`. */
export function apiVersionKind(type: string): { apiVersion: string; kind: string } | undefined {
  const m = /^kubernetes:([^:]+):([A-Za-z0-9]+)$/.exec(type);
  if (!m || m[1].startsWith("helm.sh") || m[1].startsWith("yaml")) return undefined;
  const gv = m[1].startsWith("core/") ? m[1].slice("core/".length) : m[1];
  return { apiVersion: gv, kind: m[2] };
}

/** Pulumi's auto-name: the resource name and a suffix (stable here, so runs compare). */
function autoName(resourceName: string): string {
  let h = 0;
  for (const c of resourceName) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `${resourceName}-${h.toString(16).padStart(8, "0").slice(0, 8)}`;
}

/** The manifest a recorded Kubernetes resource's inputs stand for (what the provider sends). */
export function manifestOf(r: Recorded): Manifest | undefined {
  const avk = apiVersionKind(r.type);
  if (!avk) return undefined;
  const inputs = structuredClone(r.inputs) as Manifest;
  const metadata = { ...(inputs.metadata ?? {}) };
  if (!metadata.name) metadata.name = autoName(r.name);
  return {
    ...inputs,
    apiVersion: inputs.apiVersion ?? avk.apiVersion,
    kind: inputs.kind ?? avk.kind,
    metadata,
  };
}

export function releaseOf(r: Recorded): ReleasePlan {
  const i = r.inputs;
  return {
    resource: r.name,
    releaseName: String(i.name ?? r.name),
    namespace: String(i.namespace ?? "default"),
    chart: String(i.chart),
    version: i.version === undefined ? undefined : String(i.version),
    values: (i.values ?? {}) as Record<string, unknown>,
    createNamespace: i.createNamespace === true,
  };
}

export function isRelease(r: Recorded): boolean {
  return HELM_RELEASE.test(r.type);
}

/** Types that would deploy Kubernetes objects this harness cannot expand: a failure, not a skip. */
export function unsupported(resources: readonly Recorded[]): string[] {
  return resources.filter((r) => CHART_TYPES.test(r.type)).map((r) => `${r.type} ${r.name}`);
}

/**
 * Topological order of the recorded resources along the engine's edges (dependencies and
 * parent): a resource comes after everything it depends on. Ties keep registration order.
 * Fails on a cycle (the engine would too).
 */
export function topologicalOrder(resources: readonly Recorded[]): Recorded[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const index = new Map(resources.map((r, i) => [r.urn, i]));
  const deps = new Map<string, Set<string>>();
  const dependents = new Map<string, string[]>();
  for (const r of resources) {
    const d = new Set([...r.dependencies, ...(r.parent ? [r.parent] : [])].filter((u) => byUrn.has(u)));
    deps.set(r.urn, d);
    for (const u of d) dependents.set(u, [...(dependents.get(u) ?? []), r.urn]);
  }
  const ready = resources.filter((r) => deps.get(r.urn)!.size === 0).map((r) => r.urn);
  const out: Recorded[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => index.get(a)! - index.get(b)!);
    const urn = ready.shift()!;
    out.push(byUrn.get(urn)!);
    for (const d of dependents.get(urn) ?? []) {
      const s = deps.get(d)!;
      s.delete(urn);
      if (s.size === 0) ready.push(d);
    }
  }
  if (out.length !== resources.length) {
    const left = resources.filter((r) => !out.includes(r)).map((r) => r.name);
    throw new Error(`dependency cycle among: ${left.join(", ")}`);
  }
  return out;
}

/** Helm's install order by kind (helm/pkg/releaseutil/kind_sorter.go InstallOrder). */
const HELM_INSTALL_ORDER = [
  "PriorityClass",
  "Namespace",
  "NetworkPolicy",
  "ResourceQuota",
  "LimitRange",
  "PodSecurityPolicy",
  "PodDisruptionBudget",
  "ServiceAccount",
  "Secret",
  "SecretList",
  "ConfigMap",
  "StorageClass",
  "PersistentVolume",
  "PersistentVolumeClaim",
  "CustomResourceDefinition",
  "ClusterRole",
  "ClusterRoleList",
  "ClusterRoleBinding",
  "ClusterRoleBindingList",
  "Role",
  "RoleList",
  "RoleBinding",
  "RoleBindingList",
  "Service",
  "DaemonSet",
  "Pod",
  "ReplicationController",
  "ReplicaSet",
  "Deployment",
  "HorizontalPodAutoscaler",
  "StatefulSet",
  "Job",
  "CronJob",
  "IngressClass",
  "Ingress",
  "APIService",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
];

export function helmInstallOrder(objects: readonly PlannedObject[]): PlannedObject[] {
  const rank = (k: string) => {
    const i = HELM_INSTALL_ORDER.indexOf(k);
    return i < 0 ? HELM_INSTALL_ORDER.length : i;
  };
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.manifest.kind) - rank(b.o.manifest.kind) || a.i - b.i)
    .map((x) => x.o);
}

/** `group/Kind namespace/name` — the identity the API server keys objects by. */
export function objectKey(
  m: Manifest,
  clusterScoped?: (apiVersion: string, kind: string) => boolean,
): string {
  const group = m.apiVersion.includes("/") ? m.apiVersion.split("/")[0] : "core";
  const ns = clusterScoped?.(m.apiVersion, m.kind) ? "" : (m.metadata.namespace ?? "default");
  return `${group}/${m.kind} ${ns ? `${ns}/` : ""}${m.metadata.name}`;
}

export interface Duplicate {
  readonly key: string;
  readonly sources: readonly string[];
}

/**
 * Objects that share an API group, kind, namespace and name. A real server answers "already
 * exists" on create, or server-side apply merges the two silently; either way one of them is
 * not what the program asked for, so each duplicate fails the run.
 */
export function duplicates(
  objects: readonly PlannedObject[],
  clusterScoped?: (apiVersion: string, kind: string) => boolean,
): Duplicate[] {
  const seen = new Map<string, string[]>();
  for (const o of objects) {
    const k = objectKey(o.manifest, clusterScoped);
    seen.set(k, [...(seen.get(k) ?? []), o.source]);
  }
  return [...seen.entries()].filter(([, s]) => s.length > 1).map(([key, sources]) => ({ key, sources }));
}

/** Flattens a Helm-rendered multi-document YAML into manifests (drops empty documents and Lists). */
export function flattenDocs(docs: readonly unknown[]): Manifest[] {
  const out: Manifest[] = [];
  for (const d of docs) {
    if (d === null || typeof d !== "object") continue;
    const m = d as Manifest;
    if (m.kind?.endsWith("List") && Array.isArray(m.items)) out.push(...flattenDocs(m.items as unknown[]));
    else if (m.kind && m.apiVersion) out.push(m);
  }
  return out;
}

/** Per-stack results, one row of the table. */
export interface StackResult {
  stack: string;
  applied: number;
  rejected: { object: string; message: string }[];
  ready: number;
  notReady: { object: string; reason: string }[];
  left: string[];
  notApplied: { release: string; reason: string }[];
  duplicates: Duplicate[];
  admission: { check: string; ok: boolean; detail: string }[];
  skippedKinds: { object: string; reason: string }[];
  /**
   * Warnings the server returned on apply. A Pod Security `warn` (a pod below the namespace's warn
   * level) fails the stack; others (deprecations) are shown only.
   */
  warnings: string[];
  errors: string[];
}

export function emptyResult(stack: string): StackResult {
  return {
    stack,
    applied: 0,
    rejected: [],
    ready: 0,
    notReady: [],
    left: [],
    notApplied: [],
    duplicates: [],
    admission: [],
    skippedKinds: [],
    warnings: [],
    errors: [],
  };
}

/** Whether the stack's run is red, with one line per reason. */
export function failures(r: StackResult): string[] {
  return [
    ...r.duplicates.map((d) => `duplicate object ${d.key} (from ${d.sources.join(" and ")})`),
    ...r.rejected.map((x) => `rejected ${x.object}: ${x.message}`),
    ...r.notReady.map((x) => `not ready ${x.object}: ${x.reason}`),
    ...r.left.map((x) => `left after delete: ${x}`),
    ...r.admission.filter((a) => !a.ok).map((a) => `admission ${a.check}: ${a.detail}`),
    // A namespace's PodSecurity `warn` level is the level the kit's own pods must meet.
    ...r.warnings.filter((w) => /would violate PodSecurity/.test(w)).map((w) => `pod security: ${w}`),
    ...r.errors,
  ];
}

/** The table printed per stack. */
export function table(results: readonly StackResult[]): string {
  const rows = [
    [
      "stack",
      "applied",
      "rejected or duplicate",
      "ready",
      "not ready",
      "left after delete",
      "releases not applied",
      "result",
    ],
    ...results.map((r) => [
      r.stack,
      String(r.applied),
      String(r.rejected.length + r.duplicates.length),
      String(r.ready),
      String(r.notReady.length),
      String(r.left.length),
      String(r.notApplied.length),
      failures(r).length === 0 ? "ok" : "FAILED",
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(rows[0]),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.slice(1).map(line),
  ].join("\n");
}
