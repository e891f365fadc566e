/**
 * The real components a gateway test runs against, started once per test file: PostgreSQL,
 * OPA with the project's policies, a test identity provider, two OpenAI-compatible upstreams
 * (chat and embeddings, to show routing) and a local S3-compatible server. All on loopback.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Client, types } from "pg";

/** bigint columns (token counts) as numbers in test queries: the tests' values are small. */
const TEST_TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20 ? (v: string) => Number(v) : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
};
import type { OpaData } from "../../../components/lib/contracts";
import { startPostgres, type PostgresInstance } from "../../../test/helpers/postgres";
import { OpaServer } from "../../../test/policies/opa";
import type { Catalog, GatewayConfig } from "../../src/config";
import { createLogger, type Logger } from "../../src/log";
import { Gateway } from "../../src/server";
import { TestIdp } from "./oidc";
import { TestS3 } from "./s3-server";
import { FakeUpstream } from "./upstream";

export const EMAIL_PATTERN = "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}";
export const BUCKET = "sovereign-test-inference-logs";

/** `data.sovereign` for the tests, per the contract in components/lib/contracts.ts. */
/** The gateway's catalog for OPA data: its teams and models, served at `routes`. */
export function catalogOf(
  data: OpaData,
  routes: Catalog["routes"],
  redactPatterns: readonly string[] = data.redactPatterns,
): Catalog {
  const models: Record<string, Catalog["models"][string]> = {};
  for (const [n, m] of Object.entries(data.models))
    models[n] = { role: m.role, baseModel: m.baseModel, dataClassification: m.dataClassification };
  const teams: Record<string, Catalog["teams"][string]> = {};
  for (const [n, t] of Object.entries(data.teams))
    teams[n] = { oidcGroup: t.oidcGroup, clearance: t.clearance, budgets: t.budgets };
  return { teams, models, routes, redactPatterns };
}

export function testOpaData(): OpaData {
  const team = (
    oidcGroup: string,
    allowedModels: string[],
    o: { allowCapture?: boolean; tokensPerDay?: number; requestsPerMinute?: number } = {},
  ) => ({
    oidcGroup,
    clearance: "internal" as const,
    allowedModels,
    budgets: {
      tokensPerDay: o.tokensPerDay ?? 10_000_000,
      requestsPerMinute: o.requestsPerMinute ?? 1_000_000,
    },
    allowCapture: o.allowCapture ?? false,
    trainableClassifications: ["public" as const, "internal" as const],
  });
  return {
    teams: {
      demo: team("sovereign-demo", ["tiny-chat", "tiny-chat-support", "tiny-embed", "secret-chat"], {
        allowCapture: true,
      }),
      nocap: team("sovereign-nocap", ["tiny-chat"]),
      small: team("sovereign-small", ["tiny-chat"], { tokensPerDay: 40, requestsPerMinute: 3 }),
      // Budget tests of hostile.test.ts (each its own team, so windows do not interfere).
      lister: team("sovereign-lister", ["tiny-chat"], { requestsPerMinute: 3 }),
      denied: team("sovereign-denied", ["tiny-chat"], { tokensPerDay: 40, requestsPerMinute: 3 }),
    },
    models: {
      "tiny-chat": { role: "chat", dataClassification: "internal" },
      "tiny-chat-support": { role: "chat", dataClassification: "internal", baseModel: "tiny-chat" },
      "tiny-embed": { role: "embedding", dataClassification: "public" },
      "secret-chat": { role: "chat", dataClassification: "restricted" },
    },
    guard: { enabled: false, url: "", model: "", timeoutMs: 1000, failClosed: true },
    redactPatterns: [EMAIL_PATTERN],
  };
}

type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

export class World {
  pg!: PostgresInstance;
  opa = new OpaServer();
  idp = new TestIdp();
  chat = new FakeUpstream();
  embed = new FakeUpstream();
  s3 = new TestS3();
  readonly data = testOpaData();
  readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-gw-"));
  private readonly gateways: Gateway[] = [];

