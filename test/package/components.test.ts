/**
 * The platform's parts as separate package components (component-package/components.ts) under
 * recording mocks, at the seam with the facade: a program built from `ClusterSubstrate`,
 * `Serving`, `Gateway`, `Tenancy` and `Flywheel` registers the same Kubernetes objects, with the same
 * inputs, as `ClusterPlatform` registers for those parts given the same settings. A handle that
 * drops or changes what a part needs fails with an input-property error naming the setting.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  ClusterSubstrate,
  Flywheel,
  Gateway,
  Serving,
  Tenancy,
  type SubstrateHandle,
} from "../../component-package/components";
import { checkHandle } from "../../component-package/handle";
import { ClusterPlatform, type ClusterPlatformArgs, platformConfig } from "../../component-package/platform";
import {
  installMocks,
  settle,
  valueOf,
  type RecordedResource,
  type ResourceRecorder,
} from "../helpers/mocks";
import { GATEWAY_MODEL_KEYS_SECRET, modelApiKeySecretName } from "../../components/lib/model-keys";
import { PLATFORM_NAMESPACES, teamNamespace } from "../../components/lib/naming";
import { oneModelOneTeam, withFlywheel, withVllmModels } from "./facade-args";

/** The facade's OPA, Gatekeeper and observability: `Policy` and `Observability`, test/package/policy-parts.test.ts. */
const FACADE_ONLY = /^sovereign:platform:(Opa|Gatekeeper|Observability)$/;

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
  for (let p = r.parent; p; p = recorder.byUrn(p)?.parent)
    if (re.test(recorder.byUrn(p)?.type ?? "")) return true;
  return false;
}

async function facadeObjects(args: ClusterPlatformArgs): Promise<Map<string, unknown>> {
  const recorder = installMocks({ stack: "local" });
  new ClusterPlatform("platform", args);
  await settle();
  return kubernetesObjects(recorder, (r) => !under(recorder, r, FACADE_ONLY));
}

function buildParts(
  args: ClusterPlatformArgs,
  handleOf: (h: pulumi.Output<SubstrateHandle>) => pulumi.Input<SubstrateHandle>,
  keysOf: (k: pulumi.Output<Record<string, string>>) => pulumi.Input<Record<string, string>> = (k) => k,
) {
  const substrate = new ClusterSubstrate("substrate", args);
  const handle = handleOf(substrate.handle);
  const tenancy = new Tenancy("tenancy", { ...args, handle });
  const teamNamespaces = tenancy.teamNamespaces;
  const serving = new Serving("serving", { ...args, handle });
  const modelApiKeys = keysOf(serving.modelApiKeys);
  return {
    substrate,
    serving,
    gateway: new Gateway("gateway", { ...args, handle, modelApiKeys }),
    tenancy,
    flywheel: new Flywheel("flywheel", { ...args, handle, teamNamespaces, modelApiKeys }),
  };
}

