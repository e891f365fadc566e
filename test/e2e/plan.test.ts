/**
 * The rules of `npm run e2e` that make a run red, without a server: duplicate objects, the
 * dependency order, manifests from recorded inputs, fake nodes shaped like the pools, and the
 * table. The run itself (test/e2e/run.ts) applies the result to a real API server.
 */
import { describe, expect, it } from "vitest";
import { fakeNodes } from "./nodes";
import {
  apiVersionKind,
  duplicates,
  emptyResult,
  failures,
  helmInstallOrder,
  manifestOf,
  table,
  topologicalOrder,
  type Manifest,
  type Recorded,
} from "./plan";

const rec = (
  name: string,
  type: string,
  inputs: Record<string, unknown>,
  deps: string[] = [],
  parent?: string,
): Recorded => ({
  type,
  name,
  urn: `urn:${name}`,
  custom: true,
  inputs,
  parent,
  dependencies: deps.map((d) => `urn:${d}`),
});
const obj = (kind: string, name: string, namespace?: string, apiVersion = "v1"): Manifest => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
});

describe("e2e plan", () => {
  it("GIVEN two objects with the same kind, namespace and name THEN both sources are reported", () => {
    const d = duplicates([
      {
        manifest: obj("Job", "training-postgres-login", "sovereign-substrate", "batch/v1"),
        source: "research-job",
      },
      {
        manifest: obj("Job", "training-postgres-login", "sovereign-substrate", "batch/v1"),
        source: "support-job",
      },
      {
        manifest: obj("Secret", "training-postgres-login", "sovereign-substrate"),
        source: "research-secret",
      },
      { manifest: obj("Job", "training-postgres-login", "team-a", "batch/v1"), source: "other-ns" },
    ]);
    expect(d).toEqual([
      {
        key: "batch/Job sovereign-substrate/training-postgres-login",
        sources: ["research-job", "support-job"],
      },
    ]);
  });

  it("GIVEN a cluster-scoped kind THEN a stray namespace field does not hide a duplicate", () => {
    const scoped = (_: string, kind: string) => kind === "Namespace";
    expect(
      duplicates(
        [
          { manifest: obj("Namespace", "a"), source: "x" },
          { manifest: obj("Namespace", "a", "b"), source: "y" },
        ],
        scoped,
      ),
    ).toHaveLength(1);
  });

  it("GIVEN recorded dependencies and parents THEN every resource comes after what it depends on", () => {
    const order = topologicalOrder([
      rec("deploy", "kubernetes:apps/v1:Deployment", {}, ["cm"], "comp"),
      rec("cm", "kubernetes:core/v1:ConfigMap", {}, ["ns"]),
      rec("comp", "sovereign:x:Comp", {}),
      rec("ns", "kubernetes:core/v1:Namespace", {}),
    ]).map((r) => r.name);
    expect(order.indexOf("ns")).toBeLessThan(order.indexOf("cm"));
    expect(order.indexOf("cm")).toBeLessThan(order.indexOf("deploy"));
    expect(order.indexOf("comp")).toBeLessThan(order.indexOf("deploy"));
  });

  it("GIVEN a dependency cycle THEN the plan fails naming the resources", () => {
    expect(() => topologicalOrder([rec("a", "t", {}, ["b"]), rec("b", "t", {}, ["a"])])).toThrow(
      /cycle among: a, b/,
    );
  });

  it("GIVEN recorded inputs THEN the manifest has the type token's apiVersion/kind and a name", () => {
    expect(apiVersionKind("kubernetes:core/v1:Secret")).toEqual({ apiVersion: "v1", kind: "Secret" });
    expect(apiVersionKind("kubernetes:postgresql.cnpg.io/v1:Cluster")).toEqual({
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
    });
    expect(apiVersionKind("kubernetes:helm.sh/v3:Release")).toBeUndefined();
    const m = manifestOf(
      rec("my-config", "kubernetes:core/v1:ConfigMap", { metadata: { namespace: "n" }, data: { a: "1" } }),
    )!;
    expect(m).toMatchObject({
      apiVersion: "v1",
      kind: "ConfigMap",
      data: { a: "1" },
      metadata: { namespace: "n" },
    });
    expect(m.metadata.name).toMatch(/^my-config-[0-9a-f]{8}$/);
  });

  it("GIVEN a rendered chart THEN Namespaces and ServiceAccounts come before Deployments", () => {
    const o = (kind: string) => ({ manifest: obj(kind, kind.toLowerCase()), source: kind });
    expect(
      helmInstallOrder([o("Deployment"), o("ServiceAccount"), o("Namespace")]).map((x) => x.source),
    ).toEqual(["Namespace", "ServiceAccount", "Deployment"]);
  });

  it("GIVEN a Karpenter GPU NodePool THEN fake nodes carry its labels, taints and GPU capacity", () => {
    const pool: Manifest = {
      apiVersion: "karpenter.sh/v1",
      kind: "NodePool",
      metadata: { name: "serving-l4" },
      spec: {
        template: {
          metadata: { labels: { "sovereign.ai/gpu-pool": "serving-l4" } },
          spec: {
            requirements: [{ key: "karpenter.k8s.aws/instance-gpu-count", operator: "In", values: ["4"] }],
            taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
          },
        },
      },
    };
    const nodes = fakeNodes([pool]);
    const gpu = nodes.filter((n) => n.metadata.labels?.["sovereign.ai/gpu-pool"] === "serving-l4");
    expect(gpu).toHaveLength(3);
    expect(gpu[0]).toMatchObject({
      spec: { taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }] },
      status: { capacity: { "nvidia.com/gpu": "4" } },
    });
    expect(nodes.filter((n) => n.metadata.labels?.["sovereign.ai/node-role"] === "system")).toHaveLength(3);
  });

  it("GIVEN any rejection, duplicate, unready workload, leftover, failed admission check or Pod Security warning THEN the stack fails", () => {
    expect(failures(emptyResult("s"))).toEqual([]);
    const cases: ((r: ReturnType<typeof emptyResult>) => void)[] = [
      (r) => r.rejected.push({ object: "x", message: "invalid" }),
      (r) => r.duplicates.push({ key: "k", sources: ["a", "b"] }),
      (r) => r.notReady.push({ object: "x", reason: "0/1" }),
      (r) => r.left.push("x"),
      (r) => r.admission.push({ check: "c", ok: false, detail: "d" }),
      (r) => r.errors.push("e"),
      (r) =>
        r.warnings.push(
          'Job d/j: would violate PodSecurity "restricted:latest": runAsNonRoot != true (pod must set securityContext.runAsNonRoot=true)',
        ),
    ];
    for (const c of cases) {
      const r = emptyResult("s");
      c(r);
      expect(failures(r)).toHaveLength(1);
      expect(table([r])).toMatch(/FAILED/);
    }
    const ok = emptyResult("s");
    ok.notApplied.push({ release: "keda", reason: "not obtainable" });
    ok.warnings.push("policy/v1beta1 PodDisruptionBudget is deprecated");
    expect(failures(ok)).toEqual([]);
    expect(table([ok])).toMatch(/\| ok/);
  });
});
