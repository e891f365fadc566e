import { describe, expect, it } from "vitest";
import { localInvocation } from "../scripts/local";

describe("local deploy scripts", () => {
  it("GIVEN up WHEN computed THEN it uses a file backend under the repo and the local stack", () => {
    const inv = localInvocation("up", "/repo", {});
    expect(inv.env.PULUMI_BACKEND_URL).toBe("file:///repo/.pulumi-state");
    expect(inv.env.PULUMI_CONFIG_PASSPHRASE).toBe("");
    expect(inv.steps.map((s) => [s.cmd, ...s.args].join(" "))).toEqual([
      "mkdir -p /repo/.pulumi-state",
      "pulumi stack select local --create --cwd /repo",
      "pulumi up --yes --stack local --cwd /repo",
    ]);
  });

  it("GIVEN down with a custom state dir and passphrase WHEN computed THEN both are honoured", () => {
    const inv = localInvocation("down", "/repo", {
      SOVEREIGN_STATE_DIR: "/state",
      PULUMI_CONFIG_PASSPHRASE: "pw",
    });
    expect(inv.env.PULUMI_BACKEND_URL).toBe("file:///state");
    expect(inv.env.PULUMI_CONFIG_PASSPHRASE).toBe("pw");
    expect(inv.steps[2].args.slice(0, 2)).toEqual(["destroy", "--yes"]);
  });
});
