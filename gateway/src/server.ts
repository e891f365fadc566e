/**
 * The gateway: an OpenAI-compatible HTTP server (node:http, no framework) that authenticates,
 * asks OPA, enforces budgets, proxies to the model server of the requested model (SSE streamed
 * through event by event), and records one audit row per request plus, where the decision's
 * obligations allow, a redacted capture record. Audit and capture never sit on the response
 * path: both go to non-blocking durable queues.
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { Pool } from "pg";
import type { AuthzDecision, AuthzInput } from "../../components/lib/contracts";
import { Authenticator, type Principal } from "./auth";
import { captureSink, compilePatterns, redact, type CaptureRecord } from "./capture";
import { routeFor, type GatewayConfig } from "./config";
import { createPool, insertAudit, lookupApiKey, migrate, pruneUsage, readUsage, type AuditRow } from "./db";
import { ApiError, errors, sendError } from "./errors";
import { createLogger, type Logger } from "./log";
import { createMetrics, type Metrics } from "./metrics";
import { OpaClient, OpaUnavailable } from "./opa";
import { QuotaTracker, quotaReason, retryAfter } from "./quota";
import { credentialsProvider, S3Client } from "./s3";
import { SpillQueue } from "./spill-queue";

type Endpoint = AuthzInput["request"]["endpoint"];
const INFERENCE: ReadonlySet<string> = new Set(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly log?: Logger;
  /** Environment for S3 credentials. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Interval of the cluster-wide usage sync, ms. @default 5000 */
  readonly usageSyncMs?: number;
}

/** Per-request state, collected for the audit row, metrics and the access log. */
interface Ctx {
  readonly id: string;
  readonly t0: number;
  readonly ts: string;
  endpoint: string;
  principal?: Principal;
  model: string;
  decision: AuditRow["decision"];
  reasons: readonly string[];
  status: number;
  tokensIn: number;
  tokensOut: number;
  upstreamMs: number;
  streamed: boolean;
  captured: boolean;
}

const now = () => performance.now();

export class Gateway {
  readonly server: http.Server;
  readonly metrics: Metrics;
  readonly log: Logger;
  private readonly pool: Pool;
  private readonly opa: OpaClient;
  private readonly auth: Authenticator;
  private readonly quota = new QuotaTracker();
  private readonly audit: SpillQueue<AuditRow>;
  private readonly capture?: SpillQueue<CaptureRecord>;
  private readonly s3?: S3Client;
  private readonly agents = new Map<string, http.Agent>();
  private readonly active = new Set<http.ServerResponse>();
  private migrated = false;
  private draining = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly cfg: GatewayConfig;

  constructor(private readonly o: GatewayOptions) {
    const cfg = (this.cfg = o.config);
    this.log = o.log ?? createLogger();
    this.metrics = createMetrics();
    this.pool = createPool(cfg.postgres, this.log);
    this.opa = new OpaClient(cfg.opaUrl, cfg.opaTimeoutMs);
    this.auth = new Authenticator({
      oidc: cfg.oidc,
      catalog: cfg.catalog,
      apiKeys: cfg.apiKeys ? (h) => lookupApiKey(this.pool, h) : undefined,
    });
    this.audit = new SpillQueue<AuditRow>({
      name: "audit",
      dir: `${cfg.spillDir}/audit`,
      instanceId: cfg.instanceId,
      maxInMemory: cfg.auditQueueMax,
      batchSize: 500,
      flushIntervalMs: cfg.flushIntervalMs,
      retryIntervalMs: cfg.retryIntervalMs,
      deliver: (b) => insertAudit(this.pool, b),
      onDepth: (m, d) => this.metrics.auditSpill.set(m + d),
      onDropped: () => undefined,
      log: this.log,
    });
    if (cfg.s3) {
      this.s3 = new S3Client({
        endpoint: cfg.s3.endpoint,
        region: cfg.s3.region,
        bucket: cfg.s3.bucket,
        forcePathStyle: cfg.s3.forcePathStyle,
        credentials: credentialsProvider(o.env ?? process.env),
      });
      this.capture = new SpillQueue<CaptureRecord>({
        name: "capture",
        dir: `${cfg.spillDir}/capture`,
        instanceId: cfg.instanceId,
        maxInMemory: cfg.captureQueueMax,
        batchSize: 1000,
        flushIntervalMs: cfg.flushIntervalMs,
        retryIntervalMs: cfg.retryIntervalMs,
        deliver: captureSink(this.s3, cfg.s3.prefix),
        onDepth: (m, d) => {
          this.metrics.captureQueue.set(m);
          this.metrics.captureSpill.set(d);
        },
        onDropped: (n) => this.metrics.captureDropped.inc(n),
        log: this.log,
      });
    }
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
    this.server.requestTimeout = 0; // streams may be long; the upstream timeout bounds them
  }

