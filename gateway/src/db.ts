/**
 * Postgres: versioned migrations (run at startup under an advisory lock, so replicas starting
 * together apply each version once), audit inserts, cluster-wide usage for budgets and API key
 * lookups.
 */
import * as fs from "node:fs";
import * as tls from "node:tls";
import { Pool, type PoolClient, type QueryConfig } from "pg";
import { MAX_MIGRATION_LOCK_WAIT_MS, MIGRATION_LOCK_WAIT_MS, type PostgresConfig } from "./config";
import type { ApiKeyRecord } from "./auth";
import type { Batch } from "./spill-queue";
import type { Logger } from "./log";
import { rdsTokenPassword } from "./rds-token";
import { credentialsProvider } from "./s3";

/** Arbitrary constant key of the advisory lock that serializes migrations. */
export const MIGRATION_LOCK_KEY = 7_361_229_001;

/** A migration's advisory lock was not released within its wait: who holds it, and for how long it waited. */
export class MigrationLockTimeout extends Error {
  constructor(
    readonly what: string,
    readonly key: number,
    readonly waitMs: number,
    readonly holders: readonly { pid: number; role: string | null }[],
  ) {
    const who = holders.length
      ? holders.map((h) => `pid ${h.pid} (role ${h.role === null ? "unknown" : `"${h.role}"`})`).join(", ")
      : "a session that has ended since";
    const end = holders.length
      ? `; if it stays, end it as the master user: ${holders.map((h) => `SELECT pg_terminate_backend(${h.pid})`).join("; ")}`
      : "";
    super(
      `${what} not applied: their advisory lock (key ${key}) is held by ${who} and was not released ` +
        `within ${waitMs} ms (any login of the database, a team's registry writer among them, may take it); ` +
        `tried again later${end}`,
    );
    this.name = "MigrationLockTimeout";
  }
}

/**
 * Takes the session-level advisory lock `key` for `what` (migrations), waiting at most `waitMs`:
 * every login of the database may take an advisory lock, a team's registry writer (`fw-<team>`)
 * among them, and could hold it forever. The bound is PostgreSQL's `lock_timeout`, set for the
 * one transaction that takes the lock (the lock itself outlives it, as a session lock does).
 * Past the bound: a MigrationLockTimeout naming the sessions that hold the key.
 */
export async function advisoryLockWithin(
  client: PoolClient,
  key: number,
  waitMs: number,
  what: string,
): Promise<void> {
  if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > MAX_MIGRATION_LOCK_WAIT_MS)
    // 0 would be "no bound"; past the maximum the read timeout below would fire at once
    throw new Error(`expected a lock wait from 1 to ${MAX_MIGRATION_LOCK_WAIT_MS} ms, found ${waitMs}`);
  await client.query("BEGIN");
  try {
    await client.query(`SET LOCAL lock_timeout = ${waitMs}`);
    // The pool's client-side query_timeout would end the wait first, with no cause, and leave the
    // server's session waiting: this query's read timeout comes after the lock's bound.
    const lock: QueryConfig & { query_timeout: number } = {
      text: "SELECT pg_advisory_lock($1)",
      values: [key],
      query_timeout: waitMs + 10_000,
    };
    await client.query(lock);
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK");
    if ((e as { code?: string }).code !== "55P03") throw e; // lock_not_available: the bound
    const holders = await client.query<{ pid: number; role: string | null }>(
      `SELECT l.pid, a.usename AS role FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid
        ORDER BY l.pid`,
      [key],
    );
    throw new MigrationLockTimeout(what, key, waitMs, holders.rows);
  }
}

