/**
 * TLS to the model servers (components/lib/model-tls.ts): the real gateway, its config loaded
 * from the environment the Gateway component renders (GATEWAY_MODEL_CA_FILE at the path where
 * the component mounts the model CA's bundle), calls model servers that serve HTTPS with
 * certificates from a real CA (openssl). Replicas are found by the real discovery (a fake
 * Kubernetes API) and reached by address: each one's certificate must name its route's host (the
 * Service), as on a cluster. A server whose certificate comes from another CA, or names another
 * host, gets nothing (fails closed, 502, a log line that says why); the guard likewise.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL_CA_FILE, modelServerDnsNames, modelServerHost } from "../../components/lib/model-tls";
import { modelServerUrl } from "../../components/lib/endpoints";
import { gatewayEnv, type GatewayArgs } from "../../components/platform/gateway";
import { TestCa, type Pem } from "../../test/helpers/pki";
import { ConfigError, loadConfig } from "../src/config";
import { GuardClient } from "../src/guard";
import { createLogger } from "../src/log";
import { DEFAULT_ROUTING, type Router } from "../src/routing/router";
import { FakeKubeApi, sliceOf } from "./helpers/kube-api";
import { World } from "./helpers/world";

const NS = "sovereign-serving";

/** An OpenAI-compatible HTTPS server; records each request that got through TLS. */
class TlsModelServer {
  readonly seen: string[] = [];
  port = 0;
  private server?: https.Server;

  constructor(
    private readonly pem: Pem,
    private readonly answer: string,
  ) {}

  async start(): Promise<void> {
    this.server = https.createServer(
      { cert: fs.readFileSync(this.pem.cert), key: fs.readFileSync(this.pem.key) },
      (req, res) => {
        req.resume();
        req.on("end", () => {
          const path = new URL(req.url ?? "/", "https://x").pathname;
          this.seen.push(path);
          const body =
            path === "/v1/models"
              ? { object: "list", data: [{ id: "tiny-chat", parent: null }] }
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
      },
    );
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const world = new World();
const kubes: FakeKubeApi[] = [];
const modelCa = new TestCa("sovereign test model CA");
const otherCa = new TestCa("another CA");
/** A certificate's names as the kit's Certificate gives them (modelServerDnsNames). */
const sans = (model: string) => modelServerDnsNames(model).map((n) => `DNS:${n}`);
const good = new TlsModelServer(modelCa.issue("tiny-chat", sans("tiny-chat")), "hello over tls");
const wrongCa = new TlsModelServer(
  otherCa.issue("tiny-chat-other-ca", sans("tiny-chat")),
  "must not be read",
);
// the model CA's certificate of another model server: tiny-chat's name is not in it
const wrongHost = new TlsModelServer(modelCa.issue("impostor", sans("other-model")), "must not be read");

/** The gateway's env as the Gateway component renders it with the model CA. */
function renderedEnv(): Record<string, string> {
  return Object.fromEntries(
    gatewayEnv(
      { oidc: { issuer: "x", audience: "x" }, tls: { mode: "off" }, modelCa: {} } as GatewayArgs,
      { host: "127.0.0.1", port: 5432, database: "postgres", sslMode: "disable" },
      "b",
      true,
    ).map((e) => [e.name, e.value]),
  );
}

/** loadConfig with the CA file at the rendered path holding `pem` (the bundle Secret's ca.crt). */
function configWith(pem: string) {
  const file = renderedEnv().GATEWAY_MODEL_CA_FILE;
  return loadConfig({ ...world.env(world.tmp), GATEWAY_MODEL_CA_FILE: file }, (p) => {
    if (p !== file) throw new Error(`ENOENT: no such file, open '${p}'`);
    return pem;
  });
}

/** The chat model's route as the platform writes it: HTTPS to its Service (which does not resolve here). */
const ROUTE = modelServerUrl("tiny-chat");

/**
 * A gateway configured from the rendered env (the model CA) whose chat route's one ready replica
 * (discovered through a Kubernetes API of its own) is `server`, on loopback.
 */
async function gatewayTo(server: TlsModelServer): Promise<{ url: string; lines: string[]; router: Router }> {
  const kube = new FakeKubeApi();
  kubes.push(kube);
  await kube.start();
  kube.put(
    NS,
    sliceOf("model-tiny-chat", "model-tiny-chat-0", [{ address: "127.0.0.1", ready: true }], server.port),
  );
  const cfg = configWith(fs.readFileSync(modelCa.cert, "utf8"));
  const cat = world.catalog();
  const g = await world.gateway({
    catalog: { ...cat, routes: { ...cat.routes, "tiny-chat": ROUTE } },
    modelCa: cfg.modelCa,
    routing: { ...DEFAULT_ROUTING, adapterPollMs: 200, kubeApi: { url: kube.url } },
  });
  const router = g.gw.router;
  await world.until(
    () => router.replicas(ROUTE)[0] === `https://127.0.0.1:${server.port}`,
    "the replica discovered",
  );
  return { url: g.url, lines: g.lines, router };
}

beforeAll(async () => {
  await Promise.all([world.start(), good.start(), wrongCa.start(), wrongHost.start()]);
});

afterAll(async () => {
  await Promise.all([
    world.stop(),
    ...kubes.map((k) => k.stop()),
    good.stop(),
    wrongCa.stop(),
    wrongHost.stop(),
  ]);
  modelCa.destroy();
  otherCa.destroy();
});

async function chat(url: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await world.idp.token({ sub: "alice" })}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ model: "tiny-chat", messages: [{ role: "user", content: "hi" }] }),
  });
}

