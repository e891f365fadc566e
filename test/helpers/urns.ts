/**
 * URNs as the Pulumi engine computes them, and the URNs a resource answers to through its
 * `aliases`, resolved the way the engine resolves them.
 *
 * The mocks name a resource `<parent's last type>$<type>`; the engine keeps the parent's whole
 * chain (`A$B$C`), so renaming a component's type changes the URN of every descendant, custom
 * resources included. An alias on the component covers them: the engine gives each child every
 * URN its parent answers to, crossed with the child's own alias specs.
 */
import type { RecordedAlias, RecordedResource, ResourceRecorder } from "./mocks";

const ROOT_STACK = "pulumi:pulumi:Stack";

export interface EngineUrns {
  /** The URN the engine gives the resource. */
  urn(r: RecordedResource): string;
  /** Every other URN the resource answers to (so `pulumi up` updates it in place). */
  aliases(r: RecordedResource): readonly string[];
}

function part(urn: string, i: number): string {
  return urn.split("::")[i] ?? "";
}

function lastType(urn: string): string {
  return part(urn, 2).split("$").pop()!;
}

function urnName(urn: string): string {
  return urn.split("::").slice(3).join("::");
}

export function engineUrns(recorder: ResourceRecorder, stack: string, project = "sovereign"): EngineUrns {
  const qualified = new Map<RecordedResource, string | undefined>();
  const aliasCache = new Map<RecordedResource, string[]>();

  const parentOf = (urn: string | undefined): RecordedResource | undefined => {
    if (!urn) return undefined;
    const p = recorder.byUrn(urn);
    if (!p) throw new Error(`parent ${urn} was not recorded`);
    return p.type === ROOT_STACK ? undefined : p;
  };
  // The qualified type of a resource's URN (`Parent$...$Type`).
  const qualifiedType = (r: RecordedResource): string => {
    if (!qualified.has(r)) {
      const parent = parentOf(r.parent);
      qualified.set(r, parent ? `${qualifiedType(parent)}$${r.type}` : r.type);
    }
    return qualified.get(r)!;
  };
  const make = (st: string, proj: string, parentQualified: string | undefined, type: string, name: string) =>
    `urn:pulumi:${st}::${proj}::${parentQualified ? `${parentQualified}$` : ""}${type}::${name}`;
  const urn = (r: RecordedResource) => {
    const parent = parentOf(r.parent);
    return make(stack, project, parent && qualifiedType(parent), r.type, r.name);
  };
  // collapseAliasToUrn: empty spec fields mean "as the resource".
  const collapse = (r: RecordedResource, a: RecordedAlias): string => {
    if ("urn" in a) return a.urn;
    const parent = a.noParent ? undefined : parentOf(a.parentUrn || r.parent);
    return make(
      a.stack || stack,
      a.project || project,
      parent && qualifiedType(parent),
      a.type || r.type,
      a.name || r.name,
    );
  };
  // inheritedChildAlias: the child under one of its parent's other URNs.
  const inherited = (childType: string, childName: string, parentName: string, parentAlias: string) => {
    const name = childName.startsWith(parentName)
      ? urnName(parentAlias) + childName.slice(parentName.length)
      : childName;
    return make(
      part(parentAlias, 0).replace(/^urn:pulumi:/, ""),
      part(parentAlias, 1),
      part(parentAlias, 2),
      childType,
      name,
    );
  };
  const aliases = (r: RecordedResource): string[] => {
    if (!aliasCache.has(r)) {
      const own = r.aliases.map((a) => collapse(r, a));
      const out = new Set(own);
      const parent = parentOf(r.parent);
      if (parent) {
        for (const pa of aliases(parent)) {
          out.add(inherited(r.type, r.name, parent.name, pa));
          for (const o of own) out.add(inherited(lastType(o), urnName(o), parent.name, pa));
        }
      }
      out.delete(urn(r));
      aliasCache.set(r, [...out]);
    }
    return aliasCache.get(r)!;
  };
  return { urn, aliases };
}