/** Versioned migrations, applied in order; never edit one that has shipped, add a new one. */
export const MIGRATIONS: readonly {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}[] = [
  {
    version: 1,
    name: "audit, usage and api keys",
    sql: `
      CREATE TABLE gateway_audit (
        request_id    text PRIMARY KEY,
        ts            timestamptz NOT NULL,
        subject       text NOT NULL,
        auth_kind     text NOT NULL,
        team          text NOT NULL,
        model         text NOT NULL,
        endpoint      text NOT NULL,
        tokens_in     integer NOT NULL DEFAULT 0,
        tokens_out    integer NOT NULL DEFAULT 0,
        latency_ms    double precision NOT NULL,
        decision      text NOT NULL,
        reasons       text[] NOT NULL DEFAULT '{}',
        status        integer NOT NULL,
        streamed      boolean NOT NULL DEFAULT false,
        captured      boolean NOT NULL DEFAULT false,
        instance      text NOT NULL
      );
      CREATE INDEX gateway_audit_ts ON gateway_audit (ts);
      CREATE INDEX gateway_audit_team_ts ON gateway_audit (team, ts);
      CREATE TABLE gateway_usage (
        team     text NOT NULL,
        day      date NOT NULL,
        tokens   bigint NOT NULL DEFAULT 0,
        requests bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (team, day)
      );
      CREATE TABLE gateway_usage_minute (
        team     text NOT NULL,
        minute   timestamptz NOT NULL,
        requests bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (team, minute)
      );
      CREATE TABLE gateway_api_keys (
        id          text PRIMARY KEY,
        key_hash    text NOT NULL UNIQUE,
        team        text NOT NULL,
        description text NOT NULL DEFAULT '',
        created_at  timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz
      );`,
  },
  {
    version: 2,
    name: "audit token counts as bigint, the client's request id beside the gateway's",
    sql: `
      ALTER TABLE gateway_audit ALTER COLUMN tokens_in TYPE bigint, ALTER COLUMN tokens_out TYPE bigint;
      ALTER TABLE gateway_audit ADD COLUMN client_request_id text;`,
  },
  {
    version: 3,
    name: "api key expiry and creator",
    sql: `
      ALTER TABLE gateway_api_keys
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN created_by text NOT NULL DEFAULT '';`,
  },
  {
    version: 4,
    name: "the guard's verdict on the prompt and the categories it named",
    sql: `
      ALTER TABLE gateway_audit
        ADD COLUMN guard text,
        ADD COLUMN guard_categories text[] NOT NULL DEFAULT '{}';`,
  },
  {
    version: 5,
    name: "the flywheel version that served a request and whether it was the canary",
    sql: `
      ALTER TABLE gateway_audit
        ADD COLUMN flywheel_version text,
        ADD COLUMN flywheel_canary boolean;
      CREATE INDEX gateway_audit_flywheel ON gateway_audit (model, flywheel_version, ts)
        WHERE flywheel_version IS NOT NULL;`,
  },
];

/**
 * Whether a failed insert was refused because of the rows themselves (a data exception, an
 * integrity violation or a program limit: SQLSTATE classes 22, 23 and 54), not because
 * PostgreSQL is unavailable. Such rows go to the dead-letter store instead of blocking the rest.
 */
export function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && /^(22|23|54)/.test(code);
}

const MAX_TEXT = 256;
/** Text as PostgreSQL stores it: no NUL, bounded length. */
export function cleanText(v: unknown, max = MAX_TEXT): string {
  const s = typeof v === "string" ? v : String(v ?? "");
  const out = s.includes("\u0000") ? s.replaceAll("\u0000", "") : s;
  return out.length > max ? out.slice(0, max) : out;
}

/** A token count as stored: a non-negative safe integer (anything else counts 0). */
export function cleanCount(v: unknown): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : 0;
}

export interface AuditRow {
  /** The gateway's own id (generated; never the client's). */
  readonly requestId: string;
  /** The X-Request-Id the client sent, if any (recorded beside, never instead). */
  readonly clientRequestId?: string;
  /** ISO time the request arrived. */
  readonly ts: string;
  readonly subject: string;
  readonly authKind: string;
  readonly team: string;
  readonly model: string;
  readonly endpoint: string;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly latencyMs: number;
  readonly decision: "allow" | "deny" | "error" | "none";
  readonly reasons: readonly string[];
  /** The guard's verdict on the prompt (safe, unsafe, down), when the policy asked for one. */
  readonly guard?: string;
  /** The categories the guard named (Llama Guard's "S1", "S10"). */
  readonly guardCategories?: readonly string[];
  /** A flywheel adapter's request: the version that served it (the canary split). */
  readonly flywheelVersion?: string;
  /** Whether that version was the canary's. */
  readonly flywheelCanary?: boolean;
  readonly status: number;
  readonly streamed: boolean;
  readonly captured: boolean;
  readonly instance: string;
}