describe("ClusterSubstrate, Serving, Gateway, Tenancy and Flywheel", () => {
  it.each([
    ["one model and one team", oneModelOneTeam],
    ["one model and one team with training and a flywheel", withFlywheel],
    ["two vLLM models (GPU pool), the guard, and a flywheel on the chat model", withVllmModels],
  ])(
    "register, for %s, the Kubernetes objects the facade registers for those parts, with the same inputs",
    async (_what, settings) => {
      const args = settings();
      const expected = await facadeObjects(args);
      // Where a model runs vLLM, its key is held by the gateway and by the flywheel team that
      // calls it (its base model, the guard): the parts must pass Serving's keys on.
      const secret = (namespace: string, name: string) => `kubernetes:core/v1:Secret ${namespace}/${name}`;
      const keyed = args.models.filter((m) => m.pool).map((m) => m.name);
      const holders = [
        ...(keyed.length ? [secret(PLATFORM_NAMESPACES.gateway, GATEWAY_MODEL_KEYS_SECRET)] : []),
        ...args.teams
          .filter((t) => t.flywheel?.enabled)
          .flatMap((t) =>
            [t.flywheel!.baseModel, args.policy.guardModel]
              .filter((m) => keyed.includes(m!))
              .map((m) => secret(teamNamespace(t.name), modelApiKeySecretName(m!))),
          ),
      ];
      for (const h of holders) expect(expected.has(h), h).toBe(true);

      const recorder = installMocks({ stack: "local" });
      const parts = buildParts(args, (h) => h);
      await settle();
      const actual = kubernetesObjects(recorder);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, inputs] of actual) expect(inputs, key).toEqual(expected.get(key));
      const models = args.models.map((m) => m.name);
      expect(Object.keys(await valueOf(parts.serving.modelUrls))).toEqual(models);
      // Serving's keys: secret, one per vLLM model, the keys its servers' Secrets hold.
      expect(await pulumi.isSecret(parts.serving.modelApiKeys)).toBe(true);
      const keys = await valueOf(parts.serving.modelApiKeys);
      expect(Object.keys(keys)).toEqual(keyed);
      for (const m of keyed)
        expect(
          (actual.get(secret(PLATFORM_NAMESPACES.serving, modelApiKeySecretName(m))) as any).stringData,
        ).toEqual({ "api-key": keys[m] });
      expect(Object.keys(await valueOf(parts.tenancy.teamNamespaces))).toEqual([args.teams[0].name]);
      expect(await valueOf(parts.gateway.gatewayUrl)).toMatch(/^http:\/\/.+/);
      const flywheels = args.teams.filter((t) => t.flywheel?.enabled).map((t) => t.name);
      expect(Object.keys(await valueOf(parts.flywheel.cronJobs))).toEqual(flywheels);
      // Keys and passwords travel in the handle as secrets.
      expect(await pulumi.isSecret(parts.substrate.handle)).toBe(true);
    },
    120_000,
  );

  it("register the same objects while Serving's keys are unknown (a first preview): which models have a key comes from the settings", async () => {
    const args = withVllmModels();
    const expected = await facadeObjects(args);
    const recorder = installMocks({ stack: "local", preview: true });
    buildParts(
      args,
      (h) => h,
      () => pulumi.secret(pulumi.output(pulumi.unknown as unknown as Record<string, string>)),
    );
    await settle();
    const actual = kubernetesObjects(recorder);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  }, 120_000);
});

