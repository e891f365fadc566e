/**
 * The Rego policies under the REAL pinned OPA: strict check, formatting, `opa test` with the
 * guard mocked, and coverage of the policy files.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CLASSIFICATIONS } from "../../components/lib/classification";
import { AUTHZ_REASONS, DATA_ACCESS_REASONS } from "../../components/lib/contracts";
import { shippedStacks } from "../../stacks/config/load";
import { POLICY_DIRS, REGO_TEST_DIRS, REPO, closedPort, loadStackConfig, opa, opaDataForTest } from "./opa";
import { resolveSettings } from "../../stacks/config/settings";

const ALL = [...POLICY_DIRS, ...REGO_TEST_DIRS];

interface CoverageReport {
  files: Record<string, { covered_lines?: number; not_covered_lines?: number }>;
  coverage: number;
}

/** Reason ids a Rego file can emit: `... contains "<id>" if` and `{"<id>"}` fallbacks. */
function reasonIdsIn(file: string): string[] {
  const src = fs.readFileSync(path.join(REPO, file), "utf8");
  const ids = new Set<string>();
  for (const m of src.matchAll(/^(?:rigid_reasons|guard_reasons|denials) contains "([a-z_]+)"/gm))
    ids.add(m[1]);
  for (const m of src.matchAll(/else := \{"([a-z_]+)"\}/g)) ids.add(m[1]);
  return [...ids].sort();
}

describe("Rego policies (real OPA)", () => {
  it("GIVEN the policies and their tests WHEN checked in strict mode THEN OPA reports no error", () => {
    const r = opa(["check", "--strict", ...ALL]);
    expect(r.stderr + r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  it("GIVEN the policies and their tests WHEN `opa fmt --list` runs THEN no file needs formatting", () => {
    const r = opa(["fmt", "--list", ...ALL]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("");
  });

  it("GIVEN the Rego tests WHEN `opa test` runs THEN every test passes", () => {
    const r = opa(["test", "--format=json", ...ALL]);
    const results = JSON.parse(r.stdout) as {
      package: string;
      name: string;
      fail?: boolean;
      error?: unknown;
    }[];
    const failed = results.filter((t) => t.fail || t.error).map((t) => `${t.package}.${t.name}`);
    expect(failed).toEqual([]);
    expect(r.status).toBe(0);
    // Both policies are exercised, with a realistic number of cases each.
    expect(results.filter((t) => t.package === "data.sovereign_test.authz").length).toBeGreaterThanOrEqual(
      30,
    );
    expect(
      results.filter((t) => t.package === "data.sovereign_test.data_access").length,
    ).toBeGreaterThanOrEqual(10);
  });

  it("GIVEN the Rego tests WHEN run with --coverage THEN each policy file is covered at least 90%", () => {
    const r = opa(["test", "--coverage", "--format=json", ...ALL]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as CoverageReport;
    expect(report.coverage).toBeGreaterThanOrEqual(90);
    const policyFiles = Object.keys(report.files).filter((f) => f.startsWith("policies/"));
    expect(policyFiles.sort()).toEqual(["policies/authz/authz.rego", "policies/data/data_access.rego"]);
    for (const f of policyFiles) {
      const { covered_lines = 0, not_covered_lines = 0 } = report.files[f];
      const pct = (100 * covered_lines) / (covered_lines + not_covered_lines);
      expect(pct, f).toBeGreaterThanOrEqual(90);
    }
  });

  it("GIVEN the policies WHEN their classification ranks are evaluated THEN they follow components/lib/classification.ts", () => {
    for (const pkg of ["authz", "data_access"]) {
      const r = opa([
        "eval",
        "--format=json",
        ...POLICY_DIRS.flatMap((d) => ["-d", d]),
        `data.sovereign.${pkg}.classification_rank`,
      ]);
      expect(r.status, r.stderr).toBe(0);
      const ranks = (
        JSON.parse(r.stdout) as { result: { expressions: { value: Record<string, number> }[] }[] }
      ).result[0].expressions[0].value;
      expect(Object.keys(ranks).sort((a, b) => ranks[a] - ranks[b])).toEqual([...CLASSIFICATIONS]);
      expect(Object.values(ranks).sort()).toEqual(CLASSIFICATIONS.map((_, i) => i));
    }
  });

  it("GIVEN the reason ids in the Rego WHEN compared with the contract and the docs THEN all three agree", () => {
    expect(reasonIdsIn("policies/authz/authz.rego")).toEqual([...AUTHZ_REASONS].sort());
    expect(reasonIdsIn("policies/data/data_access.rego")).toEqual([...DATA_ACCESS_REASONS].sort());
    const doc = fs.readFileSync(path.join(REPO, "docs/authorization.md"), "utf8");
    for (const id of new Set([...AUTHZ_REASONS, ...DATA_ACCESS_REASONS]))
      expect(doc, id).toContain(`\`${id}\``);
  });
});

describe("opa eval with each shipped stack's data document", () => {
  for (const stack of shippedStacks()) {
    it(`GIVEN the ${stack} data and an unreachable guard WHEN opa eval decides a member's chat request THEN the stack's fail-closed setting decides`, async () => {
      const config = loadStackConfig(stack);
      const base = opaDataForTest(config);
      const port = await closedPort();
      const data = {
        sovereign: { ...base, guard: { ...base.guard, url: `http://127.0.0.1:${port}/v1/chat/completions` } },
      };
      const team = config.teams[0];
      const model = team.allowedModels.find((m) => base.models[m]?.role === "chat")!;
      const input = {
        subject: { sub: "u-1", groups: [team.oidcGroup], team: team.name },
        request: {
          model,
          endpoint: "/v1/chat/completions",
          messages: [{ role: "user", content: "hi" }],
          estimatedTokens: 10,
        },
        context: {
          time: "2026-11-30T10:00:00Z",
          clientAddress: "10.0.0.1",
          usage: { tokensToday: 0, requestsThisMinute: 0 },
        },
      };
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-eval-"));
      try {
        fs.writeFileSync(path.join(dir, "data.json"), JSON.stringify(data));
        fs.writeFileSync(path.join(dir, "input.json"), JSON.stringify(input));
        const r = opa([
          "eval",
          "--format=json",
          "-d",
          "policies/authz",
          "-d",
          path.join(dir, "data.json"),
          "-i",
          path.join(dir, "input.json"),
          "data.sovereign.authz.decision",
        ]);
        expect(r.status, r.stderr).toBe(0);
        const decision = (JSON.parse(r.stdout) as { result: { expressions: { value: unknown }[] }[] })
          .result[0].expressions[0].value;
        const failClosed = resolveSettings(config).guard.failClosed;
        expect(decision).toEqual({
          allow: !failClosed,
          reasons: failClosed ? ["guard_unavailable"] : [],
          obligations: { capture: !failClosed && team.allowCapture, redact: config.gateway.redactPatterns },
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