/**
 * The TLS options of the Postgres connection, as libpq's sslmode means them: `require`
 * encrypts without checking the server; `verify-full` checks that its certificate chains to
 * the CA file (`PGSSLROOTCERT`, else the system's CAs) and names the configured host (a DNS name
 * or an IP address), whatever name the TLS handshake was sent with.
 */
export function postgresTls(
  cfg: PostgresConfig,
  readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8"),
): false | tls.ConnectionOptions {
  if (cfg.sslMode === "disable") return false;
  if (cfg.sslMode === "require") return { rejectUnauthorized: false };
  return {
    rejectUnauthorized: true,
    ...(cfg.rootCertFile ? { ca: readFile(cfg.rootCertFile) } : {}),
    checkServerIdentity: (_servername, cert) => tls.checkServerIdentity(cfg.host, cert),
  };
}

/**
 * The pool's password: the configured one, or with `rds-iam` a function `pg` calls for every
 * new connection, returning a fresh IAM token signed with the credentials in `env` (Pod Identity).
 */
export function poolPassword(
  cfg: PostgresConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
  now?: () => Date,
): string | (() => Promise<string>) | undefined {
  if (cfg.auth !== "rds-iam") return cfg.password;
  return rdsTokenPassword({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    region: cfg.region ?? "",
    credentials: credentialsProvider(env),
    ...(now ? { now } : {}),
  });
}

export function createPool(
  cfg: PostgresConfig,
  log: Logger,
  password: ReturnType<typeof poolPassword> = poolPassword(cfg),
): Pool {
  const pool = new Pool({
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: cfg.user,
    password,
    max: cfg.poolSize,
    ssl: postgresTls(cfg),
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    query_timeout: 10_000,
  });
  // An idle client losing its server (Postgres restart) must not crash the process.
  pool.on("error", (e) => log.warn("postgres idle client error", { error: e.message }));
  guardCheckedOutClients(pool, (e) => log.warn("postgres client error", { error: e.message }));
  return pool;
}

/**
 * Gives every client of `pool` an error listener for its whole life. The pool listens only to its
 * idle clients: a client checked out (`pool.connect()`, between two queries of a migration or a
 * registry sync) whose server ends the connection (`pg_terminate_backend`, a failover) emitted
 * `error` with no listener, an uncaught exception that ended the process. The query in progress,
 * if any, still fails with the error, and the next one on that client too.
 */
export function guardCheckedOutClients(pool: Pool, onError: (e: Error) => void): void {
  pool.on("connect", (client) => client.on("error", onError));
}

/**
 * Whether `table` records every one of `versions` already, read without any lock. Advisory locks
 * are open to every login of the database (a team's registry writer among them): a start-up with
 * nothing to migrate must not wait on one that another role can hold forever.
 */
export async function migrationsRecorded(
  client: PoolClient,
  table: string,
  versions: readonly number[],
): Promise<boolean> {
  try {
    const have = new Set(
      (await client.query<{ version: number }>(`SELECT version FROM ${table}`)).rows.map((r) => r.version),
    );
    return versions.every((v) => have.has(v));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "42P01" || code === "3F000") return false; // no table or schema yet
    throw e;
  }
}

/**
 * Applies pending migrations under an advisory lock, waiting at most `lockWaitMs` for it (a
 * MigrationLockTimeout past that); returns the versions applied.
 */