  /** Picks up spilled records, runs migrations (retried in the background) and listens. */
  async start(): Promise<number> {
    await this.audit.start();
    await this.capture?.start();
    await this.tryMigrate();
    if (!this.migrated) {
      const t = setInterval(() => {
        void this.tryMigrate().then(() => this.migrated && clearInterval(t));
      }, 2000);
      t.unref();
      this.timers.push(t);
    }
    const sync = setInterval(() => void this.syncUsage(), this.o.usageSyncMs ?? 5000);
    sync.unref();
    this.timers.push(sync);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.cfg.port, this.cfg.host, () => resolve());
    });
    const port = (this.server.address() as { port: number }).port;
    this.log.info("gateway listening", { port, instance: this.cfg.instanceId });
    this.log.flush();
    return port;
  }

  private async tryMigrate(): Promise<void> {
    try {
      const applied = await migrate(this.pool);
      this.migrated = true;
      if (applied.length) this.log.info("migrations applied", { versions: applied.map(String) });
      void this.syncUsage();
    } catch (e) {
      this.log.warn("migrations not applied yet", { error: (e as Error).message });
    }
  }

  private async syncUsage(): Promise<void> {
    if (!this.migrated) return;
    const mark = this.quota.beginSync();
    try {
      const totals = await readUsage(this.pool);
      this.quota.endSync(mark, totals);
      if (Math.random() < 0.01) await pruneUsage(this.pool);
    } catch {
      // Postgres unavailable: keep counting locally.
    }
  }

  /**
   * Graceful shutdown: stop accepting, report not ready, wait for open requests and streams
   * (up to the drain timeout), then flush audit rows and captures (to their sinks or to disk).
   */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info("draining", { open: this.active.size });
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    const until = Date.now() + this.cfg.drainTimeoutMs;
    while (this.active.size && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    await closed;
    for (const t of this.timers) clearInterval(t);
    await this.audit.close(2000);
    await this.capture?.close(2000);
    this.opa.close();
    this.s3?.close();
    for (const a of this.agents.values()) a.destroy();
    await this.pool.end().catch(() => undefined);
    this.log.info("stopped");
    this.log.flush();
  }

  // ---------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path === "/healthz") return plain(res, 200, '{"status":"ok"}');
    if (path === "/readyz") {
      const ok = this.migrated && !this.draining;
      return plain(
        res,
        ok ? 200 : 503,
        JSON.stringify({ status: ok ? "ready" : this.draining ? "draining" : "starting" }),
      );
    }
    if (path === "/metrics") {
      const body = await this.metrics.registry.metrics();
      res.writeHead(200, { "content-type": this.metrics.registry.contentType });
      res.end(body);
      return;
    }
    if (path !== "/v1/models" && !INFERENCE.has(path)) {
      return sendError(res, errors.notFound(`unknown path "${path}"`, "unknown_url"));
    }
    const t0 = now();
    const rid = req.headers["x-request-id"];
    const ctx: Ctx = {
      id: typeof rid === "string" && /^[\w.-]{1,128}$/.test(rid) ? rid : randomUUID(),
      t0,
      ts: new Date().toISOString(),
      endpoint: path,
      model: "",
      decision: "none",
      reasons: [],
      status: 0,
      tokensIn: 0,
      tokensOut: 0,
      upstreamMs: 0,
      streamed: false,
      captured: false,
    };
    res.setHeader("x-request-id", ctx.id);
    this.active.add(res);
    try {
      if (this.draining) res.setHeader("connection", "close");
      if (path === "/v1/models") {
        if (req.method !== "GET") throw errors.methodNotAllowed(req.method ?? "");
        await this.listModels(req, res, ctx);
      } else {
        if (req.method !== "POST") throw errors.methodNotAllowed(req.method ?? "");
        await this.inference(req, res, ctx);
      }
    } catch (e) {
      const err = e instanceof ApiError ? e : errors.unavailable("internal error", "internal_error");
      if (!(e instanceof ApiError))
        this.log.error("unhandled error", { requestId: ctx.id, error: String(e) });
      ctx.status = err.status;
      if (err.status === 413) res.setHeader("connection", "close");
      sendError(res, err);
    } finally {
      this.active.delete(res);
      this.finish(ctx);
    }
  }

  /** Records the audit row, metrics and access log line of a finished request. */
  private finish(ctx: Ctx): void {
    const ms = now() - ctx.t0;
    const team = ctx.principal?.team ?? "";
    const m = this.metrics;
    m.requests.inc({ team, model: ctx.model, endpoint: ctx.endpoint, status: String(ctx.status) });
    m.duration.observe({ endpoint: ctx.endpoint }, ms / 1000);
    m.added.observe({ endpoint: ctx.endpoint }, Math.max(0, ms - ctx.upstreamMs) / 1000);
    if (ctx.tokensIn || ctx.tokensOut) {
      m.tokens.inc({ team, model: ctx.model, direction: "in" }, ctx.tokensIn);
      m.tokens.inc({ team, model: ctx.model, direction: "out" }, ctx.tokensOut);
      if (team) this.quota.addTokens(team, ctx.tokensIn + ctx.tokensOut);
    }
    this.audit.push({
      requestId: ctx.id,
      ts: ctx.ts,
      subject: ctx.principal?.sub ?? "",
      authKind: ctx.principal?.kind ?? "none",
      team,
      model: ctx.model,
      endpoint: ctx.endpoint,
      tokensIn: ctx.tokensIn,
      tokensOut: ctx.tokensOut,
      latencyMs: Math.round(ms * 1000) / 1000,
      decision: ctx.decision,
      reasons: ctx.reasons,
      status: ctx.status,
      streamed: ctx.streamed,
      captured: ctx.captured,
      instance: this.cfg.instanceId,
    });
    if (this.cfg.accessLog) {
      this.log.info("request", {
        requestId: ctx.id,
        team,
        sub: ctx.principal?.sub,
        model: ctx.model,
        endpoint: ctx.endpoint,
        status: ctx.status,
        ms: Math.round(ms * 100) / 100,
        tokensIn: ctx.tokensIn,
        tokensOut: ctx.tokensOut,
        reasons: ctx.reasons.length ? ctx.reasons : undefined,
      });
    }
  }

  private async authorize(ctx: Ctx, input: AuthzInput): Promise<AuthzDecision> {
    try {
      return await this.opa.decide(input);
    } catch (e) {
      this.metrics.opaErrors.inc();
      ctx.decision = "error";
      if (e instanceof OpaUnavailable)
        this.log.warn("opa unavailable", { requestId: ctx.id, error: e.message });
      throw errors.unavailable("authorization service unavailable", "authorization_unavailable");
    }
  }

  private async listModels(req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx): Promise<void> {
    ctx.model = "*";
    const p = (ctx.principal = await this.auth.authenticate(
      req.headers.authorization,
      header(req, "x-sovereign-team"),
    ));
    const usage = this.quota.snapshot(p.team);
    const context = { time: ctx.ts, clientAddress: req.socket.remoteAddress ?? "", usage };
    // The listing itself (membership, request rate) ...
    const listing = await this.authorize(ctx, {
      subject: subject(p),
      request: { model: "", endpoint: "/v1/models", estimatedTokens: 0 },
      context,
    });
    ctx.reasons = listing.reasons;
    if (!listing.allow) {
      ctx.decision = "deny";
      for (const r of listing.reasons) this.metrics.denials.inc({ team: p.team, reason: r });
      throw errors.forbidden(listing.reasons);
    }
    // ... then, per model, the decision a call to it would get (no prompt, so no guard call).
    const names = Object.keys(this.cfg.catalog.models)
      .filter((m) => this.cfg.catalog.models[m].role !== "guard")
      .sort();
    const decisions = await Promise.all(
      names.map((model) =>
        this.authorize(ctx, {
          subject: subject(p),
          request: {
            model,
            endpoint:
              this.cfg.catalog.models[model].role === "embedding" ? "/v1/embeddings" : "/v1/chat/completions",
            estimatedTokens: 0,
          },
          context,
        }),
      ),
    );
    ctx.decision = "allow";
    const created = 0;
    const data = names
      .filter((_, i) => decisions[i].allow)
      .map((id) => {
        const base = this.cfg.catalog.models[id].baseModel;
        return {
          id,
          object: "model",
          created,
          owned_by: "sovereign",
          root: base ?? id,
          parent: base ?? null,
        };
      });
    ctx.status = 200;
    json(res, 200, JSON.stringify({ object: "list", data }));
  }

  private async inference(req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx): Promise<void> {
    const endpoint = ctx.endpoint as Endpoint;
    const ct = header(req, "content-type") ?? "";
    const p = (ctx.principal = await this.auth.authenticate(
      req.headers.authorization,
      header(req, "x-sovereign-team"),
    ));
    if (!/^application\/json\s*(;|$)/i.test(ct)) throw errors.unsupportedMediaType(ct);
    const raw = await readBody(req, this.cfg.maxBodyBytes);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      throw errors.badRequest(`request body is not valid JSON: ${(e as Error).message}`);
    }
    if (!body || typeof body !== "object" || Array.isArray(body))
      throw errors.badRequest("expected a JSON object");
    if (typeof body.model !== "string" || !body.model)
      throw errors.badRequest('expected a string "model"', "model");
    const model = (ctx.model = body.model);
    const route = routeFor(this.cfg.catalog, model);
    if (!route) throw errors.notFound(`the model "${model}" does not exist`, "model_not_found");
    const stream = endpoint !== "/v1/embeddings" && body.stream === true;
    ctx.streamed = stream;

    const team = this.cfg.catalog.teams[p.team];
    const usage = this.quota.admit(p.team, team.budgets);
    const text = promptText(endpoint, body);
    const decision = await this.authorize(ctx, {
      subject: subject(p),
      request: {
        model,
        endpoint,
        ...(text.messages ? { messages: text.messages } : { prompt: text.prompt }),
        estimatedTokens: Math.ceil(text.chars / 4) + maxTokens(body),
      },
      context: { time: ctx.ts, clientAddress: req.socket.remoteAddress ?? "", usage },
    });
    ctx.decision = decision.allow ? "allow" : "deny";
    ctx.reasons = decision.reasons;
    if (!decision.allow) {
      for (const r of decision.reasons.length ? decision.reasons : ["denied"])
        this.metrics.denials.inc({ team: p.team, reason: r });
      const q = quotaReason(decision.reasons);
      if (q)
        throw errors.rateLimited(
          `budget exceeded: ${decision.reasons.join(", ")}`,
          decision.reasons[0],
          retryAfter(q, Date.now()),
        );
      throw errors.forbidden(decision.reasons);
    }

    let patterns: RegExp[] | undefined;
    if (decision.obligations.capture && this.capture && endpoint !== "/v1/embeddings") {
      try {
        patterns = compilePatterns([...this.cfg.catalog.redactPatterns, ...decision.obligations.redact]);
      } catch {
        this.metrics.captureDropped.inc(); // an unusable redaction pattern: never capture unredacted
      }
    }
    const includeUsage =
      stream && typeof body.stream_options === "object" && body.stream_options !== null
        ? (body.stream_options as Record<string, unknown>).include_usage === true
        : false;
    // Non-streaming bodies are forwarded as received; streaming ones gain include_usage.
    const upstreamBody = stream
      ? Buffer.from(
          JSON.stringify({
            ...body,
            stream_options: { ...(body.stream_options as object), include_usage: true },
          }),
        )
      : raw;
    await this.proxy(req, res, ctx, route + endpoint, upstreamBody, stream, includeUsage, (response) => {
      if (!patterns) return;
      ctx.captured = true;
      this.capture?.push(
        redact(
          {
            ts: ctx.ts,
            requestId: ctx.id,
            team: p.team,
            subject: p.sub,
            model,
            endpoint,
            request: body,
            response,
            usage: { promptTokens: ctx.tokensIn, completionTokens: ctx.tokensOut },
          },
          patterns,
        ),
      );
    });
  }

  private agent(url: URL): http.Agent {
    let a = this.agents.get(url.origin);
    if (!a) {
      const opts = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" as const };
      a = url.protocol === "https:" ? new https.Agent(opts) : new http.Agent(opts);
      this.agents.set(url.origin, a);
    }
    return a;
  }

  /**
   * Sends the request upstream and relays the answer. `onCaptured` receives the response
   * content (choices) of a successful request once it is complete.
   */
  private proxy(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: Ctx,
    target: string,
    body: Buffer,
    stream: boolean,
    clientWantsUsage: boolean,
    onCaptured: (response: unknown) => void,
  ): Promise<void> {
    const url = new URL(target);
    const wantCapture = ctx.decision === "allow";
    if (res.destroyed || req.socket.destroyed) {
      // The client left while we were deciding: do not spend the model's time.
      ctx.status = 499;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const tUp = now();
      let settled = false;
      let clientGone = false;
      const done = (err?: ApiError) => {
        if (settled) return;
        settled = true;
        ctx.upstreamMs = now() - tUp;
        if (err) reject(err);
        else resolve();
      };
      const up = (url.protocol === "https:" ? https : http).request(
        {
          protocol: url.protocol,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          agent: this.agent(url),
          timeout: this.cfg.upstreamTimeoutMs,
          headers: {
            "content-type": "application/json",
            "content-length": body.length,
            accept: stream ? "text/event-stream" : "application/json",
            "x-request-id": ctx.id,
          },
        },
        (ur) => {
          const status = ur.statusCode ?? 502;
          if (status >= 500) this.metrics.upstreamErrors.inc({ model: ctx.model });
          if (!stream || status !== 200) {
            const chunks: Buffer[] = [];
            ur.on("data", (c: Buffer) => chunks.push(c));
            ur.on("error", () => done(errors.badGateway("the model server connection failed")));
            ur.on("end", () => {
              const out = Buffer.concat(chunks);
              ctx.upstreamMs = now() - tUp;
              let parsed: { usage?: Usage; choices?: unknown[] } | undefined;
              if (status === 200) {
                try {
                  parsed = JSON.parse(out.toString("utf8")) as typeof parsed;
                } catch {
                  parsed = undefined;
                }
                countUsage(ctx, parsed?.usage);
              }
              ctx.status = status;
              res.writeHead(status, {
                "content-type": ur.headers["content-type"] ?? "application/json",
                "content-length": out.length,
              });
              res.end(out);
              if (status === 200 && wantCapture && parsed?.choices) onCaptured({ choices: parsed.choices });
              done();
            });
            return;
          }
          // Streaming: relay each complete SSE event as soon as it arrives.
          ctx.status = 200;
          res.writeHead(200, {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
          });
          res.flushHeaders();
          let first = true;
          let pending = "";
          const acc = new Map<number, string>();
          ur.setEncoding("utf8");
          ur.on("data", (chunk: string) => {
            pending += chunk;
            let cut = pending.lastIndexOf("\n\n");
            if (cut < 0) return;
            cut += 2;
            const complete = pending.slice(0, cut);
            pending = pending.slice(cut);
            let outText = complete;
            if (complete.includes('"usage"') || wantCapture) {
              outText = "";
              for (const ev of complete.split("\n\n")) {
                if (!ev) continue;
                if (!relayEvent(ev, ctx, clientWantsUsage, wantCapture ? acc : undefined)) continue;
                outText += ev + "\n\n";
              }
            }
            if (!outText) return;
            res.write(outText);
            if (first) {
              first = false;
              this.metrics.ttfb.observe({ model: ctx.model }, (now() - ctx.t0) / 1000);
            }
          });
          ur.on("error", () => done(errors.badGateway("the model server stream failed")));
          ur.on("end", () => {
            if (pending) res.write(pending);
            res.end();
            if (wantCapture) {
              const choices = [...acc]
                .sort(([a], [b]) => a - b)
                .map(([index, content]) =>
                  ctx.endpoint === "/v1/chat/completions"
                    ? { index, message: { role: "assistant", content } }
                    : { index, text: content },
                );
              onCaptured({ choices });
            }
            done();
          });
        },
      );
      up.on("timeout", () => up.destroy(Object.assign(new Error("upstream timeout"), { code: "ETIMEDOUT" })));
      up.on("error", (e: NodeJS.ErrnoException) => {
        this.metrics.upstreamErrors.inc({ model: ctx.model });
        if (res.headersSent) {
          // mid-stream: nothing sensible to send; close the client connection
          ctx.status = ctx.status || 502;
          res.destroy();
          return done();
        }
        if (clientGone) return done();
        if (e.code === "ETIMEDOUT") return done(errors.timeout("the model server did not answer in time"));
        done(errors.badGateway(`the model server for "${ctx.model}" is unreachable`));
      });
      // A client that goes away aborts the upstream request (and frees the GPU).
      res.on("close", () => {
        if (!res.writableFinished) {
          clientGone = true;
          ctx.status = 499;
          up.destroy();
          done();
        }
      });
      up.end(body);
    });
  }
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

