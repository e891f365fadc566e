/**
 * Deadlines (issue 15): the guard timeout, OPA's evaluation budget and the gateway's decision
 * deadline agree. The config rule rejects a longest decision above MAX_OPA_DEADLINE_MS, and at
 * the seam the gateway as each shipped stack deploys it (its container environment) gets a
 * deadline that covers the guard timeout of the OPA data document the same stack deploys.
 */
import { describe, expect, it } from "vitest";
import { MAX_OPA_DEADLINE_MS, OPA_EVALUATION_BUDGET_MS, opaDeadlineMs } from "../../components/lib/deadlines";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { validateConfig } from "../../stacks/config/validate";
import { wireGateway } from "../../stacks/wiring/gateway";
import { opaDataOf } from "../../stacks/wiring/policy";
import { fakeSubstrate } from "../helpers/fake-substrate";
import { installMocks, settle } from "../helpers/mocks";

function raw(stack: string, edit: (r: Record<string, Record<string, unknown>>) => void = () => {}) {
  const r = rawFromStackFile(stackFile(stack));
  const copy = structuredClone(r.raw) as Record<string, Record<string, unknown>>;
  edit(copy);
  return { raw: copy, secretKeys: r.secretKeys };
}

function issuesOf(r: ReturnType<typeof raw>) {
  const v = validateConfig(r.raw, { secretKeys: r.secretKeys });
  return v.ok ? [] : v.issues;
}

describe("opaDeadlineMs", () => {
  it("GIVEN a guard timeout WHEN the deadline is derived THEN it exceeds the guard timeout by the evaluation budget and the text allowance", () => {
    expect(opaDeadlineMs(2000)).toBe(2000 + OPA_EVALUATION_BUDGET_MS);
    expect(opaDeadlineMs(undefined)).toBe(OPA_EVALUATION_BUDGET_MS);
    expect(opaDeadlineMs(2000, { evaluationMs: 100, textBytes: 1024 * 1024, msPerMiB: 400 })).toBe(2500);
    expect(opaDeadlineMs(2000, { textBytes: 1 })).toBeGreaterThan(opaDeadlineMs(2000));
  });
});

describe("the config rule on decision deadlines", () => {
  it("GIVEN each shipped stack WHEN validated THEN its deadlines are consistent", () => {
    for (const stack of shippedStacks()) expect(issuesOf(raw(stack)), stack).toEqual([]);
  });

  it("GIVEN a guard timeout of 20 s WHEN validated THEN policy.guardTimeoutMs is rejected with the sum spelt out", () => {
    const issues = issuesOf(
      raw("aws-prod", (r) => {
        r.policy.guardTimeoutMs = 20_000;
      }),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe("sovereign:policy.guardTimeoutMs");
    expect(issues[0].message).toContain(`at most ${MAX_OPA_DEADLINE_MS} ms`);
    expect(issues[0].message).toContain("guard timeout 20000 ms");
  });

  it("GIVEN a 12 MiB body limit WHEN validated THEN gateway.maxBodyBytes is rejected (the text allowance alone is too long)", () => {
    const issues = issuesOf(
      raw("aws-prod", (r) => {
        r.gateway.maxBodyBytes = 12 * 1024 * 1024;
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(["sovereign:gateway.maxBodyBytes"]);
  });

  it("GIVEN the longest decision exactly at the bound WHEN validated THEN it passes, and 1 ms more fails", () => {
    const at = (guardTimeoutMs: number) =>
      issuesOf(
        raw("aws-prod", (r) => {
          r.policy.guardTimeoutMs = guardTimeoutMs;
          r.gateway.opaTimeoutMs = 250;
          r.gateway.maxBodyBytes = 1024 * 1024;
        }),
      );
    const fits = MAX_OPA_DEADLINE_MS - opaDeadlineMs(0, { evaluationMs: 250, textBytes: 1024 * 1024 });
    expect(at(fits)).toEqual([]);
    expect(at(fits + 1).map((i) => i.path)).toEqual(["sovereign:policy.guardTimeoutMs"]);
  });

  it("GIVEN no guard model WHEN a long guard timeout is set THEN it does not count (no guard is called)", () => {
    const issues = issuesOf(
      raw("aws-prod", (r) => {
        delete r.policy.guardModel;
        r.policy.guardTimeoutMs = 60_000;
      }),
    );
    expect(issues).toEqual([]);
  });
});

describe("the gateway's deadline covers the guard timeout of the deployed policy data (seam)", () => {
  const recorder = installMocks();
  for (const stack of shippedStacks()) {
    it(`GIVEN the ${stack} stack WHEN the gateway and the OPA data are built THEN the gateway's decision deadline exceeds the guard timeout`, async () => {
      const r = raw(stack);
      const v = validateConfig(r.raw, { secretKeys: r.secretKeys });
      if (!v.ok) throw new Error(JSON.stringify(v.issues));
      const config = v.config;
      const before = recorder.resources.length;
      wireGateway(config, { stack }, fakeSubstrate());
      await settle();
      const dep = recorder.resources
        .slice(before)
        .find((x) => x.type === "kubernetes:apps/v1:Deployment" && x.name.startsWith("gateway"))!;
      const env = Object.fromEntries(
        (dep.inputs.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [
          e.name,
          e.value,
        ]),
      );
      const data = opaDataOf(config);
      const gatewayGuard =
        env.GATEWAY_GUARD_TIMEOUT_MS === undefined ? undefined : Number(env.GATEWAY_GUARD_TIMEOUT_MS);
      // The gateway knows the guard timeout the policy will use ...
      expect(gatewayGuard).toBe(data.guard.enabled ? data.guard.timeoutMs : undefined);
      // ... so its deadline (the shared relation) outlasts a guard that answers just in time.
      const deadline = opaDeadlineMs(gatewayGuard, { evaluationMs: Number(env.GATEWAY_OPA_TIMEOUT_MS) });
      if (data.guard.enabled) expect(deadline).toBeGreaterThan(data.guard.timeoutMs);
      expect(deadline).toBeLessThanOrEqual(MAX_OPA_DEADLINE_MS);
    });
  }
});
