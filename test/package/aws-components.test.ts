/**
 * The platform's parts on AWS as separate package components (component-package/aws-parts.ts)
 * under recording mocks, at the seam with the facade: a program built from `AwsSubstrate`,
 * `AwsServing`, `AwsGateway`, `AwsTenancy` and `AwsFlywheel` registers the same AWS, random and
 * Kubernetes objects, with the same inputs, as `AwsPlatform` registers for those parts given the
 * same settings. A handle that drops or changes what a part needs fails with an input-property
 * error naming the setting, without a stack trace.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  AwsFlywheel,
  AwsObservability,
  AwsPolicy,
  AwsGateway,
  AwsServing,
  AwsSubstrate,
  AwsTenancy,
  type AwsPartArgs,
} from "../../component-package/aws-parts";
import { checkAwsHandle, type AwsSubstrateHandle } from "../../component-package/aws-handle";
import type { FlywheelIdentity } from "../../component-package/policy-parts";
import { AwsPlatform, type AwsPlatformArgs, platformConfig } from "../../component-package/platform";
import {
  installMocks,
  settle,
  valueOf,
  type RecordedResource,
  type ResourceRecorder,
} from "../helpers/mocks";
import { PLATFORM_NAMESPACES, teamNamespace } from "../../components/lib/naming";
import { awsFacadeArgs } from "./facade-args";

const STACK = "aws-dev";
/** Mocks whose ids do not depend on the order of registration (the facade's and the parts' differ). */
const MOCKS = { stack: STACK, id: (r: { name: string }) => `${r.name}-id` };

/**
 * Every custom resource: Kubernetes objects by kind, namespace and name; providers by type and
 * inputs (a part has its own kubernetes provider, with the facade's settings); every other
 * (AWS, random) by type and name.
 */
function objects(recorder: ResourceRecorder, keep: (r: RecordedResource) => boolean = () => true) {
  const out = new Map<string, unknown>();
  for (const r of recorder.resources) {
    if (!r.custom || !keep(r)) continue;
    let key: string;
    if (r.type.startsWith("pulumi:providers:")) key = `${r.type} ${JSON.stringify(r.inputs)}`;
    else if (r.type.startsWith("kubernetes:")) {
      const meta = (r.inputs.metadata ?? {}) as { name?: string; namespace?: string };
      const name = meta.name ?? r.inputs.name ?? r.name;
      key = `${r.type} ${meta.namespace ?? r.inputs.namespace ?? ""}/${String(name)}`;
    } else key = `${r.type}::${r.name}`;
    if (!r.type.startsWith("pulumi:providers:")) expect(out.has(key), `${key} registered twice`).toBe(false);
    out.set(key, r.inputs);
  }
  return out;
}

/** Whether a recorded resource descends from a component whose type matches `re`. */
function under(recorder: ResourceRecorder, r: RecordedResource, re: RegExp): boolean {
  for (let p = r.parent; p; p = recorder.byUrn(p)?.parent)
    if (re.test(recorder.byUrn(p)?.type ?? "")) return true;
  return false;
}

/** The facade's custom resources for `args` (every one: each belongs to a part). */
async function facadeResources(args: AwsPlatformArgs): Promise<RecordedResource[]> {
  const recorder = installMocks(MOCKS);
  new AwsPlatform("platform", args);
  await settle();
  return recorder.resources.filter((r) => r.custom);
}

async function facadeObjects(args: AwsPlatformArgs) {
  const kept = new Set(await facadeResources(args));
  const recorder = { resources: [...kept] } as unknown as ResourceRecorder;
  return objects(recorder);
}

function buildParts(
  args: AwsPlatformArgs,
  handleOf: (h: pulumi.Output<AwsSubstrateHandle>) => pulumi.Input<AwsSubstrateHandle> = (h) => h,
) {
  const substrate = new AwsSubstrate("substrate", args);
  const handle = handleOf(substrate.handle);
  const tenancy = new AwsTenancy("tenancy", { ...args, handle });
  const serving = new AwsServing("serving", { ...args, handle });
  const modelApiKeys = serving.modelApiKeys;
  const flywheel = new AwsFlywheel("flywheel", {
    ...args,
    handle,
    teamNamespaces: tenancy.teamNamespaces,
    modelApiKeys,
  });
  return {
    substrate,
    serving,
    tenancy,
    gateway: new AwsGateway("gateway", { ...args, handle, modelApiKeys }),
    flywheel,
    policy: new AwsPolicy("policy", { ...args, handle, flywheelIdentities: flywheel.flywheelIdentities }),
    observability: new AwsObservability("observability", { ...args, handle }),
  };
}