function countUsage(ctx: Ctx, u: Usage | null | undefined): void {
  if (!u) return;
  ctx.tokensIn = Number(u.prompt_tokens) || 0;
  ctx.tokensOut = Number(u.completion_tokens) || 0;
}

/** Inspects one SSE event; returns false when it must not be forwarded (the usage-only chunk the client did not ask for). */
function relayEvent(
  ev: string,
  ctx: Ctx,
  clientWantsUsage: boolean,
  acc: Map<number, string> | undefined,
): boolean {
  if (!ev.startsWith("data:")) return true;
  const data = ev.slice(5).trim();
  if (data === "[DONE]") return true;
  let chunk: {
    usage?: Usage | null;
    choices?: { index?: number; delta?: { content?: string }; text?: string }[];
  };
  try {
    chunk = JSON.parse(data) as typeof chunk;
  } catch {
    return true;
  }
  if (acc && chunk.choices) {
    for (const c of chunk.choices) {
      const piece = c.delta?.content ?? c.text;
      if (typeof piece === "string") acc.set(c.index ?? 0, (acc.get(c.index ?? 0) ?? "") + piece);
    }
  }
  if (chunk.usage) {
    countUsage(ctx, chunk.usage);
    if (!clientWantsUsage && (!chunk.choices || chunk.choices.length === 0)) return false;
  }
  return true;
}

