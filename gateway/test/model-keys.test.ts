/**
 * The model servers' API keys, sent by the gateway (components/platform/model-keys.ts): the
 * real gateway with its config loaded from the environment the Gateway component renders
 * (GATEWAY_MODEL_API_KEYS_FILE, the Secret's `keys.json` as the component writes it), real OPA
 * with the project's policy and a guard, PostgreSQL and the S3 test store, called through the
 * official `openai` client. The model servers check the key exactly as the pinned vLLM does
 * (serve/middleware/authenticate.py, on /v1, /v2, /inference and /cohere): a missing or wrong key
 * is 401, which the gateway would pass on (inference) or count as the guard being down.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayModelKeysJson } from "../../components/lib/model-keys";
import { gatewayEnv, type GatewayArgs } from "../../components/platform/gateway";
import { OpaServer } from "../../test/policies/opa";
import { keyMatches } from "../../test/flywheel/fake-vllm";
import { ConfigError, loadConfig, type Catalog } from "../src/config";
import { World } from "./helpers/world";

/** An OpenAI-compatible server that checks its key (if it has one) like vLLM, and records what it got. */
class KeyedServer {
  readonly seen: { path: string; authorization: string | undefined; status: number }[] = [];
  url = "";
  private server?: http.Server;

  constructor(
    private readonly key: string | undefined,
    private readonly answer: string,
  ) {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const guarded = ["/v1", "/v2", "/inference", "/cohere"].some((p) => path.startsWith(p));
        const ok = this.key === undefined || !guarded || keyMatches(req.headers.authorization, this.key);
        this.seen.push({ path, authorization: req.headers.authorization, status: ok ? 200 : 401 });
        if (!ok)
          return res.writeHead(401, { "content-type": "application/json" }).end('{"error":"Unauthorized"}');
        const body =
          path === "/v1/embeddings"
            ? {
                object: "list",
                data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }],
                usage: { prompt_tokens: 2, total_tokens: 2 },
              }
            : {
                id: "x",
                object: "chat.completion",
                created: 0,
                model: "m",
                choices: [
                  { index: 0, message: { role: "assistant", content: this.answer }, finish_reason: "stop" },
                ],
                usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
              };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const CHAT_KEY = "chat-server-key";
const GUARD_KEY = "guard-server-key";
const world = new World();
const opa = new OpaServer();
const chat = new KeyedServer(CHAT_KEY, "hello");
const guard = new KeyedServer(GUARD_KEY, "safe");
const embed = new KeyedServer(undefined, ""); // the simulator: no key
let url = "";
let catalog: Catalog;

/** The gateway's environment as the Gateway component renders it, with these model keys. */
function renderedEnv(keys: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    gatewayEnv(
      { oidc: { issuer: "x", audience: "x" }, tls: { mode: "off" }, modelApiKeys: keys } as GatewayArgs,
      { host: "127.0.0.1", port: 5432, database: "postgres", sslMode: "disable" },
      "b",
      true,
    ).map((e) => [e.name, e.value]),
  );
}

/** loadConfig with the keys file the component mounts (its path from the rendered env, its content from the Secret). */
function configWith(keysFileContent: string, keys: Record<string, string> = {}) {
  const file = renderedEnv({ "tiny-chat": "x", ...keys }).GATEWAY_MODEL_API_KEYS_FILE;
  expect(file).toBeDefined();
  return loadConfig(
    { ...world.env(world.tmp), GATEWAY_CATALOG: JSON.stringify(catalog), GATEWAY_MODEL_API_KEYS_FILE: file },
    (p) => {
      if (p !== file) throw new Error(`unexpected read of ${p}`);
      return keysFileContent;
    },
  );
}

beforeAll(async () => {
  await world.start();
  await Promise.all([chat.start(), guard.start(), embed.start()]);
  const cat = world.catalog();
  catalog = {
    ...cat,
    models: { ...cat.models, "guard-model": { role: "guard" } },
    routes: {
      ...cat.routes,
      "tiny-chat": chat.url,
      "secret-chat": chat.url,
      "tiny-embed": embed.url,
      "guard-model": guard.url,
    },
  };
  await opa.start({
    ...world.data,
    guard: {
      enabled: true,
      url: `${guard.url}/v1/chat/completions`,
      model: "guard-model",
      timeoutMs: 2000,
      failClosed: true,
    },
  });
  const keys = { "tiny-chat": CHAT_KEY, "guard-model": GUARD_KEY };
  const cfg = configWith(gatewayModelKeysJson(keys));
  ({ url } = await world.gateway({
    catalog,
    modelApiKeys: cfg.modelApiKeys,
    opaUrl: opa.url,
    guardTimeoutMs: 2000,
  }));
});

afterAll(async () => {
  await Promise.all([chat.stop(), guard.stop(), embed.stop(), opa.stop()]);
  await world.stop();
});

async function client(): Promise<OpenAI> {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: await world.idp.token({ sub: "alice" }), maxRetries: 0 });
}

