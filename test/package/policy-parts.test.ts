/**
 * OPA, Gatekeeper and observability as separate package components (`Policy`, `Observability`:
 * component-package/policy-parts.ts) under recording mocks, at the seam with the facade: the
 * seven parts together (`ClusterSubstrate`, `Serving`, `Gateway`, `Tenancy`, `Flywheel`,
 * `Policy`, `Observability`) register every resource `ClusterPlatform` registers, with the same
 * inputs, and each of `Policy`'s and `Observability`'s objects waits for what it waits for in the
 * facade. Cross-part inputs that are missing or do not fit are input-property errors at their
 * paths, without a stack trace.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { ClusterSubstrate, type SubstrateHandle } from "../../component-package/components";
import { ClusterPlatform, type ClusterPlatformArgs, platformConfig } from "../../component-package/platform";
import {
  checkClusterAccess,
  checkFlywheelIdentities,
  type FlywheelIdentity,
  Observability,
  Policy,
} from "../../component-package/policy-parts";
import { installMocks, settle, valueOf, type ResourceRecorder } from "../helpers/mocks";
import { buildAllParts, customObjects, objectKey, under, waitsFor } from "./all-parts";
import { facadeArgs, withVllmModels } from "./facade-args";

/** The typed components `Policy` and `Observability` build. */
const POLICY_PARTS = /^sovereign:platform:(Opa|Gatekeeper|Observability)$/;

async function facade(args: ClusterPlatformArgs): Promise<ResourceRecorder> {
  const recorder = installMocks({ stack: "local" });
  new ClusterPlatform("platform", args);
  await settle();
  return recorder;
}

const SETTINGS: [string, () => ClusterPlatformArgs][] = [
  ["the local stack", () => facadeArgs("local")],
  ["a flywheel team, training and two vLLM models on a GPU pool", withVllmModels],
];

