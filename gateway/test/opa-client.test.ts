import * as http from "node:http";
/**
 * The OPA client (GATEWAY_POLICY=opa) against a real OPA with the project's policy, reached
 * through a TCP relay that counts connections and can hold OPA's answers back: a decision past
 * its deadline fails closed at once, yet the keep-alive connection survives it (the late answer
 * is read and dropped), and a connection whose answer never comes is given up after the grace.
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthzInput } from "../../components/lib/contracts";
import { OpaServer } from "../../test/policies/opa";
import { OpaClient, OpaUnavailable, opaGraceMs } from "../src/opa";
import { testOpaData } from "./helpers/world";

/** A TCP relay in front of `target`: counts connections; answers can be held back or dropped. */
class Relay {
  connections = 0;
  closed = 0;
  /** Per connection, in the order they were opened: whether it has closed. */
  readonly open: boolean[] = [];
  /** Bytes from OPA that reached the client. */
  answered = 0;
  /** ms to hold back each answer from OPA; Infinity never passes it on. */
  holdMs = 0;
  url = "";
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(target: URL) {
    this.server = net.createServer((client) => {
      const index = this.connections++;
      this.open.push(true);
      const upstream = net.connect(Number(target.port), target.hostname);
      this.sockets.add(client).add(upstream);
      client.on("data", (b) => upstream.write(b));
      upstream.on("data", (b) => {
        const hold = this.holdMs;
        if (hold === Infinity) return;
        const pass = () => {
          if (client.destroyed) return;
          this.answered += b.length;
          client.write(b);
        };
        if (hold > 0) setTimeout(pass, hold);
        else pass();
      });
      client.on("close", () => {
        this.closed++;
        this.open[index] = false;
        upstream.destroy();
      });
      upstream.on("close", () => client.destroy());
      client.on("error", () => undefined);
      upstream.on("error", () => undefined);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const opa = new OpaServer();
let relay: Relay;

beforeAll(async () => {
  await opa.start(testOpaData());
  relay = new Relay(new URL(opa.url));
  await relay.start();
});
afterAll(async () => {
  await relay.stop();
  await opa.stop();
});

const input: AuthzInput = {
  subject: { sub: "u", groups: ["sovereign-nocap"], team: "nocap" },
  request: {
    model: "tiny-chat",
    endpoint: "/v1/chat/completions",
    messages: [{ role: "user", content: "hello" }],
    estimatedTokens: 10,
  },
  context: {
    time: "2026-01-01T00:00:00Z",
    clientAddress: "127.0.0.1",
    usage: { tokensToday: 0, requestsThisMinute: 0 },
  },
};

async function until(fn: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!fn()) throw new Error(`timed out waiting for ${what}`);
}

describe("GIVEN the gateway asking OPA over HTTP", () => {
  it("WHEN a decision misses its deadline THEN it fails closed at once, and the next decision reuses the same connection", async () => {
    // Generous deadlines for the calls that must succeed (a loaded machine), a short one for the
    // call whose answer is held back past it.
    const client = new OpaClient(relay.url, 10_000);
    try {
      relay.holdMs = 0;
      const first = await client.plan(input);
      expect(first).toMatchObject({ decision: { allow: true } });
      const before = relay.connections;
      expect(before).toBe(1);

      // Held 800 ms past a 500 ms deadline: within the 2 s the connection is kept for the late
      // answer (opaGraceMs), with room for a loaded machine.
      relay.holdMs = 800;
      const answeredBefore = relay.answered;
      await expect(client.plan(input, 500)).rejects.toThrow(OpaUnavailable);
      // The late answer arrives (and is dropped) on the kept connection, which goes back to the
      // pool once the client has read it.
      await until(() => relay.answered > answeredBefore, "the late answer");
      const pool = (client as unknown as { agent: http.Agent }).agent;
      await until(
        () => Object.values(pool.freeSockets).flat().length === 1,
        "the connection back in the pool",
      );

      relay.holdMs = 0;
      expect(await client.plan(input)).toEqual(first);
      expect(relay.connections).toBe(before);
      expect(relay.closed).toBe(0);
    } finally {
      client.close();
    }
  });

  it("WHEN OPA never answers THEN the decision fails closed and the connection is given up after the grace period", async () => {
    const client = new OpaClient(relay.url, 50);
    try {
      relay.holdMs = Infinity;
      const mine = relay.connections; // this client's connection is the next one
      const t0 = performance.now();
      await expect(client.plan(input)).rejects.toThrow(/did not answer within 50 ms/);
      expect(relay.open[mine]).toBe(true);
      await until(() => relay.open[mine] === false, "the abandoned connection to close");
      // Not before the grace period (bounded above only by the polling above).
      expect(performance.now() - t0).toBeGreaterThanOrEqual(opaGraceMs(50) - 10);
    } finally {
      relay.holdMs = 0;
      client.close();
    }
  });
});
