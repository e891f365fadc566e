/**
 * Routing across replicas, as pure functions: the choice (balance.ts), outlier detection
 * (outlier.ts) and EndpointSlice reading (discovery.ts), with property tests (fast-check).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  candidates,
  loadBound,
  pick,
  prefixKey,
  rendezvousOrder,
  STRATEGIES,
  type ReplicaView,
} from "../src/routing/balance";
import { replicasOf, serviceOf, slicesPath, type EndpointSlice } from "../src/routing/discovery";
import { ejectionMs, HEALTHY, isEjected, record, type OutlierOptions } from "../src/routing/outlier";
import { Router, sendRouted } from "../src/routing/router";
import { ConfigError, loadConfig } from "../src/config";

const idArb = fc.integer({ min: 0, max: 40 }).map((n) => `http://10.0.0.${n}:8000`);
const replicaArb: fc.Arbitrary<ReplicaView> = fc.record({
  id: idArb,
  outstanding: fc.integer({ min: 0, max: 50 }),
  ejected: fc.boolean(),
  adapters: fc.option(
    fc.subarray(["a--v1", "a--v2", "b--v1"]).map((x) => new Set(x)),
    { nil: undefined },
  ),
});
const replicasArb = fc.uniqueArray(replicaArb, { minLength: 1, maxLength: 8, selector: (r) => r.id });
const reqArb = fc.record({
  key: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  model: fc.option(fc.constantFrom("a--v1", "a--v2", "b--v1", "base"), { nil: undefined }),
});
const strategyArb = fc.constantFrom(...STRATEGIES);
const optsArb = fc.record({
  strategy: strategyArb,
  loadFactor: fc.double({ min: 1, max: 3, noNaN: true }),
  random: fc.double({ min: 0, max: 0.999999, noNaN: true }),
  sequence: fc.nat(),
});

describe("GIVEN the choice of a replica (balance.ts)", () => {
  it("WHEN any replicas and request THEN the choice is one of the candidates: not excluded, holding the adapter when one does, not ejected unless all are", () => {
    fc.assert(
      fc.property(replicasArb, reqArb, optsArb, fc.nat(), (replicas, req, o, ex) => {
        const exclude = new Set([replicas[ex % replicas.length].id]);
        const p = pick(replicas, { ...req, exclude }, o);
        const left = replicas.filter((r) => !exclude.has(r.id));
        if (!left.length) {
          expect(p).toBeUndefined();
          return;
        }
        expect(p).toBeDefined();
        const chosen = replicas.find((r) => r.id === p!.id)!;
        expect(exclude.has(chosen.id)).toBe(false);
        if (req.model && left.some((r) => r.adapters?.has(req.model!)))
          expect(chosen.adapters?.has(req.model)).toBe(true);
        const pool =
          req.model && left.some((r) => r.adapters?.has(req.model!))
            ? left.filter((r) => r.adapters?.has(req.model!))
            : left;
        if (pool.some((r) => !r.ejected)) expect(chosen.ejected).toBe(false);
        expect(candidates(replicas, { ...req, exclude }).map((r) => r.id)).toContain(chosen.id);
      }),
      { numRuns: 500 },
    );
  });

  it("WHEN prefix affinity chooses THEN the replica stays within the load bound, and is the key's first choice whenever that one is within it", () => {
    fc.assert(
      fc.property(
        replicasArb,
        fc.string({ maxLength: 12 }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        (replicas, key, c) => {
          const healthy = replicas.map((r) => ({ ...r, ejected: false, adapters: undefined }));
          const p = pick(healthy, { key }, { strategy: "prefix-affinity", loadFactor: c })!;
          const bound = loadBound(healthy, c);
          const chosen = healthy.find((r) => r.id === p.id)!;
          expect(chosen.outstanding + 1).toBeLessThanOrEqual(bound);
          const first = rendezvousOrder(key, healthy)[0];
          if (first.outstanding + 1 <= bound) expect(p).toEqual({ id: first.id, reason: "affinity" });
          else expect(p.reason).toBe("spill");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("WHEN a replica leaves THEN only the keys that chose it move (consistent hashing), and the same key on the same replicas always chooses the same one", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { minLength: 2, maxLength: 8 }),
        fc.array(fc.string({ maxLength: 10 }), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        (ids, keys, gone) => {
          const all = ids.map((id) => ({ id, outstanding: 0, ejected: false }));
          const leaving = ids[gone % ids.length];
          const rest = all.filter((r) => r.id !== leaving);
          for (const key of keys) {
            const before = pick(all, { key }, { strategy: "prefix-affinity" })!.id;
            expect(pick([...all].reverse(), { key }, { strategy: "prefix-affinity" })!.id).toBe(before);
            const after = pick(rest, { key }, { strategy: "prefix-affinity" })!.id;
            if (before !== leaving) expect(after).toBe(before);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("WHEN least load chooses THEN no candidate has fewer outstanding requests", () => {
    fc.assert(
      fc.property(replicasArb, reqArb, (replicas, req) => {
        const p = pick(replicas, req, { strategy: "least-load" })!;
        const c = candidates(replicas, req);
        const chosen = replicas.find((r) => r.id === p.id)!;
        expect(chosen.outstanding).toBe(Math.min(...c.map((r) => r.outstanding)));
      }),
      { numRuns: 300 },
    );
  });

  it("WHEN round robin runs n requests over n healthy replicas THEN each gets one", () => {
    fc.assert(
      fc.property(fc.uniqueArray(idArb, { minLength: 1, maxLength: 8 }), fc.nat(), (ids, start) => {
        const rs = ids.map((id) => ({ id, outstanding: 0, ejected: false }));
        const got = ids.map((_, i) => pick(rs, {}, { strategy: "round-robin", sequence: start + i })!.id);
        expect(new Set(got).size).toBe(ids.length);
      }),
    );
  });

  it("WHEN requests are keyed and loads are equal THEN keys spread over the replicas (no replica gets them all)", () => {
    const rs = [0, 1, 2, 3].map((i) => ({ id: `http://10.0.0.${i}:8000`, outstanding: 0, ejected: false }));
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const id = pick(rs, { key: `conversation-${i}` }, { strategy: "prefix-affinity" })!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.size).toBe(4);
    for (const n of counts.values()) expect(n).toBeGreaterThan(50);
  });
});

describe("GIVEN the prefix key of a request", () => {
  const system = { role: "system", content: "You are a support agent. ".repeat(40) };
  it("WHEN the turns of one conversation come THEN they share a key; another conversation with the same system prompt has another", () => {
    const turn1 = { model: "m", messages: [system, { role: "user", content: "my printer is on fire" }] };
    const turn2 = {
      model: "m",
      messages: [
        ...turn1.messages,
        { role: "assistant", content: "unplug it" },
        { role: "user", content: "done" },
      ],
    };
    const other = { model: "m", messages: [system, { role: "user", content: "reset my password" }] };
    const k1 = prefixKey("/v1/chat/completions", turn1);
    expect(k1).toBeDefined();
    expect(prefixKey("/v1/chat/completions", turn2)).toBe(k1);
    expect(prefixKey("/v1/chat/completions", other)).not.toBe(k1);
    // Another served model (an adapter version) has its own cache.
    expect(prefixKey("/v1/chat/completions", turn1, "m--v2")).not.toBe(k1);
  });

  it("WHEN completions share their first characters THEN they share a key; embeddings have none", () => {
    const head = "x".repeat(2048);
    expect(prefixKey("/v1/completions", { model: "m", prompt: `${head}a` })).toBe(
      prefixKey("/v1/completions", { model: "m", prompt: `${head}b` }),
    );
    expect(prefixKey("/v1/completions", { model: "m", prompt: "a" })).not.toBe(
      prefixKey("/v1/completions", { model: "m", prompt: "b" }),
    );
    expect(prefixKey("/v1/embeddings", { model: "m", input: "a" })).toBeUndefined();
  });
});

describe("GIVEN outlier detection (outlier.ts)", () => {
  const o: OutlierOptions = { consecutiveFailures: 3, baseEjectMs: 1000, maxEjectMs: 8000 };
  const outcomes = fc.array(fc.record({ ok: fc.boolean(), dt: fc.integer({ min: 0, max: 3000 }) }), {
    maxLength: 60,
  });

  it("WHEN any sequence of outcomes THEN a replica is ejected exactly when it failed `consecutiveFailures` times in a row while not ejected, for at most maxEjectMs, and is back after", () => {
    fc.assert(
      fc.property(outcomes, (seq) => {
        let s = HEALTHY;
        let t = 0;
        let run = 0;
        for (const { ok, dt } of seq) {
          t += dt;
          const wasEjected = isEjected(s, t);
          s = record(s, ok, t, o);
          if (wasEjected) continue;
          run = ok ? 0 : run + 1;
          if (run === o.consecutiveFailures) {
            expect(isEjected(s, t)).toBe(true);
            expect(s.ejectedUntil - t).toBeLessThanOrEqual(o.maxEjectMs);
            expect(isEjected(s, s.ejectedUntil)).toBe(false);
            run = 0;
          } else expect(isEjected(s, t)).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("WHEN a replica keeps failing after each ejection THEN each ejection doubles, up to the maximum; successes make it short again", () => {
    expect([0, 1, 2, 3, 4].map((n) => ejectionMs(n, o))).toEqual([1000, 2000, 4000, 8000, 8000]);
    let s = HEALTHY;
    let t = 0;
    const lengths: number[] = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 3; i++) s = record(s, false, t, o);
      lengths.push(s.ejectedUntil - t);
      t = s.ejectedUntil;
    }
    expect(lengths).toEqual([1000, 2000, 4000]);
    for (let i = 0; i < 5; i++) s = record(s, true, t, o);
    for (let i = 0; i < 3; i++) s = record(s, false, t, o);
    expect(s.ejectedUntil - t).toBe(1000);
  });
});

describe("GIVEN EndpointSlices (discovery.ts)", () => {
  // What the EndpointSlice controller writes for the chart's Service `model-tiny-chat` (port
  // `http` 8000 → container port `http`): one ready pod, one starting, one terminating.
  const recorded: EndpointSlice = {
    metadata: { name: "model-tiny-chat-x7k2p", resourceVersion: "4711" },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["10.244.1.7"], conditions: { ready: true, terminating: false } },
      { addresses: ["10.244.2.9"], conditions: { ready: false, terminating: false } },
      { addresses: ["10.244.3.4"], conditions: { ready: false, terminating: true } },
      { addresses: ["10.244.4.2"], conditions: {} },
    ],
    ports: [{ name: "http", port: 8000 }],
  };

  it("WHEN the route is the chart's Service URL THEN its service, namespace and port are read; other URLs are not discovered", () => {
    expect(serviceOf("http://model-tiny-chat.sovereign-serving.svc.cluster.local:8000")).toEqual({
      scheme: "http",
      service: "model-tiny-chat",
      namespace: "sovereign-serving",
      port: 8000,
    });
    expect(serviceOf("https://llm.example.com/v1")).toBeUndefined();
    expect(serviceOf("http://10.0.0.1:8000")).toBeUndefined();
  });

  it("WHEN slices list ready, starting and terminating endpoints THEN only ready (or unset) and not terminating ones are replicas", () => {
    const svc = serviceOf("http://model-tiny-chat.sovereign-serving.svc.cluster.local:8000")!;
    expect(replicasOf([recorded], svc)).toEqual(["http://10.244.1.7:8000", "http://10.244.4.2:8000"]);
    // A slice with two ports: the one named like the scheme.
    const two: EndpointSlice = {
      ...recorded,
      ports: [
        { name: "metrics", port: 9000 },
        { name: "http", port: 8001 },
      ],
    };
    expect(replicasOf([two], svc)).toEqual(["http://10.244.1.7:8001", "http://10.244.4.2:8001"]);
    expect(replicasOf([{ ...recorded, addressType: "FQDN" }], svc)).toEqual([]);
    expect(slicesPath(svc)).toBe(
      "/apis/discovery.k8s.io/v1/namespaces/sovereign-serving/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dmodel-tiny-chat",
    );
  });
});

describe("GIVEN the router's retry (router.ts)", () => {
  const route = "http://model-m.ns.svc.cluster.local:8000";
  const router = () => {
    const r = new Router({
      settings: {
        strategy: "least-load",
        loadFactor: 1.25,
        outlier: { consecutiveFailures: 1, baseEjectMs: 1000, maxEjectMs: 1000 },
        adapterPollMs: 0,
      },
      routes: [route],
      env: {},
    });
    r.setReplicas(route, ["http://a:1", "http://b:1"]);
    return r;
  };
  const badGateway = Object.assign(new Error("unreachable"), { status: 502 });

  it("WHEN the first replica fails before the answer started THEN the request is sent once more, to the other replica, and the failed one is ejected", async () => {
    const r = router();
    const seen: string[] = [];
    const out = await sendRouted(
      r,
      route,
      {},
      () => false,
      (base) => {
        seen.push(base);
        return seen.length === 1 ? Promise.reject(badGateway) : Promise.resolve("ok");
      },
    );
    expect(out).toBe("ok");
    expect(seen).toHaveLength(2);
    expect(seen[1]).not.toBe(seen[0]);
    expect(r.ejected(route, seen[0])).toBe(true);
  });

  it("WHEN the answer had started, or it timed out, or both fail THEN it is not sent again (or only once more)", async () => {
    for (const [err, started, calls] of [
      [badGateway, true, 1],
      [Object.assign(new Error("timeout"), { status: 504 }), false, 1],
      [badGateway, false, 2],
    ] as const) {
      const r = router();
      let n = 0;
      await expect(
        sendRouted(
          r,
          route,
          {},
          () => started,
          () => {
            n++;
            return Promise.reject(err);
          },
        ),
      ).rejects.toBe(err);
      expect(n).toBe(calls);
    }
  });

  it("WHEN the answer is a 5xx THEN it counts as the replica's failure; outstanding requests are released either way", async () => {
    const r = router();
    let base = "";
    await sendRouted(
      r,
      route,
      {},
      () => false,
      (b, report) => {
        base = b;
        report(503);
        return Promise.resolve();
      },
    );
    expect(r.ejected(route, base)).toBe(true);
    // Both released: least load now sees 0 and 0, and the healthy one is chosen.
    const lease = r.acquire(route, {})!;
    expect(lease.url).not.toBe(base);
    lease.end(true);
  });
});

describe("GIVEN the routing settings in the environment", () => {
  const env = {
    GATEWAY_OPA_URL: "http://opa:8181",
    GATEWAY_OIDC_ISSUER: "https://idp",
    GATEWAY_OIDC_AUDIENCE: "sovereign",
    GATEWAY_CATALOG: JSON.stringify({ teams: {}, models: {}, routes: {} }),
  };

  it("WHEN nothing is set THEN routing is on: prefix affinity, discovery from the in-cluster API", () => {
    const r = loadConfig(env).routing!;
    expect(r.strategy).toBe("prefix-affinity");
    expect(r.kubeApi).toBeUndefined();
    expect(
      new Router({ settings: r, routes: [], env: { KUBERNETES_SERVICE_HOST: "10.96.0.1" } }).api,
    ).toEqual({
      url: "https://10.96.0.1:443",
      tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
      caFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    });
  });

  it("WHEN a value is wrong THEN the error names the variable and quotes the value", () => {
    expect(() => loadConfig({ ...env, GATEWAY_ROUTING: "fastest", GATEWAY_ROUTING_EJECT_MS: "-1" })).toThrow(
      ConfigError,
    );
    try {
      loadConfig({ ...env, GATEWAY_ROUTING: "fastest", GATEWAY_ROUTING_EJECT_MS: "-1" });
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        'GATEWAY_ROUTING: expected one of prefix-affinity, least-load, round-robin, random, service, found "fastest"',
        'GATEWAY_ROUTING_EJECT_MS: expected an integer >= 1, found "-1"',
      ]);
    }
  });
});
