/**
 * The per-team flywheel block (`teams[].flywheel`): defaults, and every mistake reported with
 * its path instead of a stack trace.
 */
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig, validateConfig } from "../../stacks/config/validate";
import { withFlywheelCapacity } from "../helpers/flywheel-stack";

type Raw = Record<string, any>;

function local(flywheel: unknown, team: Raw = {}): Raw {
  const raw = structuredClone(rawFromStackFile(stackFile("local")).raw) as Raw;
  // The loop runs through Kueue on a training pool: the local stack ships with training off.
  withFlywheelCapacity(raw);
  Object.assign(raw.teams[0], team, { flywheel });
  return raw;
}

function issues(raw: Raw): string[] {
  const r = validateConfig(raw);
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

const ON = { enabled: true, baseModel: "tiny-chat", adapter: "demo-assistant" };

describe("flywheel config", () => {
  it("GIVEN an enabled block with only the required keys WHEN parsed THEN the documented defaults apply", () => {
    const raw = local(ON, { allowedModels: ["tiny-chat", "demo-assistant"] });
    expect(issues(raw)).toEqual([]);
    const fw = parseConfig(raw).teams[0].flywheel!;
    expect(fw).toEqual({
      ...ON,
      schedule: "0 3 * * *",
      minNewRecords: 1000,
      quantize: "none",
      gpus: 1,
      gate: { maxPerplexityRegression: 0.05, minExactMatchGain: 0, maxGuardFlagRateIncrease: 0 },
      canary: {
        share: 0.1,
        windowMinutes: 60,
        minRequests: 100,
        maxErrorRate: 0.02,
        maxLatencyRatio: 1.5,
        maxGuardFlagRate: 0.01,
      },
      retentionDays: {},
    });
  });

  it("GIVEN an enabled flywheel without the training layer WHEN validated THEN the error names training.enabled", () => {
    const raw = local(ON, { allowedModels: ["tiny-chat", "demo-assistant"] });
    raw.training.enabled = false;
    expect(issues(raw)).toEqual([
      "sovereign:teams[0].flywheel.enabled: expected sovereign:training.enabled: true for an enabled flywheel (its CronJob runs through the team's Kueue queue), found false",
    ]);
  });

  it("GIVEN an enabled flywheel without a training pool, or with a GPU quota below its gpus, WHEN validated THEN the error names the path", () => {
    const noPool = local(ON, { allowedModels: ["tiny-chat", "demo-assistant"] });
    noPool.gpuPools = [];
    noPool.teams[0].gpuQuota = { nominal: 0, borrowingLimit: 0 };
    expect(issues(noPool)).toEqual([
      'sovereign:teams[0].flywheel.enabled: expected a gpuPools entry with purpose "training" for an enabled flywheel (its chain runs on the training pool), found none',
    ]);
    const small = local({ ...ON, gpus: 2 }, { allowedModels: ["tiny-chat", "demo-assistant"] });
    small.teams[0].gpuQuota = { nominal: 1, borrowingLimit: 0 };
    expect(issues(small)).toEqual([
      "sovereign:teams[0].gpuQuota: expected nominal + borrowingLimit >= 2 (teams[0].flywheel.gpus) for an enabled flywheel, found 1",
    ]);
    small.teams[0].gpuQuota = { nominal: 1, borrowingLimit: 1 };
    expect(issues(small)).toEqual([]);
    expect(issues(local({ ...ON, gpus: 9 }, { allowedModels: ["tiny-chat", "demo-assistant"] }))).toEqual([
      expect.stringMatching(/^sovereign:teams\[0\]\.flywheel\.gpus: /),
    ]);
  });

  it("GIVEN every kind of flywheel schema mistake WHEN validated THEN one report names each path", () => {
    const got = issues(
      local({
        enabled: true,
        baseModel: "tiny-chat",
        adapter: "support-lora",
        schedule: "every night",
        canary: { share: 0.9, maxLatencyRatio: 0.5 },
        gate: { maxPerplexityRegression: -1, minWinrate: 0.5 },
        retentionDays: { captures: 0 },
      }),
    );
    const at = (p: string) => got.filter((g) => g.startsWith(`sovereign:teams[0].${p}:`));
    expect(at("flywheel.schedule")[0]).toMatch(/five-field cron schedule/);
    expect(at("flywheel.canary.share")).toHaveLength(1);
    expect(at("flywheel.canary.maxLatencyRatio")).toHaveLength(1);
    expect(at("flywheel.gate.maxPerplexityRegression")).toHaveLength(1);
    expect(got.join("\n")).toMatch(/flywheel\.gate.*minWinrate.*minWinRate/s);
    expect(at("flywheel.retentionDays.captures")).toHaveLength(1);
  });

  it("GIVEN every kind of flywheel cross-field mistake WHEN validated THEN one report names each path", () => {
    // Cross-field rules run on the parsed config (stacks/config/validate.ts), so this flywheel
    // block is schema-valid and wrong only in how it relates to the rest of the config.
    const got = issues(local({ ...ON, adapter: "tiny-guard" }, { allowCapture: false }));
    const at = (p: string) => got.filter((g) => g.startsWith(`sovereign:teams[0].${p}:`));
    expect(at("flywheel.enabled")[0]).toMatch(/expected teams\[0\]\.allowCapture: true .* found false/);
    expect(at("flywheel.adapter")[0]).toMatch(/no model or configured adapter uses, found "tiny-guard"/);
    expect(at("allowedModels")[0]).toMatch(/adapter "tiny-guard" among the team's allowedModels/);
  });

  it("GIVEN a base model that is missing or not a chat model WHEN validated THEN the error names it", () => {
    expect(issues(local({ ...ON, baseModel: "nope" }, { allowedModels: ["demo-assistant"] }))).toEqual([
      'sovereign:teams[0].flywheel.baseModel: expected the name of a model in sovereign:models, found "nope"',
    ]);
    const raw = local({ ...ON, baseModel: "tiny-guard" }, { allowedModels: ["demo-assistant"] });
    expect(issues(raw)).toEqual([
      'sovereign:teams[0].flywheel.baseModel: expected a chat model (adapters are trained on chat models), found "tiny-guard" with role "guard"',
    ]);
  });

  it("GIVEN a disabled block WHEN validated THEN capture and allowedModels are not required", () => {
    expect(issues(local({ ...ON, enabled: false }, { allowCapture: false }))).toEqual([]);
  });
});
