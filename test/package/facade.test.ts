/**
 * The component package's facades (component-package/platform.ts) under recording mocks: a
 * facade given a shipped stack's config registers what the stack program registers for it, every
 * resource under the facade; mistakes are input-property errors with their paths, before
 * anything is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { AwsPlatform, ClusterPlatform, type ClusterPlatformArgs } from "../../component-package/platform";
import { installMocks, settle, valueOf, type RecordedResource } from "../helpers/mocks";
import { runShippedStack } from "../helpers/stack";
import { awsFacadeArgs, facadeArgs } from "./facade-args";

const key = (r: RecordedResource) => `${r.type}::${r.name}`;

function construct(args: ClusterPlatformArgs): { platform?: ClusterPlatform; error?: unknown } {
  try {
    return { platform: new ClusterPlatform("platform", args) };
  } catch (error) {
    return { error };
  }
}

describe("ClusterPlatform", () => {
  it("registers what the `local` stack program registers, every resource under the facade", async () => {
    const program = await runShippedStack("local");
    expect(program.error).toBeUndefined();
    const expected = program.recorder.resources.map(key).sort();

    const recorder = installMocks({ stack: "local" });
    const { platform, error } = construct(facadeArgs("local"));
    expect(error).toBeUndefined();
    await settle();
    const facade = recorder.one("sovereign:index:ClusterPlatform", "platform");
    expect(
      recorder.resources
        .filter((r) => r !== facade)
        .map(key)
        .sort(),
    ).toEqual(expected);
    // Every resource descends from the facade (`pulumi destroy` of the component removes them).
    const orphans = recorder.resources.filter((r) => {
      if (r === facade) return false;
      let p = r.parent;
      while (p && p !== facade.urn) p = recorder.byUrn(p)?.parent;
      return p !== facade.urn;
    });
    expect(orphans.map(key)).toEqual([]);
    // The outputs are the stack program's.
    expect(await valueOf(platform!.models)).toEqual(["tiny-chat", "tiny-guard"]);
    expect(await valueOf(platform!.teams)).toEqual(["demo"]);
    expect(Object.keys(await valueOf(platform!.teamNamespaces))).toEqual(["demo"]);
    expect(await valueOf(platform!.gatewayUrl)).toMatch(/^http:\/\/.+/);
    expect(Object.keys(await valueOf(platform!.modelUrls)).sort()).toEqual(["tiny-chat", "tiny-guard"]);
  });

  it.each([
    [
      "models[0].pool",
      /no-such-pool/,
      (a: ClusterPlatformArgs) => ({
        ...a,
        models: [{ ...a.models[0], pool: "no-such-pool" }, ...a.models.slice(1)],
      }),
    ],
    [
      "teams[0].costCenter",
      /.+/,
      (a: ClusterPlatformArgs) => ({ ...a, teams: [{ ...a.teams[0], costCenter: "" }] }),
    ],
    [
      "substrate.context",
      /at least 1|>= 1 characters/,
      (a: ClusterPlatformArgs) => ({ ...a, substrate: { ...a.substrate, context: "" } }),
    ],
  ] as const)(
    "reports the kit's config problem at %s as an input-property error, registering nothing",
    async (path, reason, mistake) => {
      const recorder = installMocks({ stack: "local" });
      const { error } = construct(mistake(facadeArgs("local")));
      await settle();
      expect(pulumi.InputPropertiesError.isInstance(error)).toBe(true);
      const errors = (error as pulumi.InputPropertiesError).errors;
      expect(errors.map((e) => e.propertyPath)).toEqual([path]);
      expect(errors[0].reason).toMatch(reason);
      expect(recorder.resources.map(key)).toEqual(["sovereign:index:ClusterPlatform::platform"]);
    },
  );

  it("refuses an output where the platform's shape must be known, naming its path", async () => {
    const recorder = installMocks({ stack: "local" });
    const args = facadeArgs("local");
    const { error } = construct({
      ...args,
      teams: [{ ...args.teams[0], oidcGroup: pulumi.output("from-another-resource") as unknown as string }],
    });
    await settle();
    expect(pulumi.InputPropertiesError.isInstance(error)).toBe(true);
    expect((error as pulumi.InputPropertiesError).errors).toEqual([
      expect.objectContaining({ propertyPath: "teams[0].oidcGroup" }),
    ]);
    expect(recorder.resources.map(key)).toEqual(["sovereign:index:ClusterPlatform::platform"]);
  });
});

describe("AwsPlatform", () => {
  it("registers what the `aws-dev` stack program registers, every resource under the facade", async () => {
    const program = await runShippedStack("aws-dev");
    expect(program.error).toBeUndefined();
    const expected = program.recorder.resources.map(key).sort();

    const recorder = installMocks({ stack: "aws-dev" });
    const platform = new AwsPlatform("platform", awsFacadeArgs("aws-dev"));
    await settle();
    const facade = recorder.one("sovereign:index:AwsPlatform", "platform");
    expect(
      recorder.resources
        .filter((r) => r !== facade)
        .map(key)
        .sort(),
    ).toEqual(expected);
    const orphans = recorder.resources.filter((r) => {
      if (r === facade) return false;
      let p = r.parent;
      while (p && p !== facade.urn) p = recorder.byUrn(p)?.parent;
      return p !== facade.urn;
    });
    expect(orphans.map(key)).toEqual([]);
    expect(await valueOf(platform.profile)).toBe("dev");
    expect((await valueOf(platform.outputs)).region).toBe("eu-central-1");
  });
});