/** `aws-dev` with password logins (`database.iamAuth: false`, a dev opt-out) instead of IAM tokens. */
function withPasswords(): AwsPlatformArgs {
  const a = awsFacadeArgs(STACK);
  return { ...a, database: { ...(a.database ?? {}), iamAuth: false } };
}

describe("AwsSubstrate, AwsServing, AwsGateway, AwsTenancy and AwsFlywheel", () => {
  it.each([
    [
      "aws-dev (three vLLM models on a GPU pool, the guard, a flywheel team; IAM logins)",
      () => awsFacadeArgs(STACK),
    ],
    ["aws-dev with password logins (database.iamAuth: false)", withPasswords],
  ])(
    "register, for %s, the AWS and Kubernetes objects the facade registers for those parts, with the same inputs",
    async (_what, settings) => {
      const args = settings();
      const flywheels = args.teams.filter((t) => t.flywheel?.enabled).map((t) => t.name);
      expect(flywheels.length).toBeGreaterThan(0);
      expect(args.models.every((m) => m.pool)).toBe(true);
      const expected = await facadeObjects(args);
      // What the seam covers: every workload's role, policy and association, each login.
      const types = [...expected.keys()].map((k) => k.split(/::| /)[0]);
      for (const t of [
        "aws:iam/role:Role",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:batch/v1:Job",
      ])
        expect(types, t).toContain(t);

      const recorder = installMocks(MOCKS);
      const parts = buildParts(args);
      await settle();
      const actual = objects(recorder);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, inputs] of actual) expect(inputs, key).toEqual(expected.get(key));

      // The parts create no AWS object (and need no AWS provider): every one is the substrate's.
      const part = /^sovereign:index:Aws(Serving|Gateway|Tenancy|Flywheel)$/;
      const inParts = recorder.resources.filter((r) => r.custom && under(recorder, r, part));
      expect(inParts.filter((r) => r.type.startsWith("kubernetes:")).length).toBeGreaterThan(0);
      expect(inParts.filter((r) => /^(aws:|pulumi:providers:aws)/.test(r.type)).map((r) => r.name)).toEqual(
        [],
      );

      expect(Object.keys(await valueOf(parts.serving.modelUrls))).toEqual(args.models.map((m) => m.name));
      expect(Object.keys(await valueOf(parts.serving.modelApiKeys))).toEqual(args.models.map((m) => m.name));
      expect(Object.keys(await valueOf(parts.tenancy.teamNamespaces))).toEqual(args.teams.map((t) => t.name));
      expect(await valueOf(parts.gateway.gatewayUrl)).toMatch(/^https?:\/\/.+/);
      expect(Object.keys(await valueOf(parts.flywheel.cronJobs))).toEqual(flywheels);
      // The kubeconfig and the passwords travel in the handle as secrets.
      expect(await pulumi.isSecret(parts.substrate.handle)).toBe(true);
      const handle = await valueOf(parts.substrate.handle);
      expect(handle.workloads["gateway-workload"].namespace).toBe(PLATFORM_NAMESPACES.gateway);
      expect(handle.workloads[`flywheel-${flywheels[0]}`].namespace).toBe(teamNamespace(flywheels[0]));
    },
    300_000,
  );
});

describe("the AWS parts in a first preview", () => {
  it("register the same objects while the handle and Serving's keys are unknown: the shape comes from the settings", async () => {
    const args = withPasswords();
    // Each object's type: what is created. (A flywheel object's namespace is Tenancy's output,
    // unknown while the handle is, and a part's kubeconfig is the handle's.)
    const types = (rs: RecordedResource[]) =>
      rs
        .filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"))
        .map((r) => r.type)
        .sort();
    const expected = types(await facadeResources(args));
    const recorder = installMocks({ ...MOCKS, preview: true });
    const unknown = <T>() => pulumi.secret(pulumi.output(pulumi.unknown as unknown as T));
    const substrate = new AwsSubstrate("substrate", args);
    expect(substrate.handle).toBeDefined();
    const handle = unknown<AwsSubstrateHandle>();
    const tenancy = new AwsTenancy("tenancy", { ...args, handle });
    new AwsServing("serving", { ...args, handle });
    const modelApiKeys = unknown<Record<string, string>>();
    new AwsGateway("gateway", { ...args, handle, modelApiKeys });
    new AwsFlywheel("flywheel", { ...args, handle, teamNamespaces: tenancy.teamNamespaces, modelApiKeys });
    const flywheelIdentities = unknown<Record<string, FlywheelIdentity>>();
    new AwsPolicy("policy", { ...args, handle, flywheelIdentities });
    new AwsObservability("observability", { ...args, handle });
    await settle();
    expect(types(recorder.resources)).toEqual(expected);
  }, 300_000);
});

