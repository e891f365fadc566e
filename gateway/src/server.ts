/**
 * The gateway: an OpenAI-compatible HTTP server (node:http, no framework) that authenticates,
 * asks OPA, enforces budgets, proxies to the model server of the requested model (SSE streamed
 * through event by event), and records one audit row per request plus, where the decision's
 * obligations allow, a redacted capture record. Audit and capture never sit on the response
 * path: both go to non-blocking durable queues.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { Pool } from "pg";
import { Authenticator } from "./auth";
import { captureSink, type CaptureRecord } from "./capture";
import { MIGRATION_LOCK_WAIT_MS, modelApiKeyFor, type GatewayConfig } from "./config";
import {
  createPool,
  insertAudit,
  isDataError,
  lookupApiKey,
  migrate,
  MigrationLockTimeout,
  pruneUsage,
  readUsage,
  type AuditRow,
} from "./db";
import { ApiError, errors, sendError } from "./errors";
import { createLogger, type Logger } from "./log";
import { createMetrics, type Metrics } from "./metrics";
import { GuardClient } from "./guard";
import { OpaClient } from "./opa";
import { DeferredPolicy, WasmPolicy } from "./policy";
import {
  flywheelWriters,
  grantFlywheelWriter,
  migrateFlywheel,
  reconcileFlywheelWriters,
  serving,
} from "./flywheel/registry";
import { initialView, refreshView, type AdapterView } from "./flywheel/classification";
import { account, journal, type AccountDeps } from "./pipeline/account";
import { INFERENCE_ENDPOINTS, newContext } from "./pipeline/context";
import type { PipelineDeps } from "./pipeline/deps";
import { inference } from "./pipeline/inference";
import { listModels, sendJson } from "./pipeline/models";
import { UpstreamAgents } from "./pipeline/proxy";
import { Redactor } from "./pipeline/capture";
import { QuotaTracker } from "./quota";
import { DEFAULT_ROUTING, Router } from "./routing/router";
import { credentialsProvider, S3Client } from "./s3";
import { SpillQueue } from "./spill-queue";

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly log?: Logger;
  /** Environment for S3 credentials. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Interval of the cluster-wide usage sync, ms. @default 5000 */
  readonly usageSyncMs?: number;
}

export class Gateway {
  /** The API listener: HTTPS when `config.tls` is set (the certificate re-read on rotation). */
  readonly server: http.Server | https.Server;
  /** Serves `/metrics` only, on its own port (reachable from the monitoring namespace only). */
  readonly metricsServer: http.Server;
  metricsPort = 0;
  readonly metrics: Metrics;
  readonly log: Logger;
  private readonly pool: Pool;
  private readonly opa: OpaClient;
  private readonly policy = new DeferredPolicy();
  private readonly guard: GuardClient;
  private readonly auth: Authenticator;
  private readonly quota = new QuotaTracker();
  private readonly audit: SpillQueue<AuditRow>;
  private readonly capture?: SpillQueue<CaptureRecord>;
  private readonly s3?: S3Client;
  private readonly agents: UpstreamAgents;
  /** Picks a replica of each model server (discovered from its EndpointSlices). */
  readonly router: Router;
  private readonly deps: PipelineDeps;
  private readonly accountDeps: AccountDeps;
  private readonly active = new Set<http.ServerResponse>();
  private migrated = false;
  /**
   * The teams' flywheel writer roles that have their grants (each may be created after the
   * gateway starts); the others are tried again at every registry sync.
   */
  private readonly writersGranted = new Set<string>();
  private draining = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly cfg: GatewayConfig;
  /** The in-process policy (mode `wasm`), once started. */
  wasm?: WasmPolicy;
  /** Digest of the certificate and key being served (TLS only). */
  private tlsDigest = "";
  /**
   * The flywheel adapters' versions and classifications, refreshed from the registry (schema
   * `flywheel`); until the first read, every flywheel adapter counts as restricted.
   */
  private adapters: AdapterView;

