/**
 * A stack file the helper commands cannot read (a YAML mistake, no `config:` wrapper, a typo in
 * the `sovereign:` namespace) is one line naming the file, and the line and column where the
 * YAML parser knows them: never a stack trace, never silently ignored. Runs the real commands.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stackFile } from "../../stacks/config/load";

const ROOT = path.resolve(__dirname, "../..");
const LOCAL = fs.readFileSync(stackFile("local"), "utf8");

function run(script: string, text: string): { status: number | null; lines: string[]; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-file-"));
  const file = path.join(dir, "Pulumi.mistake.yaml");
  fs.writeFileSync(file, text);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", script), file], {
    cwd: ROOT,
    encoding: "utf8",
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, lines: r.stderr.trim().split("\n").filter(Boolean), file };
}

/** The shipped local stack with one line replaced. */
function localWith(from: string, to: string): string {
  expect(LOCAL).toContain(from);
  return LOCAL.replace(from, to);
}

const CASES: [string, string, RegExp][] = [
  [
    "an unclosed bracket",
    "config:\n  sovereign:tags: [a, b\n  sovereign:profile: dev\n",
    /:\d+:\d+: .*(end with a \]|indented)/,
  ],
  [
    "a duplicate key",
    localWith("  sovereign:profile: dev", "  sovereign:profile: dev\n  sovereign:profile: prod"),
    /:\d+:\d+: Map keys must be unique/,
  ],
  [
    "a tab as indentation",
    localWith("  sovereign:profile: dev", "\tsovereign:profile: dev"),
    /:\d+:\d+: Tabs are not allowed as indentation/,
  ],
  [
    "no config: wrapper",
    "sovereign:profile: dev\nsovereign:teams: []\n",
    /: expected a top-level "config:" mapping/,
  ],
  [
    "a typo in the namespace",
    localWith("  sovereign:profile: dev", "  sovereign:profile: dev\n  sovereing:database: {}"),
    /: expected the "sovereign:" namespace, found "sovereing:database"/,
  ],
];

describe("a stack file the commands cannot read", () => {
  it.each(CASES)(
    "GIVEN %s WHEN check-config runs THEN one line names the file and the place, exit 1",
    (_, text, want) => {
      const r = run("check-config.ts", text);
      expect(r.status).toBe(1);
      expect(r.lines, r.lines.join("\n")).toHaveLength(1);
      expect(r.lines[0].startsWith(r.file)).toBe(true);
      expect(r.lines[0]).toMatch(want);
    },
  );

  it("GIVEN the shipped local stack unchanged WHEN check-config runs THEN it passes (the checks reject only mistakes)", () => {
    const r = run("check-config.ts", LOCAL);
    expect(r.lines).toEqual([]);
    expect(r.status).toBe(0);
  });

  it("GIVEN another provider's namespace (aws:, kubernetes:) WHEN check-config runs THEN it is not mistaken for a typo", () => {
    const r = run(
      "check-config.ts",
      localWith(
        "  sovereign:profile: dev",
        "  sovereign:profile: dev\n  kubernetes:context: kind-sovereign\n  aws:region: eu-central-1",
      ),
    );
    expect(r.lines).toEqual([]);
    expect(r.status).toBe(0);
  });

  it("GIVEN aws-dev opting out of RDS IAM authentication WHEN check-config runs THEN it passes with one warning that the password is never rotated; the shipped aws-dev has none", () => {
    const AWS_DEV = fs.readFileSync(stackFile("aws-dev"), "utf8");
    const shipped = run("check-config.ts", AWS_DEV);
    expect(shipped.lines).toEqual([]);
    expect(shipped.status).toBe(0);
    expect(AWS_DEV).toContain("\n  sovereign:profile: dev\n");
    const r = run(
      "check-config.ts",
      AWS_DEV.replace(
        "\n  sovereign:profile: dev\n",
        "\n  sovereign:profile: dev\n  sovereign:database:\n    iamAuth: false\n",
      ),
    );
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      `${r.file}: warning: sovereign:database.iamAuth: false: services log in to RDS with a static password that is never rotated (FSBP SecretsManager.4 fails for its secret); remove the setting to log in with IAM tokens, the default`,
    ]);
  });

  it("GIVEN a directory where a stack file is named WHEN check-config and images run THEN one line names it, exit 1, no stack trace", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-file-"));
    try {
      for (const script of ["check-config.ts", "images.ts"]) {
        const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", script), dir], {
          cwd: ROOT,
          encoding: "utf8",
        });
        expect(r.status, script).toBe(1);
        expect(r.stderr.trim().split("\n"), script).toEqual([`${dir}: is a directory, not a stack file`]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("GIVEN a YAML mistake WHEN images runs THEN it is one line too, not a stack trace", () => {
    const r = run("images.ts", CASES[2][1]);
    expect(r.status).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/:\d+:\d+: Tabs are not allowed/);
  });
});
