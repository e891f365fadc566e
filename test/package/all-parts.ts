/**
 * Every part of the component package on the existing-cluster substrate, wired as a program
 * wires them (`ClusterSubstrate`'s handle to all; `Serving`'s keys to `Gateway` and `Flywheel`;
 * `Tenancy`'s namespaces to `Flywheel`; `Flywheel`'s identities to `Policy`), and the recorded
 * objects to compare with the `ClusterPlatform` facade: test/package/policy-parts.test.ts and
 * test/package/bad-policy-program.ts.
 */
import type * as pulumi from "@pulumi/pulumi";
import {
  ClusterSubstrate,
  Flywheel,
  Gateway,
  Serving,
  Tenancy,
  type SubstrateHandle,
} from "../../component-package/components";
import type { ClusterPlatformArgs } from "../../component-package/platform";
import { Observability, Policy, type FlywheelIdentity } from "../../component-package/policy-parts";
import type { RecordedResource, ResourceRecorder } from "../helpers/mocks";

/** What a part's cross-part input becomes on its way (as is, unknown, changed). */
export interface Passing {
  handle?: (h: pulumi.Output<SubstrateHandle>) => pulumi.Input<SubstrateHandle>;
  modelApiKeys?: (k: pulumi.Output<Record<string, string>>) => pulumi.Input<Record<string, string>>;
  teamNamespaces?: (n: pulumi.Output<Record<string, string>>) => pulumi.Input<Record<string, string>>;
  flywheelIdentities?: (
    i: pulumi.Output<Record<string, FlywheelIdentity>>,
  ) => pulumi.Input<Record<string, FlywheelIdentity>>;
}

/** The seven parts for `args`, each cross-part value passed through `passing`. */
export function buildAllParts(args: ClusterPlatformArgs, passing: Passing = {}) {
  const id = <T>(v: T) => v;
  const substrate = new ClusterSubstrate("substrate", args);
  const handle = (passing.handle ?? id)(substrate.handle);
  const observability = new Observability("observability", { ...args, handle });
  const serving = new Serving("serving", { ...args, handle });
  const modelApiKeys = (passing.modelApiKeys ?? id)(serving.modelApiKeys);
  const tenancy = new Tenancy("tenancy", { ...args, handle });
  const teamNamespaces = (passing.teamNamespaces ?? id)(tenancy.teamNamespaces);
  const flywheel = new Flywheel("flywheel", { ...args, handle, teamNamespaces, modelApiKeys });
  const flywheelIdentities = (passing.flywheelIdentities ?? id)(flywheel.flywheelIdentities);
  const policy = new Policy("policy", { ...args, handle, flywheelIdentities });
  const gateway = new Gateway("gateway", { ...args, handle, modelApiKeys });
  return { substrate, observability, serving, tenancy, flywheel, policy, gateway };
}

/**
 * The key a recorded custom resource is compared by: a Kubernetes object by kind, namespace and
 * name; a kubernetes provider by its settings (each part has its own, with the substrate's); any
 * other resource (random, tls) by type and name. Undefined for components.
 */
export function objectKey(r: RecordedResource): string | undefined {
  if (!r.custom) return undefined;
  if (r.type === "pulumi:providers:kubernetes") return `provider ${JSON.stringify(r.inputs)}`;
  if (!r.type.startsWith("kubernetes:")) return `${r.type} ${r.name}`;
  const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
  const name = meta.name ?? r.inputs.name ?? r.name;
  return `${r.type} ${meta.namespace ?? r.inputs.namespace ?? ""}/${String(name)}`;
}

/** Every custom resource's inputs by {@link objectKey}; a key registered twice fails the test. */
export function customObjects(
  recorder: ResourceRecorder,
  keep: (r: RecordedResource) => boolean = () => true,
): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const r of recorder.resources) {
    const key = objectKey(r);
    if (key === undefined || !keep(r)) continue;
    if (!key.startsWith("provider ") && out.has(key)) throw new Error(`${key} registered twice`);
    out.set(key, r.inputs);
  }
  return out;
}

/** Whether a recorded resource descends from a component whose type matches `re`. */
export function under(recorder: ResourceRecorder, r: RecordedResource, re: RegExp): boolean {
  for (let p = r.parent; p; p = recorder.byUrn(p)?.parent)
    if (re.test(recorder.byUrn(p)?.type ?? "")) return true;
  return false;
}

/**
 * What `r` waits for, as {@link objectKey}s: every custom resource it reaches through
 * dependencies, parents and providers (what decides the engine's order of creation).
 */
export function waitsFor(recorder: ResourceRecorder, r: RecordedResource): Set<string> {
  const out = new Set<string>();
  for (const urn of recorder.transitiveDependencies(r, { via: ["dependency", "parent", "provider"] })) {
    const d = recorder.byUrn(urn);
    const key = d && objectKey(d);
    if (key && !key.startsWith("provider ")) out.add(key);
  }
  return out;
}