  async start(): Promise<void> {
    const [pg] = await Promise.all([
      startPostgres(),
      this.opa.start(this.data),
      this.idp.start(),
      this.chat.start(),
      this.embed.start(),
      this.s3.start(),
    ]);
    this.pg = pg;
    await this.idp.addKey("RS256");
    await this.idp.addKey("ES256");
    await this.idp.addKey("EdDSA");
  }

  async stop(): Promise<void> {
    for (const g of this.gateways) await g.stop().catch(() => undefined);
    await Promise.all([
      this.opa.stop(),
      this.idp.stop(),
      this.chat.stop(),
      this.embed.stop(),
      this.s3.stop(),
    ]);
    this.pg?.destroy();
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  catalog(): Catalog {
    return catalogOf(this.data, {
      "tiny-chat": this.chat.url,
      "tiny-embed": this.embed.url,
      "secret-chat": this.chat.url,
    });
  }

  /** The environment a deployed gateway would get (for child-process gateways). */
  env(spillDir: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      GATEWAY_PORT: "0",
      GATEWAY_METRICS_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_OPA_URL: this.opa.url,
      // The world's OPA decides (policy-wasm.test.ts runs the in-process policy).
      GATEWAY_POLICY: "opa",
      GATEWAY_OIDC_ISSUER: this.idp.issuer,
      GATEWAY_OIDC_AUDIENCE: this.idp.audience,
      PGHOST: "127.0.0.1",
      PGPORT: String(this.pg.port),
      PGUSER: "postgres",
      PGDATABASE: "postgres",
      GATEWAY_CATALOG: JSON.stringify(this.catalog()),
      GATEWAY_CAPTURE_BUCKET: BUCKET,
      AWS_ENDPOINT_URL_S3: this.s3.url,
      AWS_REGION: this.s3.region,
      AWS_ACCESS_KEY_ID: this.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.s3.secretAccessKey,
      GATEWAY_S3_FORCE_PATH_STYLE: "true",
      GATEWAY_SPILL_DIR: spillDir,
      GATEWAY_FLUSH_INTERVAL_MS: "50",
      GATEWAY_RETRY_INTERVAL_MS: "200",
      ...extra,
    };
  }

  config(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
    return {
      port: 0,
      host: "127.0.0.1",
      maxBodyBytes: 64 * 1024,
      opaUrl: this.opa.url,
      policy: { mode: "opa", dir: "", pollMs: 0 },
      metricsPort: 0,
      opaTimeoutMs: 1000,
      guardTimeoutMs: 0,
      guardStreamWindowChars: 200,
      opaMsPerMiB: 1000,
      receiveTimeoutMs: 30_000,
      maxJsonDepth: 64,
      captureMaxChars: 4_194_304,
      auditSync: false,
      upstreamTimeoutMs: 10_000,
      oidc: {
        issuer: this.idp.issuer,
        audience: this.idp.audience,
        groupsClaim: "groups",
        clockToleranceSec: 30,
        jwksCooldownMs: 0,
      },
      postgres: this.postgresAs("postgres", "postgres"),
      s3: {
        endpoint: this.s3.url,
        region: this.s3.region,
        bucket: BUCKET,
        forcePathStyle: true,
        prefix: "captures/",
      },
      spillDir: fs.mkdtempSync(path.join(this.tmp, "spill-")),
      captureQueueMax: 10_000,
      auditQueueMax: 50_000,
      flushIntervalMs: 50,
      retryIntervalMs: 200,
      drainTimeoutMs: 5000,
      apiKeys: true,
      apiKeyCacheMs: 30_000,
      accessLog: true,
      instanceId: "test",
      catalog: this.catalog(),
      ...overrides,
    };
  }

  s3Env(): Record<string, string> {
    return { AWS_ACCESS_KEY_ID: this.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: this.s3.secretAccessKey };
  }