  constructor(private readonly o: GatewayOptions) {
    const cfg = (this.cfg = o.config);
    this.log = o.log ?? createLogger();
    this.adapters = initialView(cfg.catalog);
    this.metrics = createMetrics();
    this.pool = createPool(cfg.postgres, this.log);
    this.opa = new OpaClient(cfg.opaUrl, cfg.opaTimeoutMs);
    // the guard model's key goes to the guard model's server only
    this.guard = new GuardClient({
      apiKeyFor: (u) => modelApiKeyFor(cfg.modelApiKeys, u),
      // the guard is a model server: its certificate is verified against the model CA alone
      ...(cfg.modelCa ? { ca: cfg.modelCa } : {}),
      log: this.log,
    });
    this.agents = new UpstreamAgents(cfg.modelCa ? { ca: cfg.modelCa } : {});
    this.auth = new Authenticator({
      oidc: cfg.oidc,
      catalog: cfg.catalog,
      apiKeys: cfg.apiKeys ? (h) => lookupApiKey(this.pool, h) : undefined,
      apiKeyCacheMs: cfg.apiKeyCacheMs,
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
      isPoison: isDataError,
      onDeadLetter: (n) => this.metrics.auditDeadLetters.inc(n),
      onDepth: (m, d) => this.metrics.auditSpill.set(m + d),
      onDropped: (n) => this.metrics.auditDropped.inc(n),
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
    this.accountDeps = {
      metrics: this.metrics,
      quota: this.quota,
      audit: this.audit,
      log: this.log,
      instanceId: cfg.instanceId,
      accessLog: cfg.accessLog,
      catalog: cfg.catalog,
      auditSync: cfg.auditSync,
    };
    this.router = new Router({
      settings: cfg.routing ?? DEFAULT_ROUTING,
      routes: [...new Set(Object.values(cfg.catalog.routes))],
      ...(cfg.modelApiKeys ? { apiKeys: cfg.modelApiKeys } : {}),
      ...(cfg.modelCa ? { ca: cfg.modelCa } : {}),
      log: this.log,
      metrics: this.metrics,
      env: o.env,
    });
    this.deps = {
      cfg,
      log: this.log,
      metrics: this.metrics,
      auth: this.auth,
      opa: this.opa,
      policy: this.policy,
      guard: this.guard,
      quota: this.quota,
      audit: this.audit,
      capture: this.capture,
      agents: this.agents,
      redactPatterns: cfg.catalog.redactPatterns,
      redactor: this.capture
        ? new Redactor({
            queue: this.capture,
            metrics: this.metrics,
            log: this.log,
            maxPending: cfg.captureQueueMax,
            maxChars: cfg.captureMaxChars,
          })
        : undefined,
      accountDeps: this.accountDeps,
      adapters: () => this.adapters,
      router: this.router,
    };

    // A client has receiveTimeoutMs to send headers and body (a stalled one gets 408 and is
    // closed); the time to answer is not bounded here (streams may be long; the upstream
    // timeout bounds them).
    const serverOpts: http.ServerOptions = {
      requestTimeout: cfg.receiveTimeoutMs,
      headersTimeout: cfg.receiveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(cfg.receiveTimeoutMs / 4))),
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    if (cfg.tls) {
      const pair = readKeyPair(cfg.tls);
      this.tlsDigest = pair.digest;
      this.server = https.createServer({ ...serverOpts, cert: pair.cert, key: pair.key }, handler);
    } else {
      this.server = http.createServer(serverOpts, handler);
    }
    this.server.keepAliveTimeout = 65_000;
    this.metricsServer = http.createServer(
      { requestTimeout: 10_000, headersTimeout: 10_000 },
      (req, res) => void this.serveMetrics(req, res),
    );
  }

  /** Picks up spilled records, runs migrations (retried in the background) and listens. */
  async start(): Promise<number> {
    if (this.cfg.policy.mode === "opa") this.policy.use(this.opa);
    else {
      const wasm = await WasmPolicy.open({
        dir: this.cfg.policy.dir,
        pollMs: this.cfg.policy.pollMs,
        onReload: (e) => {
          if (e.error) {
            this.metrics.policyReloadErrors.inc();
            this.log.error("policy not reloaded; the previous one stays", {
              digest: e.digest,
              error: e.error,
            });
          } else this.log.info("policy reloaded", { digest: e.digest });
        },
      });
      this.wasm = wasm;
      this.policy.use(wasm);
      this.log.info("policy loaded (in process)", { digest: wasm.digest, dir: this.cfg.policy.dir });
    }
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
    if (this.cfg.tls) {
      const reload = setInterval(() => this.reloadCertificate(), this.cfg.tls.reloadMs);
      reload.unref();
      this.timers.push(reload);
    }
    await this.syncAdapters();
    this.router.start();
    const adapters = setInterval(() => void this.syncAdapters(), this.cfg.flywheelSyncMs ?? 10_000);
    adapters.unref();
    this.timers.push(adapters);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.cfg.port, this.cfg.host, () => resolve());
    });
    const port = (this.server.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      this.metricsServer.once("error", reject);
      this.metricsServer.listen(this.cfg.metricsPort, this.cfg.host, () => resolve());
    });
    this.metricsPort = (this.metricsServer.address() as { port: number }).port;
    this.log.info("gateway listening", {
      port,
      metricsPort: this.metricsPort,
      instance: this.cfg.instanceId,
    });
    this.log.flush();
    return port;
  }

  /**
   * Serves a rotated certificate (cert-manager renews the Secret, the kubelet swaps the mounted
   * files) to new connections; open ones keep theirs. A half-written pair (the key does not
   * match the certificate) is skipped and tried again on the next tick.
   */
  reloadCertificate(): boolean {
    const t = this.cfg.tls;
    if (!t || !(this.server instanceof https.Server)) return false;
    try {
      const pair = readKeyPair(t);
      if (pair.digest === this.tlsDigest) return false;
      this.server.setSecureContext({ cert: pair.cert, key: pair.key });
      this.tlsDigest = pair.digest;
      this.log.info("tls certificate reloaded", { certFile: t.certFile });
      return true;
    } catch (e) {
      this.log.warn("tls certificate not reloaded", { error: (e as Error).message });
      return false;
    }
  }

  /** The migration run in progress: a retry while one waits for its lock joins it. */
  private migrating?: Promise<void>;

  private tryMigrate(): Promise<void> {
    this.migrating ??= this.migrateOnce().finally(() => (this.migrating = undefined));
    return this.migrating;
  }

  private async migrateOnce(): Promise<void> {
    const lockWaitMs = this.cfg.migrationLockWaitMs ?? MIGRATION_LOCK_WAIT_MS;
    try {
      const applied = await migrate(this.pool, lockWaitMs);
      // The flywheel registry (schema `flywheel`) is migrated here too, by the database's owner,
      // so it exists in every deployed stack; its writer role gets its grants when it exists.
      const registry = await migrateFlywheel(this.pool, lockWaitMs);
      this.migrated = true;
      if (applied.length) this.log.info("migrations applied", { versions: applied.map(String) });
      if (registry.length)
        this.log.info("flywheel registry migrations applied", { versions: registry.map(String) });
      await this.grantWriters();
      void this.syncUsage();
    } catch (e) {
      if (e instanceof MigrationLockTimeout)
        this.log.error("migrations not applied yet: their lock is held", {
          error: e.message,
          lockKey: String(e.key),
          waitedMs: e.waitMs,
          holders: e.holders.map((h) => `${h.pid}:${h.role ?? "unknown"}`),
        });
      else this.log.warn("migrations not applied yet", { error: (e as Error).message });
    }
  }

  /**
   * Each team's `fw-<team>` login (one per catalog team with a `flywheelAdapter`) is
   * created by the substrate (a login Job, a CloudNativePG managed role) independently of the
   * gateway's rollout, so it may appear after the start-up grants ran: until it exists, every
   * registry sync (`GATEWAY_FLYWHEEL_SYNC_MS`) checks again and grants it then, each role once.
   */
  private async grantWriters(): Promise<void> {
    if (!this.migrated) return;
    const writers = flywheelWriters(this.cfg.catalog.teams);
    for (const w of writers) {
      if (this.writersGranted.has(w.role)) continue;
      try {
        if (!(await grantFlywheelWriter(this.pool, w))) continue;
        this.writersGranted.add(w.role);
        this.log.info("flywheel registry writer granted", { role: w.role, team: w.team, adapter: w.adapter });
      } catch (e) {
        this.log.warn("flywheel registry writer not granted yet", {
          role: w.role,
          error: (e as Error).message,
        });
      }
    }
    // A role the catalog no longer names loses its row (so every registry right), and a granted
    // writer's row that a replica with an older catalog removed during a rollout comes back.
    try {
      const removed = await reconcileFlywheelWriters(
        this.pool,
        writers.filter((w) => this.writersGranted.has(w.role)),
        writers.map((w) => w.role),
      );
      if (removed.length) this.log.info("flywheel registry writers removed", { roles: removed });
    } catch (e) {
      this.log.warn("flywheel registry writers not reconciled", { error: (e as Error).message });
    }
  }

  /**
   * Reads which version of each flywheel adapter is promoted and which is in its canary (the
   * registry's open deployment rows), for the route stage's split and the adapters'
   * classifications in the policy input (flywheel/classification.ts). No registry yet (the
   * `flywheel` schema does not exist): no adapter is split, none is classified beyond the catalog.
   * A failed read keeps the last routes and classifications (before the first successful read:
   * every flywheel adapter restricted).
   */
  private async syncAdapters(): Promise<void> {
    await this.grantWriters();
    const { view, error } = await refreshView(this.adapters, () => serving(this.pool));
    this.adapters = view;
    if (error)
      this.log.warn("flywheel routes and classifications not refreshed; the last ones stay", {
        error: error.message,
        read: view.read,
      });
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
    const metricsClosed = new Promise<void>((r) => this.metricsServer.close(() => r()));
    this.metricsServer.closeAllConnections();
    this.server.closeIdleConnections();
    const until = Date.now() + this.cfg.drainTimeoutMs;
    while (this.active.size && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    await closed;
    await metricsClosed;
    for (const t of this.timers) clearInterval(t);
    this.router.stop();
    await this.deps.redactor?.close();
    await this.audit.close(2000);
    await this.capture?.close(2000);
    this.opa.close();
    this.guard.close();
    this.wasm?.close();
    this.s3?.close();
    this.agents.destroy();
    await this.pool.end().catch(() => undefined);
    this.log.info("stopped");
    this.log.flush();
  }

  // ---------------------------------------------------------------------------------------------

  private async serveMetrics(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") return sendError(res, errors.notFound(`unknown path "${path}"`, "unknown_url"));
    const body = await this.metrics.registry.metrics();
    res.writeHead(200, { "content-type": this.metrics.registry.contentType });
    res.end(body);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path === "/healthz") return sendJson(res, 200, '{"status":"ok"}');
    if (path === "/readyz") {
      // Not ready while migrations are pending, while draining, or while audit rows cannot
      // even be kept on disk (they would be lost).
      const status = this.draining
        ? "draining"
        : !this.migrated
          ? "starting"
          : this.audit.failing
            ? "audit_failing"
            : "ready";
      return sendJson(
        res,
        status === "ready" ? 200 : 503,
        JSON.stringify({
          status,
          audit: { spilled: this.audit.onDisk, deadLetters: this.audit.deadLetters },
        }),
      );
    }
    if (path !== "/v1/models" && !INFERENCE_ENDPOINTS.has(path)) {
      return sendError(res, errors.notFound(`unknown path "${path}"`, "unknown_url"));
    }
    const ctx = newContext(req, path);
    res.setHeader("x-request-id", ctx.id);
    this.active.add(res);
    try {
      if (this.draining) res.setHeader("connection", "close");
      if (path === "/v1/models") {
        if (req.method !== "GET") throw errors.methodNotAllowed(req.method ?? "");
        await listModels(this.deps, req, res, ctx);
      } else {
        if (req.method !== "POST") throw errors.methodNotAllowed(req.method ?? "");
        await inference(this.deps, req, res, ctx);
      }
    } catch (e) {
      const err = e instanceof ApiError ? e : errors.unavailable("internal error", "internal_error");
      if (!(e instanceof ApiError))
        this.log.error("unhandled error", { requestId: ctx.id, error: String(e) });
      ctx.status = err.status;
      if (err.status === 413) res.setHeader("connection", "close");
      await journal(this.accountDeps, ctx);
      sendError(res, err);
    } finally {
      this.active.delete(res);
      account(this.accountDeps, ctx);
    }
  }
}

/** The certificate and key files of the API listener, and a digest of both (to notice rotation). */
function readKeyPair(t: { certFile: string; keyFile: string }): {
  cert: string;
  key: string;
  digest: string;
} {
  const cert = fs.readFileSync(t.certFile, "utf8");
  const key = fs.readFileSync(t.keyFile, "utf8");
  return { cert, key, digest: createHash("sha256").update(cert).update("\0").update(key).digest("hex") };
}