export async function migrate(pool: Pool, lockWaitMs = MIGRATION_LOCK_WAIT_MS): Promise<number[]> {
  const client: PoolClient = await pool.connect();
  const applied: number[] = [];
  try {
    const all = MIGRATIONS.map((m) => m.version);
    if (await migrationsRecorded(client, "gateway_schema_migrations", all)) return applied;
    await advisoryLockWithin(client, MIGRATION_LOCK_KEY, lockWaitMs, "the gateway's migrations");
    try {
      await client.query(
        "CREATE TABLE IF NOT EXISTS gateway_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
      );
      const done = new Set(
        (await client.query<{ version: number }>("SELECT version FROM gateway_schema_migrations")).rows.map(
          (r) => r.version,
        ),
      );
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query("INSERT INTO gateway_schema_migrations (version, name) VALUES ($1, $2)", [
            m.version,
            m.name,
          ]);
          await client.query("COMMIT");
        } catch (e) {
          await client.query("ROLLBACK");
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
        }
        applied.push(m.version);
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
  return applied;
}

/**
 * Inserts a batch of audit rows in one statement; rows already present (a retried batch) are
 * skipped, and only newly inserted rows add to the usage counters, so retries never double-count.
 */
export async function insertAudit(pool: Pool, batch: Batch<AuditRow>): Promise<void> {
  const r = batch.records.map(sanitizeAudit);
  const col = <K extends keyof AuditRow>(k: K) => r.map((x) => x[k]);
  await pool.query(
    `WITH ins AS (
       INSERT INTO gateway_audit (request_id, ts, subject, auth_kind, team, model, endpoint, tokens_in, tokens_out,
                                  latency_ms, decision, reasons, status, streamed, captured, instance, client_request_id,
                                  guard, guard_categories, flywheel_version, flywheel_canary)
       SELECT u.request_id, u.ts, u.subject, u.auth_kind, u.team, u.model, u.endpoint, u.tokens_in, u.tokens_out,
              u.latency_ms, u.decision, string_to_array(u.reasons, ',') , u.status, u.streamed, u.captured, u.instance,
              u.client_request_id, u.guard, string_to_array(u.guard_categories, ','), u.flywheel_version,
              u.flywheel_canary
       FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::bigint[], $9::bigint[], $10::float8[], $11::text[], $12::text[], $13::int[], $14::bool[],
                   $15::bool[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::bool[])
         AS u(request_id, ts, subject, auth_kind, team, model, endpoint, tokens_in, tokens_out, latency_ms,
              decision, reasons, status, streamed, captured, instance, client_request_id, guard, guard_categories,
              flywheel_version, flywheel_canary)
       ON CONFLICT (request_id) DO NOTHING
       RETURNING team, ts, tokens_in + tokens_out AS tokens, decision
     ), d AS (
       INSERT INTO gateway_usage AS g (team, day, tokens, requests)
       SELECT team, (ts AT TIME ZONE 'UTC')::date, sum(tokens), count(*) FILTER (WHERE decision = 'allow')
       FROM ins GROUP BY 1, 2
       ON CONFLICT (team, day) DO UPDATE SET tokens = g.tokens + excluded.tokens, requests = g.requests + excluded.requests
     )
     INSERT INTO gateway_usage_minute AS g (team, minute, requests)
     SELECT team, date_trunc('minute', ts), count(*) FROM ins WHERE decision = 'allow' GROUP BY 1, 2
     ON CONFLICT (team, minute) DO UPDATE SET requests = g.requests + excluded.requests`,
    [
      col("requestId"),
      col("ts"),
      col("subject"),
      col("authKind"),
      col("team"),
      col("model"),
      col("endpoint"),
      col("tokensIn"),
      col("tokensOut"),
      col("latencyMs"),
      col("decision"),
      r.map((x) => x.reasons.join(",")),
      col("status"),
      col("streamed"),
      col("captured"),
      col("instance"),
      r.map((x) => x.clientRequestId ?? null),
      r.map((x) => x.guard ?? null),
      r.map((x) => (x.guardCategories ?? []).join(",")),
      r.map((x) => x.flywheelVersion ?? null),
      r.map((x) => (x.flywheelVersion === undefined ? null : x.flywheelCanary === true)),
    ],
  );
}

/**
 * A row as PostgreSQL can store it, whatever it came from (a spill file of an older version
 * included): text without NUL and bounded, counts non-negative safe integers.
 */
export function sanitizeAudit(x: AuditRow): AuditRow {
  return {
    ...x,
    requestId: cleanText(x.requestId),
    clientRequestId: x.clientRequestId === undefined ? undefined : cleanText(x.clientRequestId),
    subject: cleanText(x.subject),
    authKind: cleanText(x.authKind),
    team: cleanText(x.team),
    model: cleanText(x.model),
    endpoint: cleanText(x.endpoint),
    tokensIn: cleanCount(x.tokensIn),
    tokensOut: cleanCount(x.tokensOut),
    latencyMs: Number.isFinite(x.latencyMs) ? x.latencyMs : 0,
    reasons: (Array.isArray(x.reasons) ? x.reasons : []).map((v) => cleanText(v).replaceAll(",", "_")),
    guard: x.guard === undefined ? undefined : cleanText(x.guard),
    flywheelVersion: x.flywheelVersion === undefined ? undefined : cleanText(x.flywheelVersion),
    guardCategories: (Array.isArray(x.guardCategories) ? x.guardCategories : []).map((v) =>
      cleanText(v).replaceAll(",", "_"),
    ),
    status: Number.isInteger(x.status) && x.status >= 0 && x.status < 1000 ? x.status : 0,
    instance: cleanText(x.instance),
  };
}

/** Cluster-wide tokens of the current UTC day and requests of the current minute, per team. */
export async function readUsage(
  pool: Pool,
  now = new Date(),
): Promise<Map<string, { tokens: number; requests: number }>> {
  const res = await pool.query<{ team: string; tokens: string; requests: string }>(
    `SELECT coalesce(d.team, m.team) AS team, coalesce(d.tokens, 0)::text AS tokens, coalesce(m.requests, 0)::text AS requests
     FROM (SELECT team, tokens FROM gateway_usage WHERE day = ($1::timestamptz AT TIME ZONE 'UTC')::date) d
     FULL JOIN (SELECT team, requests FROM gateway_usage_minute WHERE minute = date_trunc('minute', $1::timestamptz)) m
       ON d.team = m.team`,
    [now.toISOString()],
  );
  const out = new Map<string, { tokens: number; requests: number }>();
  for (const row of res.rows)
    out.set(row.team, { tokens: Number(row.tokens), requests: Number(row.requests) });
  return out;
}

/** Removes per-minute counters older than a day. */
export async function pruneUsage(pool: Pool): Promise<void> {
  await pool.query("DELETE FROM gateway_usage_minute WHERE minute < now() - interval '1 day'");
}

export async function lookupApiKey(pool: Pool, hash: string): Promise<ApiKeyRecord | undefined> {
  const res = await pool.query<{ id: string; team: string; expires_at: Date | null }>(
    "SELECT id, team, expires_at FROM gateway_api_keys WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    [hash],
  );
  const row = res.rows[0];
  if (!row) return undefined;
  return row.expires_at
    ? { id: row.id, team: row.team, expiresAt: row.expires_at.getTime() }
    : { id: row.id, team: row.team };
}

/**
 * Stores a new API key's hash (the key itself is returned once and never stored), with who
 * created it and, optionally, when it stops working.
 */
export async function createApiKey(
  pool: Pool,
  team: string,
  description: string,
  random: () => string,
  hash: (key: string) => string,
  opts: { readonly createdBy?: string; readonly expiresAt?: Date } = {},
): Promise<{ id: string; key: string }> {
  const id = random().slice(0, 12);
  const key = `sk-sov-${id}.${random()}`;
  await pool.query(
    "INSERT INTO gateway_api_keys (id, key_hash, team, description, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    [id, hash(key), team, description, opts.createdBy ?? "", opts.expiresAt?.toISOString() ?? null],
  );
  return { id, key };
}

export type { Logger };
