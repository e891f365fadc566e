/**
 * The profile is resolved once (`stacks/config/settings.ts`) into named settings. These tests
 * hold the settings that carry a promise: the guard always fails closed in prod, whatever the
 * config says, and the config rules and the wiring see the same resolved values.
 */
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import type { StackConfig } from "../../stacks/config/schema";
import { PROFILE_CHOICES, resolveSettings } from "../../stacks/config/settings";
import { parseConfig, validateConfig } from "../../stacks/config/validate";
import { gatewayReplicas } from "../../stacks/wiring/gateway";
import { opaDataOf } from "../../stacks/wiring/policy";

const raw = (stack: string): Record<string, any> =>
  structuredClone(rawFromStackFile(stackFile(stack)).raw) as Record<string, any>;
const parsed = (stack: string): StackConfig => parseConfig(raw(stack));
/** A parsed config edited after validation: what a caller that skips the rules could hand over. */
const withFailOpen = (c: StackConfig, failOpen: boolean): StackConfig => ({
  ...c,
  policy: { ...c.policy, guardFailOpen: failOpen },
});

describe("guard fail-closed is forced in prod", () => {
  it("GIVEN a prod config that asks to fail open (validation bypassed) WHEN resolved THEN the guard still fails closed, in the settings and in the OPA data the wiring builds", () => {
    const c = withFailOpen(parsed("aws-prod"), true);
    expect(resolveSettings(c).guard.failClosed).toBe(true);
    expect(opaDataOf(c).guard.failClosed).toBe(true);
  });

  it("GIVEN a dev config that asks to fail open WHEN resolved THEN it fails open (the setting is not a constant)", () => {
    const c = withFailOpen(parsed("aws-dev"), true);
    expect(resolveSettings(c).guard.failClosed).toBe(false);
    expect(opaDataOf(c).guard.failClosed).toBe(false);
    expect(opaDataOf(withFailOpen(c, false)).guard.failClosed).toBe(true);
  });

  it("GIVEN guardFailOpen: true in prod WHEN validated THEN it is a config error naming the key; in dev it is accepted", () => {
    const prod = raw("aws-prod");
    prod.policy.guardFailOpen = true;
    const r = validateConfig(prod);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.issues).toEqual([
      {
        path: "sovereign:policy.guardFailOpen",
        message:
          "expected false in prod (the guard always fails closed there; failing open is a dev option), found true",
      },
    ]);
    const dev = raw("aws-dev");
    dev.policy.guardFailOpen = true;
    expect(validateConfig(dev).ok).toBe(true);
  });
});

describe("resolved settings", () => {
  it("GIVEN each PROFILE_CHOICES entry WHEN only it takes its prod value THEN the resolved settings change (no dead entries)", () => {
    const c = { ...withFailOpen(parsed("aws-dev"), true), profile: "dev" as const };
    const before = JSON.stringify(resolveSettings(c));
    for (const key of Object.keys(PROFILE_CHOICES.dev) as (keyof typeof PROFILE_CHOICES.dev)[]) {
      const dev = PROFILE_CHOICES.dev as unknown as Record<string, unknown>;
      const original = dev[key];
      dev[key] = PROFILE_CHOICES.prod[key];
      try {
        expect(JSON.stringify(resolveSettings(c)), `PROFILE_CHOICES.*.${key} is never read`).not.toBe(before);
      } finally {
        dev[key] = original;
      }
    }
  });

  it("GIVEN the gateway section without replicas WHEN resolved THEN the wiring's bounds are the settings' (2..6 in prod, 1..3 in dev)", () => {
    expect(gatewayReplicas(parsed("aws-prod"))).toEqual(resolveSettings(parsed("aws-prod")).gateway.replicas);
    const prod = raw("aws-prod");
    delete prod.gateway.replicas;
    expect(resolveSettings(parseConfig(prod)).gateway.replicas).toEqual({ min: 2, max: 6 });
    const dev = raw("aws-dev");
    delete dev.gateway.replicas;
    expect(resolveSettings(parseConfig(dev)).gateway.replicas).toEqual({ min: 1, max: 3 });
  });

  it("GIVEN a prod config with one gateway replica WHEN validated THEN the rule (the component's predicate) rejects it; the component refuses it too", async () => {
    const prod = raw("aws-prod");
    prod.gateway.replicas = { min: 1 };
    const r = validateConfig(prod);
    expect(!r.ok && r.issues.map((i) => i.path)).toEqual(["sovereign:gateway.replicas.min"]);
    const { gatewayReplicasProblem } = await import("../../components/platform/gateway");
    expect(gatewayReplicasProblem({ min: 1, max: 3 }, true)?.message).toBe(!r.ok ? r.issues[0].message : "");
  });
});
