/**
 * Settings renamed since 0.1.0 (docs/decisions/0005-names.md): a stack that still uses the old
 * spelling gets one line naming the new one from the real `check-config` command and from the
 * program, never a stack trace, and is never let through with the setting ignored.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { validateConfig } from "../../stacks/config/validate";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";

const ROOT = path.resolve(__dirname, "../..");

function checkConfig(text: string): { status: number | null; stderr: string; problems: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "renamed-"));
  const file = path.join(dir, "Pulumi.old.yaml");
  fs.writeFileSync(file, text);
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "scripts", "check-config.ts"), file],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    status: r.status,
    stderr: r.stderr,
    problems: r.stderr.split("\n").filter((l) => l.startsWith("  - ")),
  };
}

/** A shipped stack file with one piece replaced (the replaced text must be there). */
function shipped(stack: string, from: string, to: string): string {
  const text = fs.readFileSync(stackFile(stack), "utf8");
  expect(text).toContain(from);
  return text.replace(from, to);
}

const CASES: [string, string, string, string, string][] = [
  [
    "the EKS settings under their old key sovereign:cluster",
    "aws-prod",
    "  sovereign:eks:\n",
    "  sovereign:cluster:\n",
    '  - sovereign:cluster: was renamed to "sovereign:eks" (same settings); rename the key',
  ],
  [
    "the old substrate kind `cluster`",
    "local",
    "    kind: existing-cluster\n",
    "    kind: cluster\n",
    '  - sovereign:substrate.kind: "cluster" was renamed to "existing-cluster" (same substrate, same settings); change the value',
  ],
  [
    "both the old and the new key",
    "aws-dev",
    "  sovereign:eks:\n",
    '  sovereign:cluster: { version: "1.33" }\n  sovereign:eks:\n',
    '  - sovereign:cluster: was renamed to "sovereign:eks", which is set too; move its settings there and delete this key',
  ],
];

describe("renamed settings through check-config", () => {
  it.each(CASES)(
    "GIVEN %s WHEN checked THEN one line names the new spelling",
    (_what, stack, from, to, line) => {
      const r = checkConfig(shipped(stack, from, to));
      expect(r.status).toBe(1);
      expect(r.problems).toEqual([line]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    },
  );

  it("GIVEN the shipped stacks as they are THEN they validate (the cases above differ only in the old spelling)", () => {
    for (const stack of ["local", "aws-dev", "aws-prod"]) {
      const { raw, secretKeys } = rawFromStackFile(stackFile(stack));
      expect(validateConfig(raw, { secretKeys })).toMatchObject({ ok: true });
    }
  });
});

describe("renamed settings through the program", () => {
  it("GIVEN sovereign:cluster WHEN the program runs THEN it fails with the rename line and registers nothing", async () => {
    const flat = pulumiConfigFromFile(stackFile("aws-dev"));
    flat.config["sovereign:cluster"] = flat.config["sovereign:eks"];
    delete flat.config["sovereign:eks"];
    const run = await runProgram("aws-dev", flat);
    expect(run.error).toBeInstanceOf(pulumi.RunError);
    expect((run.error as Error).message).toContain('sovereign:cluster: was renamed to "sovereign:eks"');
    expect(run.recorder.resources).toEqual([]);
  });
});
