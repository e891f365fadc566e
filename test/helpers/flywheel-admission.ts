/**
 * The K8sFlywheelIdentity constraint's Rego (policies/admission/flywheelidentity.rego) evaluated
 * by the real pinned OPA, as Gatekeeper evaluates it: an admission review and the constraint's
 * parameters in, the violations' messages out.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { POLICIES_DIR } from "../../stacks/wiring/policy";
import { toolPath } from "./tools";

export function flywheelIdentityViolations(review: Record<string, unknown>, parameters: unknown): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fw-admission-"));
  try {
    const file = path.join(dir, "input.json");
    fs.writeFileSync(file, JSON.stringify({ review, parameters }));
    const r = spawnSync(
      toolPath("opa"),
      [
        "eval",
        "-f",
        "json",
        "-d",
        path.join(POLICIES_DIR, "admission"),
        "-i",
        file,
        "data.k8sflywheelidentity.violation",
      ],
      { encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout).result[0].expressions[0].value as { msg: string }[]).map((v) => v.msg);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
