/**
 * Routing across replicas through the running gateway: three replicas of the chat model server,
 * discovered from their EndpointSlices (a Kubernetes API double speaking the wire format), with
 * the real OIDC, OPA, PostgreSQL and object store of the World. Conversations keep their
 * replica; a replica that dies is ejected and its requests are retried elsewhere before the
 * client saw a byte; it gets requests again after its ejection; a replica that turns unready
 * leaves the set; without API access the gateway sends to the Service.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeKubeApi, sliceOf } from "./helpers/kube-api";
import { FakeUpstream } from "./helpers/upstream";
import { World } from "./helpers/world";
import { DEFAULT_ROUTING, Router } from "../src/routing/router";

const world = new World();
const kube = new FakeKubeApi();
const replicas = [new FakeUpstream(), new FakeUpstream(), new FakeUpstream()];
const NS = "sovereign-serving";
const SERVICE = "model-tiny-chat";
/** The chat model's route as the platform writes it: its Service, which does not resolve here. */
const ROUTE = `http://${SERVICE}.${NS}.svc.cluster.local:8000`;
const EJECT_MS = 300;

const portOf = (u: FakeUpstream) => Number(new URL(u.url).port);
/** One slice per replica (each listens on its own loopback port; a slice has one port list). */
function publish(ready: readonly boolean[] = replicas.map(() => true)): void {
  replicas.forEach((u, i) =>
    kube.put(NS, sliceOf(SERVICE, `${SERVICE}-${i}`, [{ address: "127.0.0.1", ready: ready[i] }], portOf(u))),
  );
}

let url = "";
let metricsUrl = "";
let router: Router;

beforeAll(async () => {
  await Promise.all([world.start(), kube.start(), ...replicas.map((u) => u.start())]);
  publish();
  const catalog = world.catalog();
  const g = await world.gateway({
    catalog: { ...catalog, routes: { ...catalog.routes, "tiny-chat": ROUTE } },
    routing: {
      ...DEFAULT_ROUTING,
      outlier: { consecutiveFailures: 2, baseEjectMs: EJECT_MS, maxEjectMs: EJECT_MS },
      adapterPollMs: 0,
      kubeApi: { url: kube.url },
    },
  });
  ({ url, metricsUrl } = g);
  router = g.gw.router;
  await world.until(() => router.replicas(ROUTE).length === 3, "three replicas discovered");
});
afterAll(async () => {
  await Promise.all([world.stop(), kube.stop(), ...replicas.map((u) => u.stop())]);
});

const system = { role: "system", content: "You answer questions about the fleet. ".repeat(30) };

async function ask(token: string, conversation: number, turn: number, stream = false): Promise<Response> {
  const messages: { role: string; content: string }[] = [
    system,
    { role: "user", content: `conv${conversation} turn0` },
  ];
  for (let t = 1; t <= turn; t++)
    messages.push(
      { role: "assistant", content: "ok" },
      { role: "user", content: `conv${conversation} turn${t}` },
    );
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny-chat", messages, stream }),
  });
}