describe("ClusterSubstrate, Serving, Gateway, Tenancy, Flywheel, Policy and Observability", () => {
  it.each(SETTINGS)(
    "register, for %s, every resource ClusterPlatform registers, with the same inputs",
    async (_what, settings) => {
      const args = settings();
      const expected = customObjects(await facade(args));
      // OPA, Gatekeeper's constraints, observability: in the facade, and so in the parts.
      for (const re of [
        /^kubernetes:apps\/v1:Deployment sovereign-policy\/opa$/,
        /^kubernetes:helm\.sh\/v3:Release gatekeeper-system\/gatekeeper$/,
        /^kubernetes:constraints\.gatekeeper\.sh\/v1beta1:K8sFlywheelIdentity \/flywheel-identity$/,
        /^kubernetes:helm\.sh\/v3:Release .*\/monitoring$/,
      ])
        expect(
          [...expected.keys()].filter((k) => re.test(k)),
          String(re),
        ).toHaveLength(1);

      const recorder = installMocks({ stack: "local" });
      const parts = buildAllParts(args);
      await settle();
      const actual = customObjects(recorder);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [key, inputs] of actual) expect(inputs, key).toEqual(expected.get(key));
      expect(await valueOf(parts.policy.opaUrl)).toMatch(/^http:\/\/opa\.sovereign-policy\.svc/);
      expect(await valueOf(parts.observability.prometheusUrl)).toMatch(/^http:\/\/.+/);
      expect(await valueOf(parts.observability.alertmanager)).toBe(false);
      // The flywheel's identity travels from Flywheel to the constraint: one per flywheel team.
      const flywheels = args.teams.filter((t) => t.flywheel?.enabled).map((t) => t.name);
      const identities = await valueOf(parts.flywheel.flywheelIdentities);
      expect(Object.keys(identities)).toEqual(flywheels);
      const constraint = actual.get(
        "kubernetes:constraints.gatekeeper.sh/v1beta1:K8sFlywheelIdentity /flywheel-identity",
      ) as { spec: { parameters: { protected: FlywheelIdentity[] } } };
      expect(constraint.spec.parameters.protected).toEqual(Object.values(identities));
    },
    120_000,
  );

  it.each(SETTINGS)(
    "register, for %s, the same resources while every cross-part input is unknown (a first preview)",
    async (_what, settings) => {
      const args = settings();
      // By type and resource name: a namespace taken from an unknown input is unknown too, and
      // each part's kubernetes provider takes its settings from the (unknown) handle.
      const names = (recorder: ResourceRecorder) =>
        recorder.resources
          .filter((r) => r.custom && r.type !== "pulumi:providers:kubernetes")
          .map((r) => `${r.type} ${r.name}`)
          .sort();
      const expected = names(await facade(args));
      const recorder = installMocks({ stack: "local", preview: true });
      const unknown = <T>() => pulumi.secret(pulumi.output(pulumi.unknown as unknown as T));
      buildAllParts(args, {
        handle: () => unknown<SubstrateHandle>(),
        modelApiKeys: () => unknown<Record<string, string>>(),
        teamNamespaces: () => unknown<Record<string, string>>(),
        flywheelIdentities: () => unknown<Record<string, FlywheelIdentity>>(),
      });
      await settle();
      expect(names(recorder)).toEqual(expected);
      expect(recorder.ofType("pulumi:providers:kubernetes")).toHaveLength(7);
    },
    120_000,
  );

  it.each(SETTINGS)(
    "make, for %s, each of Policy's and Observability's resources wait for what it waits for in the facade",
    async (_what, settings) => {
      const args = settings();
      const fr = await facade(args);
      const recorder = installMocks({ stack: "local" });
      buildAllParts(args);
      await settle();
      const counterpart = new Map(recorder.resources.map((r) => [objectKey(r), r]));
      const lost = (r: (typeof fr.resources)[number]) => {
        const mine = waitsFor(recorder, counterpart.get(objectKey(r))!);
        return [...waitsFor(fr, r)].filter((k) => !mine.has(k));
      };
      // What the Flywheel part itself does not wait for (docs/component-package.md, Limits: the
      // rest of Tenancy and Kueue), which what waits for the flywheel cannot wait for either.
      const flywheelGap = new Set(
        fr.resources.filter((r) => r.custom && under(fr, r, /^sovereign:flywheel:Flywheel$/)).flatMap(lost),
      );
      const differences: Record<string, string[]> = {};
      let compared = 0;
      for (const r of fr.resources) {
        if (!r.custom || !under(fr, r, POLICY_PARTS)) continue;
        compared++;
        const missing = lost(r).filter((k) => !flywheelGap.has(k));
        if (missing.length) differences[objectKey(r)!] = missing;
      }
      expect(compared).toBeGreaterThan(40);
      // The one exception (docs/component-package.md, Limits): Grafana's generated admin password
      // touches no cluster and takes nothing from the handle, so it does not wait for the substrate.
      expect(Object.keys(differences)).toEqual([
        "random:index/randomPassword:RandomPassword observability-grafana-admin-password",
      ]);
      // The constraint on the flywheel's identity waits for the flywheel's objects.
      const constraint = recorder.resources.find(
        (r) =>
          objectKey(r) ===
          "kubernetes:constraints.gatekeeper.sh/v1beta1:K8sFlywheelIdentity /flywheel-identity",
      )!;
      const flywheelObjects = recorder.resources
        .filter((r) => r.custom && under(recorder, r, /^sovereign:flywheel:Flywheel$/))
        .map((r) => objectKey(r)!);
      const waits = waitsFor(recorder, constraint);
      expect(flywheelObjects.filter((k) => waits.has(k)).length > 0).toBe(flywheelObjects.length > 0);
    },
    120_000,
  );
});

/** The input-property error `f` throws: its property paths and message, checked for no stack trace. */
function problem(f: () => unknown): { paths: string[]; message: string } {
  try {
    f();
  } catch (e) {
    expect(pulumi.InputPropertiesError.isInstance(e), String(e)).toBe(true);
    expect((e as Error).stack).not.toMatch(/\n\s+at /);
    const err = e as pulumi.InputPropertiesError;
    return { paths: err.errors.map((x) => x.propertyPath), message: err.message };
  }
  throw new Error("expected an input-property error");
}

