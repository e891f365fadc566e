/**
 * A customer's repository outside the kit (examples/customer-repo): its own Pulumi.yaml and stack
 * file, the kit as a dependency at a pinned version. The test packs the kit as `npm pack` would
 * publish it, installs that tarball into a copy of the customer repo (extracted as npm would;
 * the kit's own dependencies are linked from this checkout instead of downloaded again), and
 * evaluates the customer's program the way the language host runs it (`node --import tsx`)
 * under the mocks. Everything it needs must be in the package: a file left out of `files`
 * fails here.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
/** A customer's shell: OPA installed (a deploy prerequisite, README), here the kit's pinned build. */
const CUSTOMER_ENV = {
  ...process.env,
  PATH: `${path.join(ROOT, ".tools", "bin")}${path.delimiter}${process.env.PATH ?? ""}`,
};
const EXAMPLE = path.join(ROOT, "examples", "customer-repo");
const KIT = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};

let work: string;
let customer: string;
let packed: string[];

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "customer-repo-"));
  customer = path.join(work, "acme");
  fs.cpSync(EXAMPLE, customer, { recursive: true });
  // The pinned dependency names a tarball in vendor/: make exactly that file from this checkout.
  const pkg = JSON.parse(fs.readFileSync(path.join(customer, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const spec = pkg.dependencies[KIT.name];
  const tarball = path.join(customer, spec.replace(/^file:/, ""));
  fs.mkdirSync(path.dirname(tarball), { recursive: true });
  const out = JSON.parse(
    sh("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", path.dirname(tarball)], ROOT),
  ) as { filename: string; files: { path: string }[] }[];
  packed = out[0].files.map((f) => f.path);
  expect(path.join(path.dirname(tarball), out[0].filename)).toBe(tarball);
  const modules = path.join(customer, "node_modules");
  fs.mkdirSync(path.join(modules, KIT.name), { recursive: true });
  sh("tar", ["xzf", tarball, "-C", path.join(modules, KIT.name), "--strip-components=1"], customer);
  for (const entry of fs.readdirSync(path.join(ROOT, "node_modules")))
    if (entry !== KIT.name && entry !== ".bin" && !entry.startsWith("."))
      fs.symlinkSync(path.join(ROOT, "node_modules", entry), path.join(modules, entry));
}, 120_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("examples/customer-repo: the kit at a pinned version in a customer's own repository", () => {
  it("GIVEN the customer's package.json WHEN read THEN it pins this kit's version, and the same @pulumi/pulumi and tsx", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(EXAMPLE, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies[KIT.name]).toBe(`file:vendor/${KIT.name}-${KIT.version}.tgz`);
    expect(pkg.dependencies["@pulumi/pulumi"]).toBe(KIT.dependencies["@pulumi/pulumi"]);
    expect(pkg.dependencies.tsx).toBe(KIT.dependencies.tsx);
  });

  it("GIVEN the packed kit THEN it holds the program, charts and policies, and none of the kit's own stack files", () => {
    expect(packed).toContain("stacks/main.ts");
    expect(packed).toContain("charts/model-server/Chart.yaml");
    expect(packed.some((f) => f.startsWith("policies/authz/"))).toBe(true);
    expect(packed.filter((f) => /^stacks\/Pulumi\..*\.yaml$/.test(f))).toEqual([]);
    expect(packed.filter((f) => f.startsWith("test/") || f.startsWith("node_modules/"))).toEqual([]);
  });

  it("GIVEN the customer's stack file WHEN its program runs under mocks with the installed kit THEN the platform is registered from the package", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "test", "helpers", "run-program-dir.ts"), customer, "acme-onprem"],
      { cwd: customer, encoding: "utf8", env: CUSTOMER_ENV },
    );
    expect(r.stderr).not.toMatch(/Error/);
    const { error, resources } = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      error?: string;
      resources: { type: string; name: string; chart?: string }[];
    };
    expect(error).toBeUndefined();
    const types = new Set(resources.map((x) => x.type));
    expect(types).toContain("sovereign:existingCluster:Substrate");
    expect(types).toContain("sovereign:platform:Gateway");
    // The model server chart is the installed package's, not this checkout's.
    const chart = resources.find((x) => x.name === "serving-model-tiny-chat-release")?.chart;
    expect(chart).toBe(path.join(customer, "node_modules", KIT.name, "charts", "model-server"));
  });

  it("GIVEN a mistake in the customer's stack file WHEN its program runs THEN the kit's config error names it, before any resource", () => {
    const file = path.join(customer, "Pulumi.acme-onprem.yaml");
    const good = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, good.replace("costCenter: cc-7200", "costCenter: Analytik Zürich"));
    try {
      const r = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(ROOT, "test", "helpers", "run-program-dir.ts"),
          customer,
          "acme-onprem",
        ],
        { cwd: customer, encoding: "utf8", env: CUSTOMER_ENV },
      );
      const { error, resources } = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
        error?: string;
        resources: unknown[];
      };
      expect(error).toMatch(
        /^(Run)?Error: the stack config has 1 problem:\n {2}- sovereign:teams\[0\]\.costCenter: /,
      );
      expect(resources).toEqual([]);
    } finally {
      fs.writeFileSync(file, good);
    }
  });
});
