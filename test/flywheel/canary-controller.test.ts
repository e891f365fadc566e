/**
 * The canary controller against a server implementing vLLM's runtime LoRA endpoints, with the
 * official `openai` client sending the traffic: a candidate is loaded without a restart, the
 * split sends a measurable share of requests for the stable adapter name to it, clean traffic
 * promotes it, and a candidate whose canary errors is rolled back and unloaded automatically.
 * NOT through the real gateway: the split is the pure function the gateway hook will call
 * (gateway/src/flywheel/split.ts); docs/flywheel.md says what remains.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  initialState,
  run,
  step,
  type CanaryLimits,
  type CanaryState,
} from "../../components/lib/flywheel-canary";
import { loadAdapter, loadedAdapters, loadEverywhere, unloadAdapter } from "../../gateway/src/flywheel/lora";
import { bucketOf, routeModel, routesFromServing, servedName } from "../../gateway/src/flywheel/split";
import { startFakeVllm, type FakeVllm } from "./fake-vllm";

let vllm: FakeVllm;
let locked: FakeVllm;
beforeAll(async () => {
  vllm = await startFakeVllm("tiny-chat", true);
  locked = await startFakeVllm("tiny-chat", false);
});
afterAll(async () => {
  await vllm?.close();
  await locked?.close();
});

const LIMITS: CanaryLimits = {
  share: 0.25,
  windowMinutes: 10,
  minRequests: 100,
  maxErrorRate: 0.02,
  maxLatencyRatio: 2,
  maxGuardFlagRate: 0.05,
};

/** Sends n chats for the stable name through the split; returns per-version counts. */
async function traffic(routes: ReturnType<typeof routesFromServing>, n: number, seed: string) {
  const client = new OpenAI({ baseURL: `${vllm.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const counts: Record<string, { requests: number; errors: number }> = {};
  for (let i = 0; i < n; i++) {
    const r = routeModel(routes, "support", `${seed}-${i}`);
    const c = (counts[r.version!] ??= { requests: 0, errors: 0 });
    c.requests++;
    try {
      const res = await client.chat.completions.create({
        model: r.model,
        messages: [{ role: "user", content: "hi" }],
      });
      expect(res.choices[0].message.content).toBe(`served by ${r.model}`);
    } catch (e) {
      expect((e as { status?: number }).status).toBe(500);
      c.errors++;
    }
  }
  return counts;
}

describe("canary controller with vLLM runtime LoRA loading", () => {
  it("GIVEN a promoted v1 WHEN v2 is loaded at runtime and canaried THEN about its share reaches it and clean traffic promotes it", async () => {
    await loadEverywhere([vllm.url], servedName("support", "v1"), "/adapters/support/v1");
    expect(await loadAdapter(vllm.url, servedName("support", "v1"), "/adapters/support/v1")).toBe("present");
    await loadEverywhere([vllm.url], servedName("support", "v2"), "/adapters/support/v2");
    expect(await loadedAdapters(vllm.url)).toEqual(["support--v1", "support--v2"]);

    let v2: CanaryState = step(initialState("v2"), { kind: "start", at: 0 }, LIMITS).state;
    const routes = routesFromServing([
      { adapter: "support", version: "v1", phase: "promoted", share: 1 },
      { adapter: "support", version: "v2", phase: "canary", share: v2.phase === "canary" ? v2.share : 0 },
    ]);
    const n = 800;
    const counts = await traffic(routes, n, "a");
    // 0.25 of 800 = 200; 4.5 standard deviations (about 55) either side
    expect(counts.v2.requests).toBeGreaterThan(145);
    expect(counts.v2.requests).toBeLessThan(255);
    expect(counts.v1.requests + counts.v2.requests).toBe(n);
    v2 = run(
      v2,
      [
        {
          kind: "observe",
          at: 10 * 60_000,
          requests: counts.v2.requests,
          errors: counts.v2.errors,
          guardFlags: 0,
        },
      ],
      LIMITS,
    ).state;
    expect(v2.phase).toBe("promoted");
    // the previous version leaves the server once the new one is promoted
    expect(await unloadAdapter(vllm.url, servedName("support", "v1"))).toBe("unloaded");
    expect(await unloadAdapter(vllm.url, servedName("support", "v1"))).toBe("absent");
  }, 120_000);

  it("GIVEN a candidate whose canary errors WHEN observed THEN it is rolled back, unloaded and gets no more traffic", async () => {
    await loadEverywhere([vllm.url], servedName("support", "v3"), "/adapters/support/v3");
    vllm.failing.add("support--v3");
    let v3: CanaryState = step(initialState("v3"), { kind: "start", at: 0 }, LIMITS).state;
    const canaryRoutes = routesFromServing([
      { adapter: "support", version: "v2", phase: "promoted", share: 1 },
      { adapter: "support", version: "v3", phase: "canary", share: 0.25 },
    ]);
    const counts = await traffic(canaryRoutes, 200, "b");
    expect(counts.v3.errors).toBe(counts.v3.requests);
    const s = step(
      v3,
      { kind: "observe", at: 60_000, requests: counts.v3.requests, errors: counts.v3.errors, guardFlags: 0 },
      LIMITS,
    );
    v3 = s.state;
    expect(v3).toMatchObject({ phase: "rolled_back", reason: "error_rate" });
    expect(s.audit).toEqual([
      expect.objectContaining({ from: "canary", to: "rolled_back", reason: "error_rate" }),
    ]);
    await unloadAdapter(vllm.url, servedName("support", "v3"));
    const after = routesFromServing([{ adapter: "support", version: "v2", phase: "promoted", share: 1 }]);
    const again = await traffic(after, 100, "c");
    expect(Object.keys(again)).toEqual(["v2"]);
    expect(again.v2.errors).toBe(0);
  }, 120_000);

  it("GIVEN a server without runtime LoRA updating WHEN the controller loads THEN it fails naming the replica", async () => {
    await expect(loadEverywhere([locked.url], "support--v9", "/adapters/support/v9")).rejects.toThrow(
      new RegExp(
        `not loaded on 1 replica\\(s\\):\\n  ${locked.url.replace(/\./g, "\\.")}: loading support--v9 .* failed \\(404\\)`,
      ),
    );
  });

  it("GIVEN request ids WHEN bucketed THEN the split is stable per id and routes unknown models unchanged", () => {
    expect(bucketOf("req-1")).toBe(bucketOf("req-1"));
    const routes = { support: { stable: "v1", canary: { version: "v2", share: 0.5 } } };
    expect(routeModel(routes, "tiny-chat", "x")).toEqual({ model: "tiny-chat", canary: false });
    expect(routeModel(routes, "toString", "x")).toEqual({ model: "toString", canary: false });
    const ids = Array.from({ length: 1000 }, (_, i) => `id-${i}`);
    const first = ids.map((id) => routeModel(routes, "support", id).model);
    expect(ids.map((id) => routeModel(routes, "support", id).model)).toEqual(first);
  });

  it("GIVEN an adapter's first version in its canary (nothing promoted) WHEN routed THEN its share goes to it and the rest keeps the stable name", () => {
    const routes = routesFromServing([{ adapter: "support", version: "v1", phase: "canary", share: 0.3 }]);
    const ids = Array.from({ length: 1000 }, (_, i) => `first-${i}`);
    const chosen = ids.map((id) => routeModel(routes, "support", id));
    const toCanary = chosen.filter((c) => c.canary);
    expect(toCanary.every((c) => c.model === "support--v1" && c.version === "v1")).toBe(true);
    expect(
      chosen.filter((c) => !c.canary).every((c) => c.model === "support" && c.version === undefined),
    ).toBe(true);
    // 0.3 of 1000 = 300; five standard deviations (about 72) either side
    expect(toCanary.length).toBeGreaterThan(228);
    expect(toCanary.length).toBeLessThan(372);
  });
});
