import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readRegoFiles } from "../../stacks/wiring/policy";

describe("policy files read by the stack", () => {
  it("GIVEN nested Rego, tests and other files WHEN read THEN only non-test .rego files of the listed folders come back, by relative path", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "policies-"));
    const write = (p: string, c: string) => {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), c);
    };
    write("authz/decision.rego", "package a");
    write("authz/decision_test.rego", "package a_test");
    write("authz/lib/util.rego", "package a.lib");
    write("data/teams.rego", "package d");
    write("data/notes.md", "# no");
    write("admission/x.rego", "package x");
    expect(readRegoFiles(root, ["authz", "data", "missing"])).toEqual({
      "authz/decision.rego": "package a",
      "authz/lib/util.rego": "package a.lib",
      "data/teams.rego": "package d",
    });
  });
});
