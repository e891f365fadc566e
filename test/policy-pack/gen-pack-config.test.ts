/**
 * gen-pack-config's output is what the format check accepts, and a stack file a user adds to
 * stacks/ neither breaks the tests' view of the shipped stacks nor lacks a pack config.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as prettier from "prettier";
import { describe, expect, it } from "vitest";
import { KIT_STACKS, shippedStacks, STACKS_DIR, stackNames } from "../../stacks/config/load";
import {
  CONFIG_DIR,
  formatPackConfig,
  renderPackConfig,
  writePackConfigs,
} from "../../scripts/gen-pack-config";

const ROOT = path.resolve(__dirname, "../..");

/** stacks/ copied into a temp dir, plus a user's stack `acme` (a renamed copy of aws-dev). */
function stacksWithUserStack(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
  for (const f of fs.readdirSync(STACKS_DIR).filter((f) => /^Pulumi\..+\.yaml$/.test(f)))
    fs.copyFileSync(path.join(STACKS_DIR, f), path.join(dir, f));
  fs.copyFileSync(path.join(STACKS_DIR, "Pulumi.aws-dev.yaml"), path.join(dir, "Pulumi.acme.yaml"));
  return dir;
}

describe("scripts/gen-pack-config.ts", () => {
  it("GIVEN every shipped stack WHEN its pack config is generated THEN config/<stack>.json is up to date (npx tsx scripts/gen-pack-config.ts)", () => {
    for (const stack of shippedStacks()) {
      const file = path.join(CONFIG_DIR, `${stack}.json`);
      expect(fs.existsSync(file), file).toBe(true);
      expect(JSON.parse(fs.readFileSync(file, "utf8")), stack).toEqual(JSON.parse(renderPackConfig(stack)));
    }
    const prod = JSON.parse(fs.readFileSync(path.join(CONFIG_DIR, "aws-prod.json"), "utf8"));
    expect(prod.all).toBe("mandatory");
    expect(prod["prod-data-protection"]).toEqual({ profile: "prod", suppressions: [] });
    expect(prod["region-allowlist"]).toEqual({ allowedRegions: ["eu-central-1"], suppressions: [] });
    // `all: mandatory` must not turn the suppression report into a gate.
    expect(prod.suppressions.enforcementLevel).toBe("advisory");
  });
  it("GIVEN every kit stack WHEN its pack config is rendered THEN the committed file is byte-identical and passes prettier's check", async () => {
    for (const stack of shippedStacks()) {
      const file = path.join(CONFIG_DIR, `${stack}.json`);
      const written = await formatPackConfig(renderPackConfig(stack), file);
      const options = { ...(await prettier.resolveConfig(file)), filepath: file };
      expect(await prettier.check(written, options), stack).toBe(true);
      expect(fs.readFileSync(file, "utf8"), stack).toBe(written);
    }
  });

  it("GIVEN the script run on a stacks dir with a user's stack WHEN done THEN it writes one formatted file per stack, the user's too", () => {
    const stacks = stacksWithUserStack();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "pack-config-"));
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/gen-pack-config.ts", "--stacks-dir", stacks, "--out", out],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(["acme.json", "aws-dev.json", "aws-prod.json", "local.json"]);
    for (const f of fs.readdirSync(out)) {
      const text = fs.readFileSync(path.join(out, f), "utf8");
      if (f !== "acme.json") expect(text, f).toBe(fs.readFileSync(path.join(CONFIG_DIR, f), "utf8"));
    }
    const check = spawnSync(process.execPath, ["node_modules/prettier/bin/prettier.cjs", "--check", out], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });

  it("GIVEN a user's stack file next to the kit's WHEN the stacks are listed THEN the tests still see exactly the kit's stacks and gen-pack-config sees all", async () => {
    const stacks = stacksWithUserStack();
    expect(shippedStacks(stacks)).toEqual([...KIT_STACKS]);
    expect(stackNames(stacks)).toEqual(["acme", "aws-dev", "aws-prod", "local"]);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "pack-config-"));
    expect((await writePackConfigs(stacks, out)).map((f) => path.basename(f))).toContain("acme.json");
  });

  it("GIVEN a bad stack file after good ones WHEN the script runs THEN it names the file in one line, exit 1, and writes nothing", () => {
    const stacks = stacksWithUserStack();
    fs.writeFileSync(path.join(stacks, "Pulumi.zz-broken.yaml"), "config:\n  sovereign:profile: nonsense\n");
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "pack-config-"));
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/gen-pack-config.ts", "--stacks-dir", stacks, "--out", out],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^gen-pack-config: .*Pulumi\.zz-broken\.yaml: .*; nothing was written\n$/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it("GIVEN a bad flag or a missing directory WHEN the script runs THEN it names the problem in one line, no stack trace, exit 2", () => {
    for (const args of [["--colour", "blue"], ["--out", "/nonexistent/dir"], ["--out"]]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/gen-pack-config.ts", ...args], {
        cwd: ROOT,
        encoding: "utf8",
      });
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^gen-pack-config: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
