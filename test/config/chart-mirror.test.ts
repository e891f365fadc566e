import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { validateConfig } from "../../stacks/config/validate";

function withMirror(mirror: unknown): { path: string; message: string }[] {
  const raw = { ...structuredClone(rawFromStackFile(stackFile("local")).raw), chartMirror: mirror };
  const r = validateConfig(raw);
  return r.ok ? [] : [...r.issues];
}

describe("config: chartMirror", () => {
  it("GIVEN an OCI prefix or an absolute directory THEN the config is valid", () => {
    expect(withMirror({ oci: "oci://123456789012.dkr.ecr.eu-central-1.amazonaws.com/charts" })).toEqual([]);
    expect(withMirror({ oci: "oci://registry.internal:5000" })).toEqual([]);
    expect(withMirror({ directory: "/opt/sovereign/charts" })).toEqual([]);
  });

  it.each([
    [{ oci: "https://charts.example/repo" }, "chartMirror.oci", /OCI registry prefix/],
    [{ oci: "oci://registry.example/charts/" }, "chartMirror.oci", /no trailing \//],
    [{ directory: "charts" }, "chartMirror.directory", /absolute directory path/],
  ])("GIVEN %j THEN the issue names %s", (mirror, path, message) => {
    const issues = withMirror(mirror);
    expect(issues.map((i) => i.path)).toContain(`sovereign:${path}`);
    expect(issues.find((i) => i.path === `sovereign:${path}`)!.message).toMatch(message);
  });

  it("GIVEN both kinds or neither THEN the config is rejected at chartMirror", () => {
    for (const m of [{ oci: "oci://r.example/c", directory: "/c" }, {}, "oci://r.example/c"]) {
      const issues = withMirror(m);
      expect(issues.length, JSON.stringify(m)).toBeGreaterThan(0);
      expect(
        issues.every((i) => i.path.startsWith("sovereign:chartMirror")),
        JSON.stringify(issues),
      ).toBe(true);
    }
  });
});
