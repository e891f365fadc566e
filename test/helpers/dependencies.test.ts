/**
 * The recorder's dependency edges match what @pulumi/pulumi sends the engine, so the teardown
 * order tests (test/stacks/teardown-order.test.ts) rest on the SDK's real behaviour.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { beforeAll, describe, expect, it } from "vitest";
import { installMocks, providerUrn, settle, type ResourceRecorder } from "./mocks";

class Group extends pulumi.ComponentResource {
  readonly a: random.RandomString;
  readonly b: random.RandomString;
  constructor(name: string, opts: pulumi.ComponentResourceOptions = {}) {
    super("test:index:Group", name, {}, opts);
    this.a = new random.RandomString(`${name}-a`, { length: 8 }, { parent: this });
    const inner = new Inner(`${name}-inner`, { parent: this });
    this.b = inner.c;
    this.registerOutputs({});
  }
}

class Inner extends pulumi.ComponentResource {
  readonly c: random.RandomString;
  constructor(name: string, opts: pulumi.ComponentResourceOptions = {}) {
    super("test:index:Inner", name, {}, opts);
    this.c = new random.RandomString(`${name}-c`, { length: 8 }, { parent: this });
    this.registerOutputs({});
  }
}

describe("recorded dependencies", () => {
  let recorder: ResourceRecorder;
  beforeAll(async () => {
    recorder = installMocks();
    const base = new random.RandomString("base", { length: 8 });
    const group = new Group("group");
    // Explicit dependsOn on a component, and a property dependency.
    new random.RandomString(
      "on-group",
      { length: 8, special: base.result.apply(() => false) },
      { dependsOn: [group] },
    );
    // A component that depends on `base`, with a child that declares nothing itself.
    const holder = new Inner("holder", { dependsOn: [base] });
    new random.RandomString("grandchild", { length: 8 }, { parent: holder });
    const provider = new random.Provider("rnd", {}, { dependsOn: [base] });
    new random.RandomString("via-provider", { length: 8 }, { provider });
    await settle();
  });

  it("GIVEN dependsOn a component THEN the SDK records its custom descendants, not the component", () => {
    const on = recorder.named("on-group");
    const group = recorder.named("group");
    expect(new Set(on.dependencies)).toEqual(
      new Set([
        recorder.named("group-a").urn,
        recorder.named("group-inner-c").urn,
        recorder.named("base").urn,
      ]),
    );
    expect(on.dependencies).not.toContain(group.urn);
    expect(on.dependsOn).toEqual(on.dependencies);
    expect(
      recorder
        .dependencyTargets(group)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["group-a", "group-inner-c"]);
    expect(recorder.dependsOnTransitively(on, group)).toBe(true);
  });

  it("GIVEN an input from another resource THEN it is a property dependency", () => {
    const on = recorder.named("on-group");
    expect(on.propertyDependencies.special).toEqual([recorder.named("base").urn]);
  });

  it("GIVEN a child of a component that depends on X THEN it depends on X only through its parent", () => {
    const child = recorder.named("holder-c");
    const base = recorder.named("base");
    expect(child.dependencies).toEqual([]);
    expect(recorder.dependsOnTransitively(child, base)).toBe(true);
    expect(recorder.dependsOnTransitively(child, base, { via: ["dependency"] })).toBe(false);
    expect(recorder.describePath(recorder.dependencyPath(child, base.urn))).toBe(
      "random:index/randomString:RandomString holder-c -> test:index:Inner holder -> random:index/randomString:RandomString base",
    );
  });

  it("GIVEN a resource managed by a provider that depends on X THEN it reaches X only through provider edges", () => {
    const r = recorder.named("via-provider");
    const base = recorder.named("base");
    expect(providerUrn(r.provider!)).toBe(recorder.named("rnd").urn);
    expect(recorder.dependsOnTransitively(r, base)).toBe(false);
    expect(recorder.dependsOnTransitively(r, base, { via: ["dependency", "parent", "provider"] })).toBe(true);
  });

  it("GIVEN no chain of edges THEN nothing is depended on (dependencies point one way)", () => {
    const base = recorder.named("base");
    expect(recorder.dependsOnTransitively(base, recorder.named("on-group"))).toBe(false);
    expect(recorder.transitiveDependencies(base).size).toBe(0);
    expect(recorder.dependsOnTransitively(recorder.named("group-a"), recorder.named("group"))).toBe(true);
  });
});