describe("an AWS part given a handle that does not fit its settings", () => {
  /** The handle an AwsSubstrate publishes for `args`, as a part receives it. */
  async function handleFor(args: AwsPlatformArgs): Promise<AwsSubstrateHandle> {
    installMocks({ stack: STACK });
    const handle = await valueOf(new AwsSubstrate("substrate", args).handle);
    await settle();
    return handle;
  }
  const partConfig = (args: AwsPlatformArgs) => platformConfig("aws", args, STACK);
  const problem = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(pulumi.InputPropertiesError.isInstance(e)).toBe(true);
      expect((e as Error).stack).not.toMatch(/\n\s+at /);
      return (e as pulumi.InputPropertiesError).errors;
    }
    throw new Error("expected an input-property error");
  };

  it("accepts the handle of a substrate created with the same settings, and names each mismatch", async () => {
    const args = awsFacadeArgs(STACK);
    const handle = await handleFor(args);
    expect(checkAwsHandle(handle, partConfig(args))).toBe(handle);

    const fw = args.teams.findIndex((t) => t.flywheel?.enabled);
    const cases: [string, (h: AwsSubstrateHandle) => unknown, AwsPlatformArgs, string, RegExp][] = [
      ["a workload", (h) => ({ ...h, workloads: {} }), args, "models[0]", /no model-server identity/],
      [
        "a workload's role",
        (h) => ({
          ...h,
          workloads: {
            ...h.workloads,
            "gateway-workload": { ...h.workloads["gateway-workload"], roleArn: "" },
          },
        }),
        args,
        "gateway",
        /has no role/,
      ],
      [
        "a flywheel login",
        (h) => ({ ...h, postgres: { ...h.postgres, logins: { gateway: h.postgres.logins.gateway } } }),
        args,
        `teams[${fw}].flywheel`,
        /no Postgres login for the fw-/,
      ],
      ["the kind", (h) => ({ ...h, kind: "existing-cluster" }), args, "handle.kind", /expected "aws"/],
      ["the kubeconfig", (h) => ({ ...h, kubeconfig: undefined }), args, "handle.kubeconfig", /string/],
      ["the region", (h) => ({ ...h, region: "us-east-1" }), args, "substrate.region", /us-east-1/],
      ["the login form", (h) => h, withPasswords(), "database.iamAuth", /IAM tokens.*passwords/],
      [
        "a team's identity",
        (h) => h,
        { ...args, teams: [...args.teams, { ...args.teams[1], name: "ml", oidcGroup: "ml" }] },
        `teams[${args.teams.length}]`,
        /no training identity "tenancy-ml-trainer"/,
      ],
      [
        "the buckets",
        (h) => h,
        { ...args, storage: { ...args.storage, bucketPrefix: "other" } },
        "storage.bucketPrefix",
        /other/,
      ],
    ];
    for (const [what, change, settings, at, reason] of cases) {
      const errors = problem(() =>
        checkAwsHandle(change(handle) as AwsSubstrateHandle, partConfig(settings)),
      );
      expect(
        errors.map((e) => e.propertyPath),
        what,
      ).toEqual([at]);
      expect(errors[0].reason, what).toMatch(reason);
    }
  }, 300_000);

  it("an AwsTenancy given a handle without one of its teams fails with it, no stack trace, and registers none of its Kubernetes objects", async () => {
    // In a process of its own: the failed inputs of the part's resources are unhandled rejections.
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const out = await promisify(execFile)(tsx, [path.join(__dirname, "bad-aws-handle-program.ts")]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(out.code, out.stdout).toBe(1);
    expect(out.stdout).toContain('property paths: ["teams[2]"]');
    expect(out.stdout).toMatch(
      /^error: .*teams\[2\]: the substrate has no training identity "tenancy-ml-trainer"/m,
    );
    expect(out.stdout).not.toMatch(/^\s+at /m);
    const registered = JSON.parse(/registered under the part: (.*)/.exec(out.stdout)![1]) as string[];
    expect(
      registered.filter((t) => t.startsWith("kubernetes:") || t.startsWith("pulumi:providers:")),
    ).toEqual([]);
  }, 300_000);

  it("an AWS part given the existing cluster's substrate settings is refused at their path", () => {
    installMocks({ stack: STACK });
    const args = awsFacadeArgs(STACK);
    let error: unknown;
    try {
      new AwsTenancy("tenancy", {
        ...args,
        substrate: { context: "kind-sovereign" },
        handle: {},
      } as unknown as AwsPartArgs);
    } catch (e) {
      error = e;
    }
    expect(pulumi.InputPropertiesError.isInstance(error), String(error)).toBe(true);
    expect((error as pulumi.InputPropertiesError).errors.map((e) => e.propertyPath)).toContain(
      "substrate.region",
    );
  });
});
