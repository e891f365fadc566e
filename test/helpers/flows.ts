/**
 * The network flows a recorded stack allows: per namespace the kit creates, the ingress and
 * egress peers its NetworkPolicies admit, as sorted lines (`<namespace> <direction> <pods> <peer> <ports>`).
 * NetworkPolicies are additive, so this list is everything the cluster lets through once a
 * namespace has default-deny in both directions (`defaultDenied`).
 */
import type { ResourceRecorder } from "./mocks";

function selector(s: any): string {
  const m = s?.matchLabels ?? {};
  const e = (s?.matchExpressions ?? []).map(
    (x: any) => `${x.key} ${x.operator} ${(x.values ?? []).join("|")}`,
  );
  const parts = [...Object.entries(m).map(([k, v]) => `${k}=${v}`), ...e];
  return parts.length === 0 ? "*" : parts.sort().join(",");
}

function peer(p: any): string {
  if (p.ipBlock)
    return `ip:${p.ipBlock.cidr}${p.ipBlock.except?.length ? ` except ${p.ipBlock.except.join("|")}` : ""}`;
  const ns = p.namespaceSelector ? `ns(${selector(p.namespaceSelector)})` : "ns(same)";
  return p.podSelector ? `${ns}/pods(${selector(p.podSelector)})` : ns;
}

function ports(ps: any[] | undefined): string {
  if (!ps || ps.length === 0) return "any port";
  return ps
    .map((p) => `${p.protocol ?? "TCP"}/${p.port ?? "*"}${p.endPort ? `-${p.endPort}` : ""}`)
    .join(",");
}

/** Every allowed flow of every NetworkPolicy the program registered, one line each, sorted. */
export function allowedFlows(recorder: ResourceRecorder): string[] {
  const out = new Set<string>();
  for (const r of recorder.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")) {
    const ns = r.inputs.metadata.namespace;
    const spec = r.inputs.spec;
    const pods = `pods(${selector(spec.podSelector)})`;
    for (const rule of spec.ingress ?? []) {
      const from = rule.from && rule.from.length > 0 ? rule.from.map(peer) : ["anywhere"];
      for (const f of from) out.add(`${ns} ingress ${pods} from ${f} on ${ports(rule.ports)}`);
    }
    for (const rule of spec.egress ?? []) {
      const to = rule.to && rule.to.length > 0 ? rule.to.map(peer) : ["anywhere"];
      for (const t of to) out.add(`${ns} egress ${pods} to ${t} on ${ports(rule.ports)}`);
    }
  }
  return [...out].sort();
}

/** Namespaces with a policy selecting every pod and denying both directions (no rules). */
export function defaultDenied(recorder: ResourceRecorder): Set<string> {
  const out = new Set<string>();
  for (const r of recorder.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy")) {
    const s = r.inputs.spec;
    const types = [...(s.policyTypes ?? [])].sort().join(",");
    if (
      selector(s.podSelector) === "*" &&
      types === "Egress,Ingress" &&
      !s.ingress?.length &&
      !s.egress?.length
    )
      out.add(r.inputs.metadata.namespace);
  }
  return out;
}

/** Every namespace the program creates (Namespace objects and Helm releases with createNamespace). */
export function createdNamespaces(recorder: ResourceRecorder): string[] {
  const out = new Set<string>();
  for (const r of recorder.ofType("kubernetes:core/v1:Namespace")) out.add(r.inputs.metadata.name);
  for (const r of recorder.ofType("kubernetes:helm.sh/v3:Release"))
    if (r.inputs.createNamespace) out.add(r.inputs.namespace);
  return [...out].sort();
}