describe("GIVEN model servers that serve HTTPS from the model CA", () => {
  it("WHEN the component renders the gateway THEN GATEWAY_MODEL_CA_FILE is where it mounts the bundle's ca.crt", () => {
    expect(renderedEnv().GATEWAY_MODEL_CA_FILE).toBe(MODEL_CA_FILE);
  });

  it("WHEN a member chats THEN the replica (reached by address) is verified against its Service's name and answers, and its adapters are read over TLS", async () => {
    expect(new URL(ROUTE).hostname).toBe(modelServerHost("tiny-chat"));
    const { url } = await gatewayTo(good);
    const r = await chat(url);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0].message.content).toBe("hello over tls");
    expect(good.seen).toContain("/v1/chat/completions");
    await world.until(() => good.seen.includes("/v1/models"), "adapter listing over TLS");
  });

  it("WHEN the replica's certificate comes from another CA THEN nothing reaches it: 502 and a log line naming the CA file", async () => {
    const { url, lines } = await gatewayTo(wrongCa);
    const r = await chat(url);
    expect(r.status).toBe(502);
    expect(wrongCa.seen).toEqual([]);
    const line = lines.find((l) => l.includes("model server TLS failed"));
    expect(line, lines.join("\n")).toBeDefined();
    expect(line).toContain("GATEWAY_MODEL_CA_FILE");
  });

  it("WHEN the replica's certificate, from the model CA, names another host THEN nothing reaches it: 502, the host named", async () => {
    const { url, lines } = await gatewayTo(wrongHost);
    const r = await chat(url);
    expect(r.status).toBe(502);
    expect(wrongHost.seen).toEqual([]);
    const line = lines.find((l) => l.includes("model server TLS failed"));
    expect(line, lines.join("\n")).toBeDefined();
    expect(line).toContain("does not name the host");
  });
});

describe("GIVEN the guard over HTTPS", () => {
  const ask = (client: GuardClient, port: number) =>
    client.ask({
      url: `https://localhost:${port}/v1/chat/completions`,
      body: { model: "g", messages: [] },
      family: "llama-guard",
      cacheSeconds: 0,
      timeoutMs: 5000,
    });

  it("WHEN the gateway's guard client trusts the model CA THEN a guard with its certificate answers; another CA's is 'down' and logged", async () => {
    const guardOk = new TlsModelServer(modelCa.issue("guard", ["DNS:localhost"]), "safe");
    const guardBad = new TlsModelServer(otherCa.issue("guard-bad", ["DNS:localhost"]), "safe");
    await Promise.all([guardOk.start(), guardBad.start()]);
    const logged: string[] = [];
    const client = new GuardClient({
      ca: fs.readFileSync(modelCa.cert, "utf8"),
      log: createLogger((l) => logged.push(l)),
    });
    try {
      expect((await ask(client, guardOk.port)).verdict).toBe("safe");
      expect((await ask(client, guardBad.port)).verdict).toBe("down");
      expect(guardBad.seen).toEqual([]);
      expect(logged.some((l) => l.includes("guard TLS failed"))).toBe(true);
    } finally {
      client.close();
      await Promise.all([guardOk.stop(), guardBad.stop()]);
    }
  });
});

describe("GATEWAY_MODEL_CA_FILE", () => {
  const problems = (read: () => ReturnType<typeof configWith>): string[] => {
    try {
      read();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return [...(e as ConfigError).problems];
    }
    return [];
  };

  it("GIVEN a file without a certificate THEN the config is refused, naming the variable and the file", () => {
    const p = problems(() => configWith("not a pem"));
    expect(p).toEqual([`GATEWAY_MODEL_CA_FILE: expected PEM certificates in "${MODEL_CA_FILE}", found none`]);
  });

  it("GIVEN a certificate block that does not parse THEN the config is refused, naming it", () => {
    const p = problems(() => configWith("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^GATEWAY_MODEL_CA_FILE: certificate 1 in ".*" does not parse/);
  });

  it("GIVEN a file that cannot be read THEN the config is refused, naming it", () => {
    const file = renderedEnv().GATEWAY_MODEL_CA_FILE;
    const p = problems(() =>
      loadConfig({ ...world.env(world.tmp), GATEWAY_MODEL_CA_FILE: `${file}.missing` }, () => {
        throw new Error("ENOENT");
      }),
    );
    expect(p).toEqual([`GATEWAY_MODEL_CA_FILE: cannot read "${file}.missing": ENOENT`]);
  });
});