describe("a part given a handle that does not fit its settings", () => {
  /** The handle a ClusterSubstrate publishes for `args`, as a part receives it. */
  async function handleFor(args: ClusterPlatformArgs): Promise<SubstrateHandle> {
    installMocks({ stack: "local" });
    const handle = await valueOf(new ClusterSubstrate("substrate", args).handle);
    await settle();
    return handle;
  }
  const partConfig = (args: ClusterPlatformArgs) => platformConfig("existing-cluster", args, "local");
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

  it("accepts the handle of a substrate created with the same settings", async () => {
    const args = withFlywheel();
    const handle = await handleFor(args);
    expect(checkHandle(handle, partConfig(args))).toBe(handle);
  });

  it("names the team the substrate was not told about", async () => {
    const args = oneModelOneTeam();
    const handle = await handleFor(args);
    const ml = { ...args.teams[0], name: "ml", oidcGroup: "sovereign-ml" };
    const errors = problem(() => checkHandle(handle, partConfig({ ...args, teams: [...args.teams, ml] })));
    expect(errors.map((e) => e.propertyPath)).toEqual(["teams[1]"]);
    expect(errors[0].reason).toMatch(/no training identity "tenancy-ml-trainer"/);
  });

  it("names the flywheel the substrate was not told about, and a model whose weights moved", async () => {
    const args = oneModelOneTeam();
    const handle = await handleFor(args);
    const flywheel = withFlywheel();
    expect(problem(() => checkHandle(handle, partConfig(flywheel))).map((e) => e.propertyPath)).toEqual([
      "teams[0].flywheel",
    ]);
    const moved = { ...args, models: [{ ...args.models[0], source: "elsewhere/" }] };
    const errors = problem(() => checkHandle(handle, partConfig(moved)));
    expect(errors.map((e) => e.propertyPath)).toEqual(["models[0]"]);
    expect(errors[0].reason).toMatch(/other scopes/);
  });

  it.each([
    ["the workloads", (h: SubstrateHandle) => ({ ...h, workloads: {} }), "models[0]"],
    [
      "the Postgres logins",
      (h: SubstrateHandle) => ({ ...h, postgres: { ...h.postgres, logins: {} } }),
      "gateway",
    ],
    [
      "the buckets",
      (h: SubstrateHandle) => ({ ...h, objectStore: { ...h.objectStore, buckets: {} } }),
      "storage.bucketPrefix",
    ],
    ["the kind", (h: SubstrateHandle) => ({ ...h, kind: "aws" }), "handle.kind"],
    [
      "the egress rules",
      (h: SubstrateHandle) => ({ ...h, egress: undefined }) as unknown as SubstrateHandle,
      "handle.egress.objectStore",
    ],
    [
      "the store's endpoint",
      (h: SubstrateHandle) =>
        ({ ...h, objectStore: { ...h.objectStore, endpoint: undefined } }) as unknown as SubstrateHandle,
      "handle.objectStore.endpoint",
    ],
    [
      "the Postgres port",
      (h: SubstrateHandle) =>
        ({ ...h, postgres: { ...h.postgres, port: "5432" } }) as unknown as SubstrateHandle,
      "handle.postgres.port",
    ],
    [
      "an egress rule's peers",
      (h: SubstrateHandle) =>
        ({
          ...h,
          egress: { ...h.egress, postgres: [{ ports: h.egress.postgres[0].ports }] },
        }) as unknown as SubstrateHandle,
      "handle.egress.postgres[0].to",
    ],
    [
      "an egress rule's port numbers",
      (h: SubstrateHandle) =>
        ({
          ...h,
          egress: {
            ...h.egress,
            objectStore: [{ to: h.egress.objectStore[0].to, ports: [{ protocol: "TCP", port: "443" }] }],
          },
        }) as unknown as SubstrateHandle,
      "handle.egress.objectStore[0].ports",
    ],
    [
      "a workload's list of scopes",
      (h: SubstrateHandle) => ({
        ...h,
        workloads: Object.fromEntries(
          Object.entries(h.workloads).map(([k, w]) => [k, { ...w, scopes: "models:read" }]),
        ),
      }),
      "models[0]",
    ],
    [
      "a workload's keys",
      (h: SubstrateHandle) => ({
        ...h,
        workloads: Object.fromEntries(
          Object.entries(h.workloads).map(([k, w]) => [k, { ...w, secretKey: "" }]),
        ),
      }),
      "models[0]",
    ],
    [
      "a login's password as text",
      (h: SubstrateHandle) => ({
        ...h,
        postgres: { ...h.postgres, logins: { gateway: { ...h.postgres.logins.gateway, password: 42 } } },
      }),
      "gateway",
    ],
  ])("names the setting a handle without %s fails", async (_what, drop, path) => {
    const args = oneModelOneTeam();
    const handle = drop(await handleFor(args));
    expect(problem(() => checkHandle(handle, partConfig(args))).map((e) => e.propertyPath)).toEqual([path]);
  });

  it("fails the part with that error, no stack trace, and registers none of its Kubernetes objects", async () => {
    // In a process of its own: the failed inputs of the part's resources are unhandled rejections.
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const out = await promisify(execFile)(tsx, [path.join(__dirname, "bad-handle-program.ts")]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(out.code, out.stdout).toBe(1);
    expect(out.stdout).toContain('property paths: ["teams[1]"]');
    expect(out.stdout).toMatch(
      /^error: .*teams\[1\]: the substrate has no training identity "tenancy-ml-trainer"/m,
    );
    expect(out.stdout).not.toMatch(/^\s+at /m);
    const registered = JSON.parse(/registered under the part: (.*)/.exec(out.stdout)![1]) as string[];
    expect(
      registered.filter((t) => t.startsWith("kubernetes:") || t.startsWith("pulumi:providers:")),
    ).toEqual([]);
  }, 120_000);
});

describe("Gateway and Flywheel given Serving's keys without one their settings call", () => {
  it.each(["Gateway", "Flywheel"] as const)(
    "%s without modelApiKeys, where a model it calls runs vLLM, fails while constructed: an input-property error, no stack trace",
    async (part) => {
      const args = withVllmModels();
      installMocks({ stack: "local" });
      const handle = new ClusterSubstrate("substrate", args).handle;
      let error: unknown;
      try {
        if (part === "Gateway") new Gateway("gateway", { ...args, handle });
        else new Flywheel("flywheel", { ...args, handle, teamNamespaces: {} });
      } catch (e) {
        error = e;
      }
      await settle();
      expect(pulumi.InputPropertiesError.isInstance(error), String(error)).toBe(true);
      const e = error as pulumi.InputPropertiesError;
      expect(e.errors.map((x) => x.propertyPath)).toEqual(["modelApiKeys"]);
      expect(e.message).toMatch(
        /^modelApiKeys: expected Serving's modelApiKeys: models\[0\] \("tiny-chat"\)/,
      );
      expect(e.stack).not.toMatch(/\n\s+at /);
    },
    120_000,
  );

  it("a part whose models all run on CPU needs no keys", async () => {
    const args = withFlywheel();
    installMocks({ stack: "local" });
    const handle = new ClusterSubstrate("substrate", args).handle;
    const gateway = new Gateway("gateway", { ...args, handle });
    expect(await valueOf(gateway.gatewayUrl)).toMatch(/^http:\/\/.+/);
    await settle();
  }, 120_000);

  it("fail with an input-property error at modelApiKeys that names the model, no stack trace", async () => {
    // In a process of its own: the failed inputs of the parts' key Secrets are unhandled rejections.
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const out = await promisify(execFile)(tsx, [path.join(__dirname, "bad-keys-program.ts")]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(out.code, out.stdout).toBe(1);
    // Both parts call the guard (the gateway routes to it, the team's eval asks it).
    expect(out.stdout).toContain('outputs: ["failed","failed"]');
    const paths = JSON.parse(/property paths: (.*)/.exec(out.stdout)![1]) as string[][];
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p).toEqual(["modelApiKeys"]);
    expect(out.stdout).toMatch(
      /^error: modelApiKeys: expected the API key of model "tiny-guard" \(models\[1\] runs vLLM/m,
    );
    expect(out.stdout).not.toMatch(/^\s+at /m);
  }, 120_000);

  it("fail at modelApiKeys for a key with whitespace (the gateway would refuse it at start-up), no stack trace", async () => {
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const out = await promisify(execFile)(tsx, [
      path.join(__dirname, "bad-keys-program.ts"),
      "whitespace",
    ]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(out.code, out.stdout).toBe(1);
    expect(out.stdout).toContain('outputs: ["failed","failed"]');
    for (const p of JSON.parse(/property paths: (.*)/.exec(out.stdout)![1]) as string[][])
      expect(p).toEqual(["modelApiKeys"]);
    expect(out.stdout).toMatch(
      /^error: modelApiKeys: expected the API key of model "tiny-guard" without whitespace/m,
    );
    expect(out.stdout).not.toMatch(/^\s+at /m);
  }, 120_000);
});

describe("Flywheel given team namespaces that are not its teams'", () => {
  it("fails at teamNamespaces.<team> before anything lands in another team's namespace, no stack trace", async () => {
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    const out = await promisify(execFile)(tsx, [
      path.join(__dirname, "bad-keys-program.ts"),
      "swapped-namespaces",
    ]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(out.code, out.stdout).toBe(1);
    // The gateway is not concerned; the flywheel's output fails.
    expect(out.stdout).toContain('outputs: ["resolved","failed"]');
    const team = withVllmModels().teams[0].name;
    for (const p of JSON.parse(/property paths: (.*)/.exec(out.stdout)![1]) as string[][])
      expect(p).toEqual([`teamNamespaces.${team}`]);
    expect(out.stdout).toMatch(
      new RegExp(
        `^error: teamNamespaces\\.${team}: expected "team-${team}" \\(team "${team}"'s namespace\\), found "team-elsewhere"`,
        "m",
      ),
    );
    expect(out.stdout).not.toMatch(/^\s+at /m);
  }, 120_000);
});