describe("Policy and Observability given cross-part inputs that do not fit their settings", () => {
  const config = (args: ClusterPlatformArgs) => platformConfig("existing-cluster", args, "local");

  it("Policy without flywheelIdentities, where a team turns the flywheel on, fails while constructed", async () => {
    const args = withVllmModels();
    installMocks({ stack: "local" });
    const handle = new ClusterSubstrate("substrate", args).handle;
    const e = problem(() => new Policy("policy", { ...args, handle }));
    await settle();
    expect(e.paths).toEqual(["flywheelIdentities"]);
    expect(e.message).toMatch(
      /^flywheelIdentities: expected Flywheel's flywheelIdentities: teams\[0\] \("demo"\) turns the flywheel on/,
    );
  }, 120_000);

  it("Policy needs no identities where no team turns the flywheel on", async () => {
    const args = facadeArgs("local");
    installMocks({ stack: "local" });
    const handle = new ClusterSubstrate("substrate", args).handle;
    const policy = new Policy("policy", { ...args, handle });
    expect(await valueOf(policy.opaUrl)).toMatch(/^http:\/\//);
    await settle();
  }, 120_000);

  const good: FlywheelIdentity = {
    namespace: "team-demo",
    serviceAccounts: ["flywheel-builder"],
    // What the real Flywheel lists for these settings, less the CA bundles (public certificates).
    secrets: [
      "flywheel-builder-s3",
      "fw-demo-postgres",
      "model-tiny-chat-api-key",
      "model-tiny-guard-api-key",
    ],
  };
  it.each([
    [
      "an identity the settings have no flywheel for",
      {},
      "flywheelIdentities",
      /expected the identity of team "demo"'s flywheel \(teams\[0\]\.flywheel\)/,
    ],
    ["not a map", [good], "flywheelIdentities", /expected a map of team to identity, found an array/],
    [
      "a team without a flywheel",
      { demo: good, ml: good },
      "flywheelIdentities.ml",
      /team "ml" does not turn the flywheel on/,
    ],
    [
      "another namespace",
      { demo: { ...good, namespace: "team-ml" } },
      "flywheelIdentities.demo.namespace",
      /expected "team-demo"/,
    ],
    [
      "no ServiceAccount",
      { demo: { ...good, serviceAccounts: [] } },
      "flywheelIdentities.demo.serviceAccounts",
      /non-empty list/,
    ],
    [
      "Secrets that are not names",
      { demo: { ...good, secrets: "flywheel-builder-s3" } },
      "flywheelIdentities.demo.secrets",
      /non-empty list/,
    ],
    [
      "names other than the flywheel's (the constraint would protect those, not its own)",
      { demo: { namespace: "team-demo", serviceAccounts: ["x"], secrets: ["y"] } },
      "flywheelIdentities.demo.serviceAccounts",
      /expected \["flywheel-builder"\] among them/,
    ],
    [
      "its registry login left out",
      { demo: { ...good, secrets: good.secrets.filter((n) => n !== "fw-demo-postgres") } },
      "flywheelIdentities.demo.secrets",
      /expected \["fw-demo-postgres"\] among them/,
    ],
    [
      "the guard's key left out",
      { demo: { ...good, secrets: good.secrets.filter((n) => n !== "model-tiny-guard-api-key") } },
      "flywheelIdentities.demo.secrets",
      /expected \["model-tiny-guard-api-key"\] among them/,
    ],
    [
      "an identity that is not an object",
      { demo: "flywheel-builder" },
      "flywheelIdentities.demo",
      /expected an identity/,
    ],
  ])("flywheelIdentities with %s: an error at its path", (_what, value, at, reason) => {
    const e = problem(() => checkFlywheelIdentities(value, config(withVllmModels())));
    expect(e.paths).toEqual([at]);
    expect(e.message).toMatch(reason);
  });

  it("flywheelIdentities given to a Policy whose settings have no flywheel: an error at the team", () => {
    const e = problem(() => checkFlywheelIdentities({ demo: good }, config(facadeArgs("local"))));
    expect(e.paths).toEqual(["flywheelIdentities.demo"]);
  });

  const handle: SubstrateHandle = {
    kind: "existing-cluster",
    kubeContext: "kind-sovereign",
    deleteUnreachable: true,
    registryMirrors: {},
  } as unknown as SubstrateHandle;
  it.each([
    ["no handle", undefined, "handle"],
    ["another kind", { ...handle, kind: "aws" }, "handle.kind"],
    ["no context", { ...handle, kubeContext: undefined }, "handle.kubeContext"],
    ["deleteUnreachable a string", { ...handle, deleteUnreachable: "true" }, "handle.deleteUnreachable"],
    ["mirrors that are not a map", { ...handle, registryMirrors: ["x"] }, "handle.registryMirrors"],
    [
      "a mirror that is not a string",
      { ...handle, registryMirrors: { "docker.io": 1 } },
      "handle.registryMirrors.docker.io",
    ],
  ])("a handle with %s: an error at its path", (_what, value, at) => {
    const e = problem(() => checkClusterAccess(value as SubstrateHandle, config(facadeArgs("local"))));
    expect(e.paths).toEqual([at]);
    expect(e.message).toMatch(/^the substrate handle does not fit these settings: /);
  });

  it("accepts the fields of a real handle it reads, and of a real flywheel's identities", async () => {
    const args = withVllmModels();
    installMocks({ stack: "local" });
    const parts = buildAllParts(args);
    const h = await valueOf(parts.substrate.handle);
    const ids = await valueOf(parts.flywheel.flywheelIdentities);
    await settle();
    expect(checkClusterAccess(h, config(args))).toBe(h);
    expect(checkFlywheelIdentities(ids, config(args))).toBe(ids);
  }, 120_000);

  async function runProgram(mode: string) {
    // In a process of its own: the failed inputs of the parts' resources are unhandled rejections.
    const tsx = path.join(__dirname, "../../node_modules/.bin/tsx");
    return promisify(execFile)(tsx, [path.join(__dirname, "bad-policy-program.ts"), mode]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
  }

  it("Policy given Flywheel's identities in another namespace fails at that path, no stack trace, and registers no K8sFlywheelIdentity constraint", async () => {
    const out = await runProgram("identities");
    expect(out.code, out.stdout).toBe(1);
    expect(out.stdout).toContain('Policy output: failed at ["flywheelIdentities.demo.namespace"]');
    expect(out.stdout).toMatch(/^error: flywheelIdentities\.demo\.namespace: expected "team-demo"/m);
    expect(out.stdout).not.toMatch(/^\s+at /m);
    expect(out.stdout).toContain("constraint registered: false");
    // OPA takes nothing from the flywheel: registered as in the facade.
    expect(out.stdout).toContain("OPA Deployment registered: true");
  }, 120_000);

  it("Policy and Observability given a handle of another kind fail at handle.kind, no stack trace, and register none of their Kubernetes objects", async () => {
    const out = await runProgram("handle");
    expect(out.code, out.stdout).toBe(1);
    expect(out.stdout).toContain('Policy output: failed at ["handle.kind"]');
    expect(out.stdout).toContain('Observability output: failed at ["handle.kind"]');
    expect(out.stdout).toMatch(
      /^error: the substrate handle does not fit these settings: handle\.kind: expected "existing-cluster", found "aws"/m,
    );
    expect(out.stdout).not.toMatch(/^\s+at /m);
    const registered = JSON.parse(
      /registered under Policy and Observability: (.*)/.exec(out.stdout)![1],
    ) as string[];
    expect(
      registered.filter((t) => t.startsWith("kubernetes:") || t.startsWith("pulumi:providers:")),
    ).toEqual([]);
  }, 120_000);

  it("Observability takes only the handle: given one, it builds", async () => {
    const args = facadeArgs("local");
    installMocks({ stack: "local" });
    const h = new ClusterSubstrate("substrate", args).handle;
    const o = new Observability("observability", { ...args, handle: h });
    expect(await valueOf(o.grafanaAdminSecret)).toBeTruthy();
    await settle();
  }, 120_000);
});