function subject(p: Principal): AuthzInput["subject"] {
  return { sub: p.sub, groups: p.groups, team: p.team, ...(p.clearance ? { clearance: p.clearance } : {}) };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function plain(res: http.ServerResponse, status: number, body: string): void {
  json(res, status, body);
}

function json(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Reads the body up to `max` bytes; a larger one is a 413 (checked on Content-Length first). */
export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > max) {
    req.resume();
    return Promise.reject(errors.tooLarge(max));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > max) {
        failed = true;
        reject(errors.tooLarge(max));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => !failed && resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on(
      "error",
      (e) => !failed && reject(errors.badRequest(`request body could not be read: ${e.message}`)),
    );
  });
}

/** The text the policy sees (and the token estimate is based on). Content parts are flattened to text. */
function promptText(
  endpoint: Endpoint,
  body: Record<string, unknown>,
): { messages?: { role: string; content: string }[]; prompt?: string; chars: number } {
  if (endpoint === "/v1/chat/completions" && Array.isArray(body.messages)) {
    let chars = 0;
    const messages = body.messages.map((m: unknown) => {
      const mm = (m ?? {}) as { role?: unknown; content?: unknown };
      const content = flatten(mm.content);
      chars += content.length;
      return { role: String(mm.role ?? ""), content };
    });
    return { messages, chars };
  }
  const src = endpoint === "/v1/embeddings" ? body.input : body.prompt;
  const prompt = flatten(src);
  return { prompt, chars: prompt.length };
}

function flatten(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    return v
      .map((p) =>
        typeof p === "string"
          ? p
          : p && typeof p === "object" && "text" in p
            ? String((p as { text: unknown }).text)
            : "",
      )
      .filter(Boolean)
      .join("\n");
  }
  return "";
}

function maxTokens(body: Record<string, unknown>): number {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === "number" && v > 0 ? v : 0;
}