/** Which replica received each turn of a conversation (by its last user message). */
function servedBy(conversation: number, turn: number): number[] {
  const mark = `conv${conversation} turn${turn}`;
  return replicas.flatMap((u, i) =>
    u.seen.some((s) => {
      const m = s.body.messages as { content: string }[];
      return m[m.length - 1]?.content === mark;
    })
      ? [i]
      : [],
  );
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("GIVEN a chat model served by three discovered replicas", () => {
  it("WHEN conversations of several turns come THEN every turn of a conversation reaches the same replica, and the conversations spread over the replicas", async () => {
    const token = await world.idp.token();
    const used = new Set<number>();
    for (let turn = 0; turn < 3; turn++)
      for (let c = 0; c < 12; c++) {
        const r = await ask(token, c, turn, c % 2 === 1);
        expect(r.status).toBe(200);
        await r.text();
      }
    for (let c = 0; c < 12; c++) {
      const where = [0, 1, 2].map((t) => servedBy(c, t));
      expect(where.every((w) => w.length === 1 && w[0] === where[0][0])).toBe(true);
      used.add(where[0][0]);
    }
    expect(used.size).toBeGreaterThan(1);
    // Nothing went to the Service URL (it does not resolve here): every request was routed.
    expect(await metric("sovereign_gateway_route_picks_total", 'reason="service"')).toBe(0);
  });

  it("WHEN a replica dies THEN every request still succeeds (retried once elsewhere before the first byte), the dead one is ejected, and after its ejection it gets requests again once back", async () => {
    const token = await world.idp.token();
    const dead = replicas[1];
    const deadPort = portOf(dead);
    await dead.stop();
    const before = dead.seen.length;
    // Conversations the dead replica held, and others.
    // The 12 conversations so far at their 4th turn, and 24 new ones (the dead replica held
    // about a third of them: enough for it to fail twice in a row and be ejected).
    for (let c = 0; c < 36; c++) {
      const r = await ask(token, c, 3, c % 2 === 0);
      expect(r.status).toBe(200);
      const text = await r.text();
      expect(text).toContain("word2");
    }
    expect(dead.seen.length).toBe(before);
    expect(await metric("sovereign_gateway_route_picks_total", 'reason="retry"')).toBeGreaterThan(0);
    expect(await metric("sovereign_gateway_route_ejections_total", `upstream="${ROUTE}"`)).toBeGreaterThan(0);
    // (Whether it is still ejected now depends on how long the loop took: EJECT_MS is short.)

    // Back on the same address: after the ejection it is tried again and serves.
    await dead.start(deadPort);
    await new Promise((r) => setTimeout(r, EJECT_MS + 50));
    let next = 100;
    await world.until(
      async () => {
        for (const end = next + 12; next < end; next++) await (await ask(token, next, 0)).text();
        return dead.seen.length > before;
      },
      "the recovered replica serving again",
      20,
    );
    expect(router.ejected(ROUTE, `http://127.0.0.1:${deadPort}`)).toBe(false);
  });

  it("WHEN a replica's endpoint turns unready THEN discovery drops it and it gets no more requests; ready again, it is back", async () => {
    const token = await world.idp.token();
    publish([true, true, false]);
    await world.until(() => router.replicas(ROUTE).length === 2, "the unready replica dropped");
    const before = replicas[2].seen.length;
    for (let c = 200; c < 215; c++) expect((await ask(token, c, 0)).status).toBe(200);
    expect(replicas[2].seen.length).toBe(before);
    publish();
    await world.until(() => router.replicas(ROUTE).length === 3, "the replica back");
    // Every request the discovery made carried no token here (the double takes none) and was a list or watch.
    expect(kube.seen.every((s) => s.method === "GET" && s.path.includes("/endpointslices?"))).toBe(true);
  });
});

describe("GIVEN discovery without access to the Kubernetes API", () => {
  it("WHEN the API refuses (no RBAC) THEN the route's only replica is its Service URL, and a later grant is picked up", async () => {
    const api = new FakeKubeApi();
    await api.start();
    api.forbid = true;
    const u = new FakeUpstream();
    await u.start();
    api.put(NS, sliceOf(SERVICE, `${SERVICE}-a`, [{ address: "127.0.0.1", ready: true }], portOf(u)));
    const r = new Router({
      settings: { ...DEFAULT_ROUTING, adapterPollMs: 0, kubeApi: { url: api.url }, discoveryRetryMs: 50 },
      routes: [ROUTE],
      env: {},
    });
    r.start();
    try {
      await world.until(() => api.seen.length > 0, "a list attempt");
      expect(r.replicas(ROUTE)).toEqual([ROUTE]);
      const lease = r.acquire(ROUTE, { key: "k" })!;
      expect(lease).toMatchObject({ url: ROUTE, reason: "service" });
      lease.end(true);
      api.forbid = false;
      await world.until(() => r.replicas(ROUTE)[0] === u.url, "the replica once discovery may list");
    } finally {
      r.stop();
      await Promise.all([api.stop(), u.stop()]);
    }
  });
});

describe("GIVEN replicas with different LoRA adapters loaded", () => {
  it("WHEN an adapter version is requested THEN it goes only to the replicas whose /v1/models lists it; the base model goes anywhere", async () => {
    const api = new FakeKubeApi();
    await api.start();
    // Two model servers as vLLM lists its models: the base, and each loaded adapter with its parent.
    const servers = await Promise.all(
      [["support--v1"], ["support--v1", "support--v2"]].map(async (adapters) => {
        const s = http.createServer((_q, res) =>
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              object: "list",
              data: [
                { id: "tiny-chat", object: "model", parent: null },
                ...adapters.map((id) => ({ id, object: "model", parent: "tiny-chat" })),
              ],
            }),
          ),
        );
        await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
        return s;
      }),
    );
    const ports = servers.map((s) => (s.address() as AddressInfo).port);
    ports.forEach((p, i) =>
      api.put(NS, sliceOf(SERVICE, `${SERVICE}-${i}`, [{ address: "127.0.0.1", ready: true }], p)),
    );
    const r = new Router({
      settings: { ...DEFAULT_ROUTING, adapterPollMs: 60_000, kubeApi: { url: api.url } },
      routes: [ROUTE],
      env: {},
    });
    r.start();
    try {
      const holder = `http://127.0.0.1:${ports[1]}`;
      // The adapter lists are read as soon as the replicas are discovered: then every key of
      // the adapter lands on its holder (before, about half would not).
      const allOnHolder = () =>
        Array.from({ length: 20 }, (_, k) => {
          const l = r.acquire(ROUTE, { key: `probe-${k}`, model: "support--v2" })!;
          l.end(true);
          return l.url;
        }).every((u) => u === holder);
      await world.until(() => r.replicas(ROUTE).length === 2 && allOnHolder(), "the adapter lists read");
      const v2 = new Set<string>();
      const base = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const a = r.acquire(ROUTE, { key: `conversation-${i}`, model: "support--v2" })!;
        const b = r.acquire(ROUTE, { key: `conversation-${i}`, model: "tiny-chat" })!;
        v2.add(a.url);
        base.add(b.url);
        a.end(true);
        b.end(true);
      }
      expect([...v2]).toEqual([holder]);
      expect(base.size).toBe(2);
    } finally {
      r.stop();
      await api.stop();
      for (const s of servers) s.close();
    }
  });
});

describe("GIVEN an in-cluster route over TLS", () => {
  it("WHEN the router starts THEN it is discovered like a plain-HTTP one, its replicas https addresses (each verified against the Service's name: gateway/test/model-tls.test.ts)", async () => {
    const api = new FakeKubeApi();
    await api.start();
    const tlsRoute = "https://model-secure.sovereign-serving.svc.cluster.local:8443";
    api.put(NS, sliceOf("model-secure", "model-secure-0", [{ address: "10.0.3.7", ready: true }], 8443));
    const r = new Router({
      settings: { ...DEFAULT_ROUTING, adapterPollMs: 0, kubeApi: { url: api.url } },
      routes: [tlsRoute, ROUTE],
      env: {},
    });
    r.start();
    try {
      await world.until(() => r.replicas(tlsRoute)[0] !== tlsRoute, "the TLS route's replicas");
      expect(api.seen.some((s) => s.path.includes("model-secure"))).toBe(true);
      expect(r.replicas(tlsRoute)).toEqual(["https://10.0.3.7:8443"]);
    } finally {
      r.stop();
      await api.stop();
    }
  });
});
