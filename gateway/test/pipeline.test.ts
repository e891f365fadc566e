/**
 * The request pipeline's stages, each on its own: validate (pure), route (pure), decide's
 * enforcement, the capture plan, and the proxy against a real HTTP upstream.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthzDecision } from "../../components/lib/contracts";
import type { Catalog } from "../src/config";
import { ApiError } from "../src/errors";
import { createLogger } from "../src/log";
import { createMetrics } from "../src/metrics";
import type { CaptureRecord } from "../src/capture";
import { planCapture } from "../src/pipeline/capture";
import { newContext, type RequestContext } from "../src/pipeline/context";
import { enforce } from "../src/pipeline/decide";
import { proxy, UpstreamAgents } from "../src/pipeline/proxy";
import { route } from "../src/pipeline/route";
import { upstreamBody } from "../src/pipeline/body";
import { parseInference } from "../src/pipeline/validate";
import { SpillQueue } from "../src/spill-queue";
import { FakeUpstream } from "./helpers/upstream";

const catalog: Catalog = {
  teams: { t: { oidcGroup: "g", budgets: { tokensPerDay: 100, requestsPerMinute: 10 } } },
  models: { chat: { role: "chat" }, lora: { role: "chat", baseModel: "chat" }, emb: { role: "embedding" } },
  routes: { chat: "http://chat.example:8000", emb: "http://emb.example:8000" },
  redactPatterns: ["x+"],
};

const buf = (o: unknown) => Buffer.from(JSON.stringify(o));

function ctx(endpoint = "/v1/chat/completions"): RequestContext {
  const req = { headers: {}, socket: { remoteAddress: "127.0.0.1" } } as unknown as http.IncomingMessage;
  return { ...newContext(req, endpoint), principal: { sub: "s", groups: ["g"], team: "t", kind: "oidc" } };
}

const allow = (capture: boolean): AuthzDecision => ({
  allow: true,
  reasons: [],
  obligations: { capture, redact: [] },
});

describe("GIVEN the validate stage", () => {
  it("WHEN a chat body is parsed THEN model, stream flags and the screened text come out", () => {
    const c = ctx();
    const r = parseInference(
      "/v1/chat/completions",
      buf({
        model: "lora",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
        max_tokens: 7,
      }),
      catalog,
      c,
    );
    expect(r).toMatchObject({ model: "lora", stream: true, clientWantsUsage: true, maxTokens: 7 });
    expect(r.text).toEqual({ messages: [{ role: "user", content: "hi" }], chars: 2 });
    expect(c).toMatchObject({ model: "lora", streamed: true });
  });

  it("WHEN the body is not JSON, not an object, has no model or an unknown one THEN the error names it", () => {
    const err = (raw: string) => {
      try {
        parseInference("/v1/completions", Buffer.from(raw), catalog);
      } catch (e) {
        return e as ApiError;
      }
      throw new Error("no error");
    };
    expect(err("{").message).toMatch(/not valid JSON/);
    expect(err("[]").message).toBe("expected a JSON object");
    expect(err("{}").param).toBe("model");
    expect(err('{"model":"nope"}')).toMatchObject({ status: 404, code: "model_not_found" });
  });
});

describe("GIVEN the route stage", () => {
  it("WHEN an adapter streams THEN it goes to its base model's server and usage is asked for", () => {
    const r = parseInference("/v1/completions", buf({ model: "lora", prompt: "p", stream: true }), catalog);
    const call = route(catalog, r);
    expect(call.target).toBe("http://chat.example:8000/v1/completions");
    expect(JSON.parse(call.body.toString())).toMatchObject({ stream_options: { include_usage: true } });
    const plain = parseInference("/v1/embeddings", buf({ model: "emb", input: "p" }), catalog);
    expect(route(catalog, plain).body).toBe(plain.raw);
  });
});

describe("GIVEN the upstream body of a request", () => {
  const parse = (raw: string) => parseInference("/v1/completions", Buffer.from(raw), catalog);

  it("WHEN a stream asks for no usage THEN the option is spliced into the bytes as received, everything else kept as sent", () => {
    // Number spellings, key order and whitespace survive only if the body is not re-serialized.
    const raw =
      '{ "model": "chat", "prompt": "p\\u00e9", "temperature": 1.0, "stream": true, "seed": 1e3 }\n';
    const r = parse(raw);
    const out = upstreamBody(r).toString("utf8");
    expect(out).toBe(raw.slice(0, raw.lastIndexOf("}")) + ',"stream_options":{"include_usage":true}}\n');
    expect(JSON.parse(out)).toEqual({ ...r.body, stream_options: { include_usage: true } });
  });

  it("WHEN nothing needs changing THEN the received buffer itself is sent; other stream options or a served name re-serialize", () => {
    const plain = parse('{"model":"chat","prompt":"p","temperature":1.0}');
    expect(upstreamBody(plain)).toBe(plain.raw);
    const asked = parse(
      '{"model":"chat","prompt":"p","stream":true,"stream_options":{"include_usage":true}}',
    );
    expect(upstreamBody(asked)).toBe(asked.raw);
    const off = parse('{"model":"chat","prompt":"p","stream":true,"stream_options":{"include_usage":false}}');
    expect(JSON.parse(upstreamBody(off).toString())).toEqual({
      ...off.body,
      stream_options: { include_usage: true },
    });
    const renamed = JSON.parse(upstreamBody(plain, "chat-v2").toString()) as Record<string, unknown>;
    expect(renamed).toEqual({ ...plain.body, model: "chat-v2" });
  });
});

describe("GIVEN the decide stage's enforcement", () => {
  it("WHEN only budgets deny THEN 429; any other reason THEN 403; allow THEN the context records it", () => {
    const metrics = createMetrics();
    const deny = (reasons: string[]) => {
      const c = ctx();
      try {
        enforce({ metrics }, c, { allow: false, reasons, obligations: { capture: false, redact: [] } });
      } catch (e) {
        return { status: (e as ApiError).status, decision: c.decision };
      }
      throw new Error("no error");
    };
    expect(deny(["budget_requests_exceeded"])).toEqual({ status: 429, decision: "deny" });
    expect(deny(["model_not_allowed", "budget_requests_exceeded"])).toEqual({
      status: 403,
      decision: "deny",
    });
    const c = ctx();
    enforce({ metrics }, c, allow(false));
    expect(c.decision).toBe("allow");
  });
});

describe("GIVEN the capture plan", () => {
  const queue = new SpillQueue<CaptureRecord>({
    name: "c",
    dir: "/nonexistent",
    instanceId: "i",
    maxInMemory: 10,
    batchSize: 10,
    flushIntervalMs: 1000,
    retryIntervalMs: 1000,
    deliver: () => Promise.resolve(),
    log: createLogger(() => undefined),
  });
  const r = parseInference("/v1/completions", buf({ model: "chat", prompt: "p" }), catalog);
  it("WHEN the decision does not oblige capture, or capture is off THEN there is no plan", () => {
    const metrics = createMetrics();
    expect(planCapture({ metrics, capture: queue, redactPatterns: [] }, r, allow(false))).toBeUndefined();
    expect(planCapture({ metrics, redactPatterns: [] }, r, allow(true))).toBeUndefined();
    expect(planCapture({ metrics, capture: queue, redactPatterns: ["a"] }, r, allow(true))).toBeDefined();
  });
});

/**
 * A model server (`handler`) behind a minimal server that runs only the proxy stage on one
 * streamed chat ("hi"); `close` stops both and the upstream pool.
 */