  /** Starts an in-process gateway; its log lines are collected in `lines`. */
  async gateway(
    overrides: Partial<GatewayConfig> = {},
  ): Promise<{ gw: Gateway; url: string; metricsUrl: string; lines: string[]; log: Logger }> {
    const lines: string[] = [];
    const log = createLogger((l) => lines.push(l));
    const gw = new Gateway({ config: this.config(overrides), log, env: this.s3Env(), usageSyncMs: 200 });
    this.gateways.push(gw);
    const port = await gw.start();
    return {
      gw,
      url: `${overrides.tls ? "https" : "http"}://127.0.0.1:${port}`,
      metricsUrl: `http://127.0.0.1:${gw.metricsPort}`,
      lines,
      log,
    };
  }

  /**
   * A gateway whose `tiny-chat` route is a model server that answers every chat completion with
   * `answer()` (non-streaming, 5 completion tokens). `close()` stops that model server.
   */
  async gatewayAnswering(
    answer: () => string,
    overrides: Partial<GatewayConfig> = {},
  ): Promise<{ url: string; close: () => void }> {
    const up = http.createServer((_q, s) =>
      s.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id: "x",
          object: "chat.completion",
          choices: [{ index: 0, message: { role: "assistant", content: answer() }, finish_reason: "stop" }],
          usage: { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 },
        }),
      ),
    );
    await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
    const cat = this.catalog();
    const { url } = await this.gateway({
      ...overrides,
      catalog: {
        ...cat,
        routes: { ...cat.routes, "tiny-chat": `http://127.0.0.1:${(up.address() as AddressInfo).port}` },
      },
    });
    return { url, close: () => up.close() };
  }

  async query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new Client({
      host: "127.0.0.1",
      port: this.pg.port,
      user: "postgres",
      database: "postgres",
      types: TEST_TYPES,
    });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  /**
   * What the substrates' login jobs create for the flywheel registry: the gateway's own login
   * owning its database `gateway` (CONNECT revoked from PUBLIC) and a login per `writers` role.
   * A gateway logs in there with `gatewayPostgres()`.
   */
  async gatewayOwnsItsDatabase(writers: readonly string[] = []): Promise<void> {
    await this.query("CREATE ROLE gateway LOGIN");
    await this.query("CREATE DATABASE gateway OWNER gateway");
    await this.query("REVOKE ALL ON DATABASE gateway FROM PUBLIC");
    for (const w of writers) await this.query(`CREATE ROLE "${w}" LOGIN`);
  }

  /**
   * A gateway with the flywheel on for `adapters` (team: its adapter; the other teams without one),
   * logged in as its own role to its own database (`gatewayOwnsItsDatabase`), syncing the
   * registry every 100 ms.
   */
  flywheelGateway(adapters: Readonly<Record<string, string>>): Partial<GatewayConfig> {
    const catalog = this.catalog();
    const teams = { ...catalog.teams };
    for (const [team, flywheelAdapter] of Object.entries(adapters)) {
      if (!(team in teams)) throw new Error(`flywheelGateway: no team "${team}" in the test catalog`);
      teams[team] = { ...teams[team], flywheelAdapter };
    }
    return { postgres: this.gatewayPostgres(), flywheelSyncMs: 100, catalog: { ...catalog, teams } };
  }

  /** The `postgres` config of a gateway that logs in as its own role to its own database. */
  gatewayPostgres(): GatewayConfig["postgres"] {
    return this.postgresAs("gateway", "gateway");
  }

  private postgresAs(user: string, database: string): GatewayConfig["postgres"] {
    return { host: "127.0.0.1", port: this.pg.port, database, user, sslMode: "disable", poolSize: 4 };
  }

  /** The captured record of request `id` and the key of its object (waits for its batch to land). */
  capturedRecord(id: string): Promise<{ key: string; record: Record<string, unknown> }> {
    return this.until(
      () =>
        this.s3
          .records(BUCKET)
          .flatMap((o) => o.lines.map((record) => ({ key: o.key, record })))
          .find((x) => x.record.requestId === id),
      `the captured record of ${id}`,
    );
  }

  /** Polls `fn` until it returns a truthy value (bounded: `tries` × `everyMs`). */
  async until<T>(fn: () => Promise<T> | T, what: string, tries = 200, everyMs = 50): Promise<Truthy<T>> {
    let last: T | undefined;
    for (let i = 0; i < tries; i++) {
      last = await fn();
      if (last) return last as Truthy<T>;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
  }
}
