/**
 * Each deployable installs from its own manifest and lockfile (docs/decisions/0007-own-packages.md),
 * so what its code imports must be in that manifest: the gateway's source (and the contracts it
 * reaches in components/lib, which its image copies) and the policy pack's. The kit's root
 * manifest keeps what the Pulumi program, the scripts and the tests need.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { contextPaths, stagesOf } from "../helpers/dockerfile";
import {
  filesUnder,
  importClosure,
  type Import,
  MANIFESTS,
  packageOf,
  sourcesUnder,
} from "../helpers/package-imports";

const ROOT = path.resolve(__dirname, "../..");

interface Manifest {
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
}

const manifest = (dir: string): Manifest =>
  JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package.json"), "utf8")) as Manifest;

/** The imports of packages that `dir/package.json` does not provide (types may come from devDependencies). */
function unlisted(imports: readonly Import[], m: Manifest): string[] {
  const runtime = new Set(Object.keys(m.dependencies ?? {}));
  const types = new Set([...runtime, ...Object.keys(m.devDependencies ?? {})]);
  return imports.flatMap(({ file, spec, typeOnly }) => {
    const name = packageOf(spec);
    if (!name || (typeOnly ? types : runtime).has(name)) return [];
    const where = typeOnly ? "dependencies or devDependencies" : "dependencies";
    return [`${file} imports "${spec}"; ${name} is not in its package's ${where}`];
  });
}

/** The files outside every one of `allowed` (paths relative to the root, files or folders). */
function outside(files: readonly string[], allowed: readonly string[]): string[] {
  const inside = (f: string) => allowed.some((a) => f === a || f.startsWith(a.replace(/\/?$/, "/")));
  return files.filter((f) => !inside(f));
}

const GATEWAY_IMAGE_COPIES = [
  ...new Set(contextPaths(stagesOf(fs.readFileSync(path.join(ROOT, "gateway/Dockerfile"), "utf8")))),
];

const PACKAGES = {
  gateway: { sources: sourcesUnder(ROOT, "gateway/src"), reach: GATEWAY_IMAGE_COPIES },
  "policy-pack": { sources: sourcesUnder(ROOT, "policy-pack"), reach: ["policy-pack"] },
} as const;

describe.each(Object.entries(PACKAGES))("the %s package", (dir, { sources, reach }) => {
  const { imports, files } = importClosure(ROOT, sources);

  it("GIVEN its source WHEN read THEN the walker sees its files and their package imports (the check is not empty)", () => {
    expect(sources.length).toBeGreaterThan(3);
    expect(imports.filter((i) => packageOf(i.spec)).length).toBeGreaterThan(0);
  });

  it(`GIVEN every file its source reaches WHEN its imports are read THEN each package imported at run time is in ${dir}/package.json's dependencies`, () => {
    expect(unlisted(imports, manifest(dir))).toEqual([]);
  });

  it(`GIVEN every file its source reaches WHEN listed THEN each is inside what its build takes (${reach.join(", ")})`, () => {
    expect(outside(files, reach)).toEqual([]);
  });

  it(`GIVEN ${dir}/package-lock.json WHEN compared with ${dir}/package.json THEN the lock was made from this manifest (npm ci installs exactly it)`, () => {
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, dir, "package-lock.json"), "utf8")) as {
      packages: Record<string, Manifest>;
    };
    const m = manifest(dir);
    expect(lock.packages[""].dependencies ?? {}).toEqual(m.dependencies ?? {});
    expect(lock.packages[""].devDependencies ?? {}).toEqual(m.devDependencies ?? {});
  });
});

describe("the policy pack's tests", () => {
  const TEST_DIR = "policy-pack/test";
  const tests = filesUnder(ROOT, TEST_DIR, (f) => f.endsWith(".ts"));
  const { imports, files } = importClosure(ROOT, tests);

  it("GIVEN the pack's tests WHEN their relative imports are followed THEN none leaves policy-pack/ (no kit harness)", () => {
    expect(tests.length).toBeGreaterThan(2);
    expect(outside(files, ["policy-pack"])).toEqual([]);
  });

  it("GIVEN the pack's tests WHEN their packages are resolved THEN each comes from the pack's own install (vitest, the runner, aside)", () => {
    const foreign = imports
      .filter((i) => packageOf(i.spec) && packageOf(i.spec) !== "vitest")
      .filter((i) => {
        const at = require.resolve(i.spec, { paths: [path.join(ROOT, path.dirname(i.file))] });
        return !at.startsWith(path.join(ROOT, "policy-pack", "node_modules") + path.sep);
      })
      .map((i) => `${i.file} imports "${i.spec}" from outside policy-pack/node_modules`);
    expect(foreign).toEqual([]);
  });
});

describe("the kit's root manifest", () => {
  /** Runtime dependencies no file imports, with the reason they are there. */
  const NOT_IMPORTED: Readonly<Record<string, string>> = {
    tsx: "runs the scripts and the e2e (package.json scripts, `node --import tsx`)",
  };

  it("GIVEN the kit's own source WHEN its imports are read THEN every runtime dependency of the root is used, none is only the gateway's", () => {
    const kit = ["stacks", "components", "scripts", "bench", "bootstrap", "examples"].flatMap((d) =>
      sourcesUnder(ROOT, d),
    );
    const { imports } = importClosure(ROOT, kit);
    // The kit's files may reach gateway/src (scripts/keys.ts uses its db module), whose packages
    // the gateway's own install provides: count only the imports made by the kit's files.
    const used = new Set(
      imports.filter((i) => !i.file.startsWith("gateway/")).flatMap((i) => packageOf(i.spec) ?? []),
    );
    const unused = Object.keys(manifest(".").dependencies ?? {}).filter(
      (d) => !used.has(d) && !NOT_IMPORTED[d],
    );
    expect(unused).toEqual([]);
  });

  it("GIVEN the kit's install (npm ci in a checkout) WHEN its prepare script runs THEN it installs every other package from its own lockfile", () => {
    const scripts = (manifest(".") as { scripts?: Record<string, string> }).scripts ?? {};
    const others = MANIFESTS.filter((m) => m !== "package.json").map((m) => path.dirname(m));
    expect(others.length).toBeGreaterThan(0);
    for (const dir of others)
      expect(scripts.prepare ?? "(no prepare script)", dir).toContain(`npm ci --prefix ${dir} `);
    // Not an install hook: a customer's npm install of the packed kit (examples/customer-repo)
    // runs those, and the package holds neither gateway/ nor policy-pack/.
    for (const hook of ["preinstall", "install", "postinstall"]) expect(scripts[hook], hook).toBeUndefined();
  });
});
