/**
 * The platform's parts as separate package components (component-package/components.ts) under
 * recording mocks, at the seam with the facade: a program built from `ClusterSubstrate`,
 * `Serving`, `Gateway` and `Tenancy` registers the same Kubernetes objects, with the same
 * inputs, as `ClusterPlatform` registers for those parts given the same settings. A handle that
 * drops or changes what a part needs fails with an input-property error naming the setting.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  ClusterSubstrate,
  Gateway,
  Serving,
  Tenancy,
  type SubstrateHandle,
} from "../../component-package/components";
import { ClusterPlatform, type ClusterPlatformArgs } from "../../component-package/platform";
import { withFlywheelCapacity } from "../helpers/flywheel-stack";
import { installMocks, settle, valueOf, type RecordedResource, type ResourceRecorder } from "../helpers/mocks";
import { facadeArgs } from "./facade-args";

/** Parts of the facade that have no separate component (OPA, Gatekeeper, observability). */
const FACADE_ONLY = /^sovereign:platform:(Opa|Gatekeeper|Observability)$/;

/** The `local` stack's settings with one model and one team (the guard model goes). */
function oneModelOneTeam(): ClusterPlatformArgs {
  const a = facadeArgs("local");
  const { guardModel: _g, guardFailOpen: _f, ...policy } = a.policy as Record<string, unknown>;
  return { ...a, models: [a.models[0]], teams: [a.teams[0]], policy } as ClusterPlatformArgs;
}

/**
 * With training, a GPU pool and a flywheel on the team: Kueue, GPU enablement, the flywheel's
 * identity and Postgres login.
 */
function withFlywheel(): ClusterPlatformArgs {
  const a = withFlywheelCapacity(oneModelOneTeam() as Record<string, any>);
  const team = a.teams[0];
  a.teams[0] = {
    ...team,
    allowedModels: [...team.allowedModels, "demo-flywheel"],
    flywheel: { enabled: true, adapter: "demo-flywheel", baseModel: a.models[0].name },
  };
  return a as ClusterPlatformArgs;
}

/** Every Kubernetes object (and the kubernetes provider's settings), keyed by kind, namespace and name. */
function kubernetesObjects(
  recorder: ResourceRecorder,
  keep: (r: RecordedResource) => boolean = () => true,
): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const r of recorder.resources) {
    if (!r.custom || !keep(r)) continue;
    if (r.type === "pulumi:providers:kubernetes") {
      out.set(`provider ${JSON.stringify(r.inputs)}`, r.inputs);
      continue;
    }
    if (!r.type.startsWith("kubernetes:")) continue;
    const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
    const name = meta.name ?? r.inputs.name ?? r.name;
    const key = `${r.type} ${meta.namespace ?? r.inputs.namespace ?? ""}/${String(name)}`;
    expect(out.has(key), `${key} registered twice`).toBe(false);
    out.set(key, r.inputs);
  }
  return out;
}

/** Whether a recorded resource descends from a component whose type matches `re`. */
function under(recorder: ResourceRecorder, r: RecordedResource, re: RegExp): boolean {
  for (let p = r.parent; p; p = recorder.byUrn(p)?.parent) if (re.test(recorder.byUrn(p)?.type ?? "")) return true;
  return false;
}

async function facadeObjects(args: ClusterPlatformArgs): Promise<Map<string, unknown>> {
  const recorder = installMocks({ stack: "local" });
  new ClusterPlatform("platform", args);
  await settle();
  return kubernetesObjects(recorder, (r) => !under(recorder, r, FACADE_ONLY));
}

function buildParts(args: ClusterPlatformArgs, handleOf: (h: pulumi.Output<SubstrateHandle>) => pulumi.Input<SubstrateHandle>) {
  const substrate = new ClusterSubstrate("substrate", args);
  const handle = handleOf(substrate.handle) as SubstrateHandle;
  return {
    substrate,
    serving: new Serving("serving", { ...args, handle }),
    gateway: new Gateway("gateway", { ...args, handle }),
    tenancy: new Tenancy("tenancy", { ...args, handle }),
  };
}

describe("ClusterSubstrate, Serving, Gateway and Tenancy", () => {
  it.each([
    ["one model and one team", oneModelOneTeam],
    ["one model and one team with training and a flywheel", withFlywheel],
  ])(
    "register, for %s, the Kubernetes objects the facade registers for those parts, with the same inputs",
    async (_what, settings) => {
      const args = settings();
      const expected = await facadeObjects(args);

      const recorder = installMocks({ stack: "local" });
      const parts = buildParts(args, (h) => h);
      await settle();
      const actual = kubernetesObjects(recorder);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, inputs] of actual) expect(inputs, key).toEqual(expected.get(key));
      expect(Object.keys(await valueOf(parts.serving.modelUrls))).toEqual([args.models[0].name]);
      expect(Object.keys(await valueOf(parts.tenancy.teamNamespaces))).toEqual([args.teams[0].name]);
      expect(await valueOf(parts.gateway.gatewayUrl)).toMatch(/^http:\/\/.+/);
      // Keys and passwords travel in the handle as secrets.
      expect(await pulumi.isSecret(parts.substrate.handle)).toBe(true);
    },
    120_000,
  );
});
