/**
 * Renovate cannot run here, so this test runs its configuration's regex managers the way Renovate
 * does (each match string over each file its patterns select) and checks that every version pin
 * in the kit's pin files is captured, with the right value. The pins are found independently of
 * renovate.json, by what a pin looks like in each file; a new pin of a new shape fails the test
 * until a manager covers it (or it is listed below with the reason it cannot be).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { filesUnder, MANIFESTS } from "./helpers/package-imports";

const ROOT = path.resolve(__dirname, "..");
const config = JSON.parse(fs.readFileSync(path.join(ROOT, "renovate.json"), "utf8")) as {
  enabledManagers: string[];
  customManagers: { managerFilePatterns: string[]; matchStrings: string[]; depNameTemplate?: string }[];
};

/** Pins Renovate cannot update, with the reason (shown when the test runs). */
const UNMANAGED: Readonly<Record<string, string>> = {
  "al2023@v20251103":
    "the EKS AL2023 AMI release alias (KARPENTER.amiAlias): no Renovate datasource lists Karpenter AMI aliases; bump it with the Karpenter chart",
};

/** What pins look like in each pin file (capture group 1 is the version). */
const PIN_SHAPES: Readonly<Record<string, readonly RegExp[]>> = {
  "components/lib/versions.ts": [
    /"[a-z0-9][a-z0-9.-]*\.[a-z]{2,}\/[^"\s:@]+:([^"\s]+)"/g,
    /version: "([^"]+)"/g,
    /amiAlias: "([^"]+)"/g,
  ],
  "components/lib/chart-images.ts": [/"[a-z0-9][a-z0-9.-]*\.[a-z]{2,}\/[^"\s:@]+:([^"\s]+)"/g],
  "components/aws/versions.ts": [
    /"[a-z0-9][a-z0-9.-]*\.[a-z]{2,}\/[^"\s:@]+:([^"\s]+)"/g,
    /"(v[^"]+-eksbuild\.\d+)"/g,
    /version: "([^"]+)"/g,
    /amiAlias: "([^"]+)"/g,
  ],
  "scripts/tools.sh": [/^[A-Z_]+_VERSION=(\S+)/gm],
  "scripts/engine-tools.sh": [/^[A-Z_]+_VERSION=(\S+)/gm],
  "gateway/Dockerfile": [/^ARG [A-Z_]*IMAGE=\S+:(\S+)/gm],
  "trainer/Dockerfile": [/^ARG [A-Z_]*IMAGE=\S+:(\S+)/gm],
};

function pinsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  return PIN_SHAPES[file].flatMap((re) => [...text.matchAll(re)].map((m) => m[1]));
}

/** Renovate's `"/regex/"` file patterns. */
function selects(pattern: string, file: string): boolean {
  const m = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  if (!m) throw new Error(`expected a /regex/ file pattern, found ${pattern}`);
  return new RegExp(m[1], m[2]).test(file);
}

/** Every currentValue the regex managers capture in a file. */
function captured(file: string): { currentValue: string; depName?: string }[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  return config.customManagers
    .filter((m) => m.managerFilePatterns.some((p) => selects(p, file)))
    .flatMap((m) =>
      m.matchStrings.flatMap((s) =>
        [...text.matchAll(new RegExp(s, "g"))].map((x) => ({
          currentValue: x.groups!.currentValue,
          depName: x.groups?.depName ?? m.depNameTemplate,
        })),
      ),
    );
}

describe("renovate.json", () => {
  it("GIVEN the pin files WHEN scanned THEN pins are found in each (the scan is not empty)", () => {
    for (const file of Object.keys(PIN_SHAPES)) expect(pinsOf(file).length, file).toBeGreaterThan(0);
    expect(pinsOf("components/lib/versions.ts")).toContain("v0.30.0"); // the vLLM pin
  });

  it.each(Object.keys(PIN_SHAPES))(
    "GIVEN %s WHEN the regex managers run THEN every pin is captured with a package name",
    (file) => {
      const caps = captured(file);
      const missing = pinsOf(file).filter(
        (v) => !UNMANAGED[v] && !caps.some((c) => c.currentValue === v && !!c.depName),
      );
      expect(missing).toEqual([]);
    },
  );

  it("GIVEN npm, pip and Dockerfiles WHEN configured THEN Renovate's own managers are enabled for them", () => {
    expect(config.enabledManagers).toEqual(
      expect.arrayContaining(["npm", "pip_requirements", "dockerfile", "custom.regex"]),
    );
    // Their pins are exact, so Renovate proposes each bump as a change to review; every manifest
    // (the kit's, the gateway's, the policy pack's) is one Renovate's npm manager finds.
    for (const m of MANIFESTS) {
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, m), "utf8"));
      for (const [name, v] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies }))
        expect(v, `${m}: ${name}`).toMatch(/^\d+\.\d+\.\d+$/);
      expect(fs.existsSync(path.join(ROOT, path.dirname(m), "package-lock.json")), m).toBe(true);
    }
    const pipFiles = fs
      .readdirSync(path.join(ROOT, "trainer"))
      .filter((f) => /^requirements(-\w+)?\.txt$/.test(f))
      .map((f) => `trainer/${f}`);
    expect(pipFiles).toEqual(
      expect.arrayContaining(["trainer/requirements.txt", "trainer/requirements-typecheck.txt"]),
    );
    for (const f of pipFiles)
      for (const line of fs.readFileSync(path.join(ROOT, f), "utf8").split("\n"))
        if (line.trim() && !line.trim().startsWith("#") && !line.trim().startsWith("-"))
          expect(line, f).toMatch(/==/);
  });

  it("GIVEN the npm manifests WHEN listed THEN they are every package.json outside node_modules and examples/", () => {
    // examples/customer-repo/package.json is a customer's manifest (the packed kit as a file:
    // dependency), shown as an example, not one of the kit's packages. component-package/'s is the
    // Pulumi plugin's manifest (no dependencies: it loads the kit from the root package).
    const found = filesUnder(ROOT, ".", (f) => f === "package.json").filter(
      (f) => !f.startsWith("examples/") && f !== "component-package/package.json",
    );
    expect(found).toEqual([...MANIFESTS].sort());
  });

  it("GIVEN a package pinned in several manifests WHEN compared THEN every manifest pins the same version", () => {
    const pins = new Map<string, Map<string, string>>();
    for (const m of MANIFESTS) {
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, m), "utf8"));
      for (const [name, v] of Object.entries<string>({ ...pkg.dependencies, ...pkg.devDependencies }))
        pins.set(name, (pins.get(name) ?? new Map()).set(m, v));
    }
    const shared = [...pins].filter(([, at]) => at.size > 1);
    expect(shared.map(([name]) => name)).toContain("pg"); // the check is not empty
    const split = shared
      .filter(([, at]) => new Set(at.values()).size > 1)
      .map(([n, at]) => `${n}: ${[...at].map(([m, v]) => `${m} ${v}`).join(", ")}`);
    expect(split).toEqual([]);
  });
});