async function proxiedStream(
  handler: http.RequestListener,
  opts: { collect?: boolean; beforeEnd?: () => void; onDone?: (c: RequestContext) => void } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const agents = new UpstreamAgents();
  const upstream = http.createServer(handler);
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const front = http.createServer((req, res) => {
    const c = ctx();
    c.model = "chat";
    void proxy({ agents, metrics: createMetrics(), upstreamTimeoutMs: 5000 }, c, {
      req,
      res,
      target: `${upUrl}/v1/chat/completions`,
      body: buf({ model: "chat", messages: [{ role: "user", content: "hi" }], stream: true }),
      stream: true,
      clientWantsUsage: false,
      collect: opts.collect ?? false,
      ...(opts.beforeEnd ? { beforeEnd: opts.beforeEnd } : {}),
    }).then(() => opts.onDone?.(c));
  });
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    close: async () => {
      agents.destroy();
      front.closeAllConnections();
      upstream.closeAllConnections();
      await new Promise<void>((r) => front.close(() => r()));
      await new Promise<void>((r) => upstream.close(() => r()));
    },
  };
}

describe("GIVEN the proxy stage against an upstream", () => {
  const up = new FakeUpstream();
  const agents = new UpstreamAgents();
  let front: http.Server;
  let frontUrl = "";
  let collect = false;
  let last: { result: unknown; ctx: RequestContext } | undefined;
  beforeAll(async () => {
    await up.start();
    // A minimal server that runs only the proxy stage.
    front = http.createServer((req, res) => {
      const c = ctx();
      c.model = "chat";
      const body = buf({ model: "chat", messages: [{ role: "user", content: "a b" }], stream: true });
      void proxy({ agents, metrics: createMetrics(), upstreamTimeoutMs: 5000 }, c, {
        req,
        res,
        target: `${up.url}/v1/chat/completions`,
        body: Buffer.from(
          JSON.stringify({ ...JSON.parse(body.toString()), stream_options: { include_usage: true } }),
        ),
        stream: true,
        clientWantsUsage: false,
        collect,
      }).then((result) => (last = { result, ctx: c }));
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    agents.destroy();
    front.closeAllConnections();
    front.close();
    await up.stop();
  });

  it("WHEN the stream is not captured THEN it is relayed and usage counted, but no content is assembled", async () => {
    for (const c of [false, true]) {
      collect = c;
      last = undefined;
      const text = await (await fetch(frontUrl)).text();
      expect(text).toContain("word2");
      expect(text).not.toContain('"usage"');
      const done = await (async () => {
        for (let i = 0; i < 100 && !last; i++) await new Promise((r) => setTimeout(r, 10));
        return last!;
      })();
      expect(done.ctx).toMatchObject({ status: 200, tokensIn: 2, tokensOut: 3 });
      expect(done.result).toEqual(
        c
          ? {
              response: {
                choices: [{ index: 0, message: { role: "assistant", content: "word0 word1 word2 " } }],
              },
            }
          : {},
      );
    }
  });
});

describe("GIVEN a model server that streams in awkward pieces", () => {
  // Events split across reads, a four-byte character split between two reads, the usage chunk
  // and [DONE] in one read: what the client receives is the model server's bytes, in order,
  // without the usage chunk it did not ask for.
  const events = [
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant" } }] })}\n\n`,
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "caf\u00e9 \u{1F600} " } }] })}\n\n`,
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "done" } }] })}\n\n`,
  ];
  const usage = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } })}\n\n`;
  const done = "data: [DONE]\n\n";
  const bytes = Buffer.from(events.join("") + usage + done);
  const emoji = bytes.indexOf(Buffer.from("\u{1F600}"));
  const cuts = [10, emoji + 2, bytes.indexOf(Buffer.from(usage))];
  let stream: Awaited<ReturnType<typeof proxiedStream>>;
  let frontUrl = "";
  let last: RequestContext | undefined;
  let ended = false;
  beforeAll(async () => {
    stream = await proxiedStream(
      (req, res) => {
        req.resume();
        req.on("end", () => {
          res.writeHead(200, { "content-type": "text/event-stream" });
          let at = 0;
          const next = (i: number) => {
            const to = i < cuts.length ? cuts[i] : bytes.length;
            res.write(bytes.subarray(at, to));
            at = to;
            if (to === bytes.length) res.end();
            else setTimeout(() => next(i + 1), 20);
          };
          next(0);
        });
      },
      {
        collect: true,
        beforeEnd: () => {
          ended = true;
        },
        onDone: (c) => (last = c),
      },
    );
    frontUrl = stream.url;
  });
  afterAll(() => stream.close());

  it("WHEN it is relayed THEN the client gets the exact bytes of every event but the usage chunk, [DONE] last, and usage is counted", async () => {
    const r = await fetch(frontUrl);
    expect(r.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const got = Buffer.from(await r.arrayBuffer());
    expect(got.equals(Buffer.from(events.join("") + done))).toBe(true);
    for (let i = 0; i < 100 && !last; i++) await new Promise((r) => setTimeout(r, 10));
    expect(last).toMatchObject({ status: 200, tokensIn: 4, tokensOut: 2 });
    expect(ended).toBe(true);
  });
});

describe("GIVEN a model server that answers a stream's headers long before its first event", () => {
  let stream: Awaited<ReturnType<typeof proxiedStream>>;
  let frontUrl = "";
  let release = () => {};
  beforeAll(async () => {
    stream = await proxiedStream((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.flushHeaders();
        // The first event only once the test has seen the gateway's headers.
        release = () =>
          res.end('data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\ndata: [DONE]\n\n');
      });
    });
    frontUrl = stream.url;
  });
  afterAll(() => stream.close());

  it("WHEN the gateway relays it THEN the client has the status and headers before the first event exists", async () => {
    const r = await fetch(frontUrl); // resolves on the response headers
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    release();
    expect(await r.text()).toBe(
      'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\ndata: [DONE]\n\n',
    );
  });
});

describe("GIVEN a model server that sends an event after [DONE]", () => {
  const a = 'data: {"choices":[{"index":0,"delta":{"content":"A"}}]}\n\n';
  const b = 'data: {"choices":[{"index":0,"delta":{"content":"B"}}]}\n\n';
  let stream: Awaited<ReturnType<typeof proxiedStream>>;
  let frontUrl = "";
  beforeAll(async () => {
    stream = await proxiedStream(
      (req, res) => {
        req.resume();
        req.on("end", () => {
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write(a + "data: [DONE]\n\n");
          setTimeout(() => res.end(b), 30);
        });
      },
      { beforeEnd: () => undefined },
    );
    frontUrl = stream.url;
  });
  afterAll(() => stream.close());

  it("WHEN it is relayed THEN the events keep their order and [DONE] still comes last", async () => {
    expect(await (await fetch(frontUrl)).text()).toBe(a + b + "data: [DONE]\n\n");
  });
});