describe("GIVEN model servers that require their own keys", () => {
  it("WHEN a member chats with a keyed model (and its adapter) THEN its server gets its key and answers, and the guard gets the guard's key and screens", async () => {
    const c = await client();
    const before = { chat: chat.seen.length, guard: guard.seen.length };
    for (const model of ["tiny-chat", "tiny-chat-support"]) {
      const r = await c.chat.completions.create({
        model,
        messages: [{ role: "user", content: `hi ${model}` }],
      });
      expect(r.choices[0].message.content).toBe("hello");
    }
    const toChat = chat.seen.slice(before.chat);
    const toGuard = guard.seen.slice(before.guard);
    expect(toChat.map((s) => [s.path, s.authorization, s.status])).toEqual([
      ["/v1/chat/completions", `Bearer ${CHAT_KEY}`, 200],
      ["/v1/chat/completions", `Bearer ${CHAT_KEY}`, 200],
    ]);
    // the guard screened the prompts and the answers with its own key (a refused call is "down": denied)
    expect(toGuard.length).toBeGreaterThanOrEqual(2);
    expect(new Set(toGuard.map((s) => `${s.authorization} ${s.status}`))).toEqual(
      new Set([`Bearer ${GUARD_KEY} 200`]),
    );
  });

  it("WHEN a member asks a model whose server has no key (the simulator) THEN no Authorization header reaches it, nor any other model's key", async () => {
    const c = await client();
    const before = embed.seen.length;
    const r = await c.embeddings.create({ model: "tiny-embed", input: "some text" });
    expect(r.data).toHaveLength(1);
    expect(embed.seen.slice(before).map((s) => [s.path, s.authorization])).toEqual([
      ["/v1/embeddings", undefined],
    ]);
  });

  it("WHEN everything above ran THEN each key went to its own server only", () => {
    expect(embed.seen.every((s) => s.authorization === undefined)).toBe(true);
    expect(chat.seen.every((s) => s.authorization === `Bearer ${CHAT_KEY}`)).toBe(true);
    expect(guard.seen.every((s) => s.authorization === `Bearer ${GUARD_KEY}`)).toBe(true);
  });
});

describe("GATEWAY_MODEL_API_KEYS_FILE", () => {
  const problems = (content: string): string[] => {
    try {
      configWith(content);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return [...(e as ConfigError).problems];
    }
    return [];
  };

  it("GIVEN a key for a model the catalog does not route, or a key that is not one string WHEN loaded THEN the problem names the model, never the key", () => {
    const p = problems(
      JSON.stringify({ "no-such-model": "s3cr3t-1", "tiny-chat": "two words", "tiny-embed": 7 }),
    );
    expect(p).toEqual([
      "GATEWAY_MODEL_API_KEYS_FILE.no-such-model: expected a model the catalog routes, found none of that name",
      "GATEWAY_MODEL_API_KEYS_FILE.tiny-chat: expected a non-empty key without whitespace",
      "GATEWAY_MODEL_API_KEYS_FILE.tiny-embed: expected a non-empty key without whitespace",
    ]);
    expect(p.join("\n")).not.toContain("s3cr3t");
  });

  it("GIVEN a file that is not a JSON object WHEN loaded THEN the problem names the file", () => {
    expect(problems("not json")[0]).toMatch(
      /^GATEWAY_MODEL_API_KEYS_FILE: cannot read ".*keys\.json" as JSON/,
    );
    expect(problems("[]")[0]).toMatch(
      /^GATEWAY_MODEL_API_KEYS_FILE: expected an object of model name to API key/,
    );
  });

  it("GIVEN a file that is not JSON but holds keys (a hand-edited or truncated Secret) WHEN loaded THEN the problem names the file and where, never a key", () => {
    // JSON.parse's own message quotes the text around the error: the key itself here.
    for (const content of [
      '{"tiny-chat": s3cr3t-unquoted}',
      '{"tiny-chat": "s3cr3t-one", "guard-model": "s3cr3t-two",}',
      '{"tiny-chat": "s3cr3t-truncat',
    ]) {
      const p = problems(content);
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/^GATEWAY_MODEL_API_KEYS_FILE: cannot read ".*keys\.json" as JSON/);
      expect(p[0]).not.toContain("s3cr3t");
    }
  });

  it("GIVEN a model name that is a property of every object (constructor, __proto__) WHEN loaded THEN it is a model the catalog does not route", () => {
    const p = problems('{"constructor": "k1", "__proto__": "k2", "toString": "k3"}');
    expect(p).toEqual([
      "GATEWAY_MODEL_API_KEYS_FILE.constructor: expected a model the catalog routes, found none of that name",
      "GATEWAY_MODEL_API_KEYS_FILE.__proto__: expected a model the catalog routes, found none of that name",
      "GATEWAY_MODEL_API_KEYS_FILE.toString: expected a model the catalog routes, found none of that name",
    ]);
  });

  it("GIVEN the keys the component writes WHEN loaded THEN each key is bound to its model's route", () => {
    const cfg = configWith(gatewayModelKeysJson({ "tiny-chat": "a", "guard-model": "g" }));
    expect([...(cfg.modelApiKeys ?? new Map())].sort()).toEqual(
      [
        [guard.url, "g"],
        [chat.url, "a"],
      ].sort(),
    );
  });
});
