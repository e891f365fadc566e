/**
 * Gateway configuration. Everything comes from environment variables (12-factor); the catalog
 * (teams, models, routes) is one JSON document, given inline or as a file mounted from a
 * ConfigMap. `loadConfig` is pure: it takes the environment and a file reader, so tests pass
 * both. Every problem is reported at once, quoting the bad value.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { CLASSIFICATIONS, type Classification } from "../../components/lib/classification";
import { opaDeadlineMs } from "../../components/lib/deadlines";
import { GATEWAY_POLICY_DIR, GATEWAY_POLICY_POLL_MS } from "../../components/lib/gateway-policy";
import { patternProblem } from "./capture";
import { STRATEGIES } from "./routing/balance";
import { DEFAULT_ROUTING, type RoutingSettings } from "./routing/router";
import type { Catalog, CatalogModel, CatalogTeam } from "../../components/lib/contracts";

/**
 * How long a pending migration waits for its advisory lock before it gives up, ms (the gateway
 * tries again later; GATEWAY_MIGRATION_LOCK_WAIT_MS). A start waits for it twice at most (the
 * gateway's migrations, then the registry's) before it listens, well within the pod's startup
 * probe (60 s). @see advisoryLockWithin in db.ts
 */
export const MIGRATION_LOCK_WAIT_MS = 10_000;
/**
 * The longest lock wait, ms: the lock query's client-side read timeout is the wait plus 10 s, and
 * a Node timer past 2^31 - 1 ms fires at once (the wait ended at once, with "Query read timeout").
 * PostgreSQL's `lock_timeout` takes up to 2^31 - 1 ms too.
 */
export const MAX_MIGRATION_LOCK_WAIT_MS = 2_147_483_647 - 10_000;

export type { Catalog, CatalogModel, CatalogTeam };

export interface OidcConfig {
  readonly issuer: string;
  readonly audience: string;
  /** JWKS URL; when absent it is discovered from `${issuer}/.well-known/openid-configuration`. */
  readonly jwksUri?: string;
  readonly groupsClaim: string;
  /** Allowed clock skew, seconds. */
  readonly clockToleranceSec: number;
  /** Least time between two JWKS fetches for an unknown key id, ms. @default 30000 */
  readonly jwksCooldownMs?: number;
}

export interface PostgresConfig {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  /**
   * How the gateway logs in (`GATEWAY_PG_AUTH`): `password` (`PGPASSWORD`), or `rds-iam`: a
   * fresh RDS IAM authentication token per new connection, signed with the workload's AWS
   * credentials (Pod Identity) for `region`; needs `verify-full` and no `PGPASSWORD`.
   */
  readonly auth?: "password" | "rds-iam";
  /** Region of the RDS instance (`AWS_REGION`), with `rds-iam`. */
  readonly region?: string;
  readonly sslMode: "disable" | "require" | "verify-full";
  /**
   * PEM file of the CA(s) the server certificate must chain to (`PGSSLROOTCERT`); with
   * `verify-full` and no file, the system's CAs. The host name is checked against the
   * certificate either way.
   */
  readonly rootCertFile?: string;
  readonly poolSize: number;
}

/** The API listener's TLS: the certificate and key files (a mounted Secret), re-read on rotation. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the files are checked for a new certificate, ms. @default 30000 */
  readonly reloadMs: number;
}

export interface S3Config {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly forcePathStyle: boolean;
  /** Key prefix of captures (the gateway's credentials may write only there). */
  readonly prefix: string;
}

export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  /** Serve the API over HTTPS with this certificate; absent: plain HTTP (dev only, a config rule). */
  readonly tls?: TlsConfig;
  readonly maxBodyBytes: number;
  /** Port of `/metrics` (and nothing else); 0 picks a free one. Never the API port. */
  readonly metricsPort: number;
  readonly opaUrl: string;
  /**
   * Where decisions are made: `wasm` (default) evaluates the policy compiled to WebAssembly in
   * process, from `dir` (re-read every `pollMs`); `opa` asks the OPA server at {@link opaUrl}.
   * The model listing is asked of OPA either way.
   */
  readonly policy: PolicySettings;
  /**
   * OPA's own evaluation budget, ms: the decision deadline is this plus the guard timeout (when
   * a guard is configured) plus {@link opaMsPerMiB} per MiB of request text.
   */
  readonly opaTimeoutMs: number;
  /** The guard model's timeout in the policy data (`data.sovereign.guard.timeoutMs`); 0: no guard. */
  readonly guardTimeoutMs: number;
  /**
   * Characters of generated text per screened window of a streamed answer (when a guard is
   * configured): the stream reaches the client a window at a time, each after its decision.
   */
  readonly guardStreamWindowChars: number;
  /** Extra OPA deadline per MiB of text the policy reads (evaluation grows with it), ms. */
  readonly opaMsPerMiB: number;
  /** Time a client has to send a request's headers and body, ms; a stalled one is closed (408). */
  readonly receiveTimeoutMs: number;
  /** Deepest JSON nesting accepted in a request body. */
  readonly maxJsonDepth: number;
  /** Characters of text a capture record may hold; larger ones are not captured. */
  readonly captureMaxChars: number;
  /**
   * Write each audit row and capture record to the spill log on disk before the response is
   * sent (and fsync it), so an answered request is never lost, even to SIGKILL. Prod turns it on.
   */
  readonly auditSync: boolean;
  readonly upstreamTimeoutMs: number;
  readonly oidc: OidcConfig;
  readonly postgres: PostgresConfig;
  /** Capture sink; absent disables capture. */
  readonly s3?: S3Config;
  /** Directory for records that could not be delivered yet. */
  readonly spillDir: string;
  readonly captureQueueMax: number;
  readonly auditQueueMax: number;
  readonly flushIntervalMs: number;
  readonly retryIntervalMs: number;
  /** How long a graceful shutdown waits for open requests and streams. */
  readonly drainTimeoutMs: number;
  /** Accept `Authorization: Bearer sk-sov-...` API keys stored hashed in Postgres. */
  readonly apiKeys: boolean;
  /** How long a found API key is remembered per replica (never past its expiry), ms: the revocation delay. */
  readonly apiKeyCacheMs: number;
  readonly accessLog: boolean;
  /** Identifies this replica in object keys and spill files. */
  readonly instanceId: string;
  readonly catalog: Catalog;
  /** How often the flywheel adapters' versions are read from the registry, ms. @default 10000 */
  readonly flywheelSyncMs?: number;
  /**
   * How long a pending migration (the gateway's, the flywheel registry's) waits for its advisory
   * lock, ms; past it the start-up goes on not ready and the migrations are tried again. @default 10000
   */
  readonly migrationLockWaitMs?: number;
  /** Routing across a model server's replicas (docs/gateway.md). @default DEFAULT_ROUTING */
  readonly routing?: RoutingSettings;
  /**
   * The API key of each model server that requires one, by its URL (the catalog's route): sent
   * as `Authorization: Bearer` with every call to that server's replicas (inference, the
   * adapter listing, the guard call) and to no other. From GATEWAY_MODEL_API_KEYS_FILE, a JSON
   * object of model name to key (a mounted Secret). @default none
   */
  readonly modelApiKeys?: ReadonlyMap<string, string>;
  /**
   * The CA certificate(s), PEM, that the model servers' certificates must chain to: trusted
   * alone (not the public CAs) for every https model route, its replicas, the adapter listing
   * and the guard; each replica's certificate must name its route's host. From
   * GATEWAY_MODEL_CA_FILE (the model CA's bundle, components/lib/model-tls.ts). @default none:
   * the public CAs
   */
  readonly modelCa?: string;
}

export interface PolicySettings {
  readonly mode: "wasm" | "opa";
  /** Folder with the compiled policy and its data document (policy.ts). */
  readonly dir: string;
  /** How often the folder is re-read for a changed policy or data, ms; 0 never. */
  readonly pollMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid gateway configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Builds the config from the environment; throws one {@link ConfigError} listing every problem. */
export function loadConfig(
  env: Env,
  readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8"),
): GatewayConfig {
  const problems: string[] = [];
  const str = (k: string, def?: string): string => {
    const v = env[k];
    if (v === undefined || v === "") {
      if (def === undefined) problems.push(`${k}: expected a value, found nothing`);
      return def ?? "";
    }
    return v;
  };
  const int = (k: string, def: number, min = 1, max?: { value: number; why: string }): number => {
    const v = env[k];
    if (v === undefined || v === "") return def;
    const n = Number(v);
    if (max && (!Number.isInteger(n) || n < min || n > max.value)) {
      problems.push(`${k}: expected an integer from ${min} to ${max.value} (${max.why}), found "${v}"`);
      return def;
    }
    if (!Number.isInteger(n) || n < min) {
      problems.push(`${k}: expected an integer >= ${min}, found "${v}"`);
      return def;
    }
    return n;
  };
  const bool = (k: string, def: boolean): boolean => {
    const v = env[k];
    if (v === undefined || v === "") return def;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    problems.push(`${k}: expected true or false, found "${v}"`);
    return def;
  };
  const oneOf = <T extends string>(k: string, allowed: readonly T[], def: T): T => {
    const v = env[k];
    if (v === undefined || v === "") return def;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    problems.push(`${k}: expected one of ${allowed.join(", ")}, found "${v}"`);
    return def;
  };
  const url = (k: string, def?: string): string => {
    const v = str(k, def);
    if (v && !/^https?:\/\/[^\s]+$/.test(v)) problems.push(`${k}: expected an http(s) URL, found "${v}"`);
    return v.replace(/\/+$/, "");
  };

  let catalog: Catalog = { teams: {}, models: {}, routes: {}, redactPatterns: [] };
  const inline = env.GATEWAY_CATALOG;
  const file = env.GATEWAY_CATALOG_FILE;
  if (!inline && !file) {
    problems.push(
      "GATEWAY_CATALOG_FILE: expected a path to the catalog JSON (or GATEWAY_CATALOG), found nothing",
    );
  } else {
    let text = inline ?? "";
    if (!inline && file) {
      try {
        text = readFile(file);
      } catch (e) {
        problems.push(`GATEWAY_CATALOG_FILE: cannot read "${file}": ${(e as Error).message}`);
      }
    }
    if (text) {
      try {
        catalog = parseCatalog(JSON.parse(text), problems);
      } catch (e) {
        problems.push(`GATEWAY_CATALOG: expected JSON, found a parse error: ${(e as Error).message}`);
      }
    }
  }

  const sslMode = str("PGSSLMODE", "disable");
  if (!["disable", "require", "verify-full"].includes(sslMode)) {
    problems.push(`PGSSLMODE: expected disable, require or verify-full, found "${sslMode}"`);
  }
  const rootCertFile = env.PGSSLROOTCERT || undefined;
  if (rootCertFile && sslMode !== "verify-full") {
    problems.push(`PGSSLROOTCERT: only used with PGSSLMODE=verify-full, found PGSSLMODE "${sslMode}"`);
  }
  const pgAuth = str("GATEWAY_PG_AUTH", "password");
  if (!["password", "rds-iam"].includes(pgAuth))
    problems.push(`GATEWAY_PG_AUTH: expected password or rds-iam, found "${pgAuth}"`);
  if (pgAuth === "rds-iam") {
    if (sslMode !== "verify-full")
      problems.push(
        `PGSSLMODE: expected verify-full with GATEWAY_PG_AUTH=rds-iam (the token is a credential), found "${sslMode}"`,
      );
    if (env.PGPASSWORD)
      problems.push("PGPASSWORD: expected none with GATEWAY_PG_AUTH=rds-iam (no static password), found one");
    if (!env.AWS_REGION)
      problems.push(
        "AWS_REGION: expected the region of the RDS instance with GATEWAY_PG_AUTH=rds-iam, found nothing",
      );
  }
  const certFile = env.GATEWAY_TLS_CERT_FILE || undefined;
  const keyFile = env.GATEWAY_TLS_KEY_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push(
      certFile
        ? "GATEWAY_TLS_KEY_FILE: expected the private key of GATEWAY_TLS_CERT_FILE, found nothing"
        : "GATEWAY_TLS_CERT_FILE: expected the certificate of GATEWAY_TLS_KEY_FILE, found nothing",
    );
  }
  const tls: TlsConfig | undefined =
    certFile && keyFile ? { certFile, keyFile, reloadMs: int("GATEWAY_TLS_RELOAD_MS", 30_000) } : undefined;
  const bucket = env.GATEWAY_CAPTURE_BUCKET;
  const s3: S3Config | undefined = bucket
    ? {
        bucket,
        endpoint: url("AWS_ENDPOINT_URL_S3", `https://s3.${env.AWS_REGION ?? "us-east-1"}.amazonaws.com`),
        region: str("AWS_REGION", "us-east-1"),
        forcePathStyle: bool("GATEWAY_S3_FORCE_PATH_STYLE", false),
        prefix: str("GATEWAY_CAPTURE_PREFIX", "captures/"),
      }
    : undefined;

  const modelApiKeys = readModelApiKeys(env.GATEWAY_MODEL_API_KEYS_FILE, readFile, catalog, problems);
  const modelCa = readCaFile("GATEWAY_MODEL_CA_FILE", env.GATEWAY_MODEL_CA_FILE, readFile, problems);

  const cfg: GatewayConfig = {
    ...(modelApiKeys.size ? { modelApiKeys } : {}),
    ...(modelCa ? { modelCa } : {}),
    port: int("GATEWAY_PORT", 8080, 0),
    host: str("GATEWAY_HOST", "0.0.0.0"),
    ...(tls ? { tls } : {}),
    maxBodyBytes: int("GATEWAY_MAX_BODY_BYTES", 1_048_576),
    opaUrl: url("GATEWAY_OPA_URL"),
    policy: {
      mode: oneOf("GATEWAY_POLICY", ["wasm", "opa"] as const, "wasm"),
      dir: str("GATEWAY_POLICY_DIR", GATEWAY_POLICY_DIR),
      pollMs: int("GATEWAY_POLICY_POLL_MS", GATEWAY_POLICY_POLL_MS, 0),
    },
    metricsPort: int("GATEWAY_METRICS_PORT", 9090, 0),
    opaTimeoutMs: int("GATEWAY_OPA_TIMEOUT_MS", 250),
    guardTimeoutMs: int("GATEWAY_GUARD_TIMEOUT_MS", 0, 0),
    guardStreamWindowChars: int("GATEWAY_GUARD_STREAM_WINDOW_CHARS", 200),
    opaMsPerMiB: int("GATEWAY_OPA_MS_PER_MIB", 1000, 0),
    receiveTimeoutMs: int("GATEWAY_RECEIVE_TIMEOUT_MS", 30_000),
    maxJsonDepth: int("GATEWAY_MAX_JSON_DEPTH", 64),
    captureMaxChars: int("GATEWAY_CAPTURE_MAX_CHARS", 4_194_304),
    auditSync: bool("GATEWAY_AUDIT_SYNC", false),
    upstreamTimeoutMs: int("GATEWAY_UPSTREAM_TIMEOUT_MS", 600_000),
    oidc: {
      issuer: str("GATEWAY_OIDC_ISSUER"),
      audience: str("GATEWAY_OIDC_AUDIENCE"),
      jwksUri: env.GATEWAY_OIDC_JWKS_URI ? url("GATEWAY_OIDC_JWKS_URI") : undefined,
      groupsClaim: str("GATEWAY_OIDC_GROUPS_CLAIM", "groups"),
      clockToleranceSec: int("GATEWAY_OIDC_CLOCK_SKEW_SEC", 30, 0),
      jwksCooldownMs: int("GATEWAY_OIDC_JWKS_COOLDOWN_MS", 30_000, 0),
    },
    postgres: {
      host: str("PGHOST", "127.0.0.1"),
      port: int("PGPORT", 5432),
      database: str("PGDATABASE", "gateway"),
      user: str("PGUSER", "gateway"),
      password: env.PGPASSWORD,
      auth: pgAuth as PostgresConfig["auth"],
      ...(pgAuth === "rds-iam" && env.AWS_REGION ? { region: env.AWS_REGION } : {}),
      sslMode: sslMode as PostgresConfig["sslMode"],
      ...(rootCertFile ? { rootCertFile } : {}),
      poolSize: int("GATEWAY_PG_POOL_SIZE", 4),
    },
    s3,
    spillDir: str("GATEWAY_SPILL_DIR", "/var/spool/gateway"),
    captureQueueMax: int("GATEWAY_CAPTURE_QUEUE_MAX", 10_000),
    auditQueueMax: int("GATEWAY_AUDIT_QUEUE_MAX", 50_000),
    flushIntervalMs: int("GATEWAY_FLUSH_INTERVAL_MS", 200),
    retryIntervalMs: int("GATEWAY_RETRY_INTERVAL_MS", 2000),
    drainTimeoutMs: int("GATEWAY_DRAIN_TIMEOUT_MS", 25_000),
    apiKeys: bool("GATEWAY_API_KEYS", true),
    apiKeyCacheMs: int("GATEWAY_API_KEY_CACHE_MS", 30_000, 0),
    accessLog: bool("GATEWAY_ACCESS_LOG", true),
    instanceId: str("GATEWAY_INSTANCE_ID", env.HOSTNAME ?? `gw-${process.pid}`),
    catalog,
    flywheelSyncMs: int("GATEWAY_FLYWHEEL_SYNC_MS", 10_000),
    migrationLockWaitMs: int("GATEWAY_MIGRATION_LOCK_WAIT_MS", MIGRATION_LOCK_WAIT_MS, 1, {
      value: MAX_MIGRATION_LOCK_WAIT_MS,
      why: "its wait plus the lock query's 10 s must fit a timer",
    }),
    routing: {
      strategy: oneOf("GATEWAY_ROUTING", [...STRATEGIES, "service"] as const, DEFAULT_ROUTING.strategy),
      loadFactor: DEFAULT_ROUTING.loadFactor,
      outlier: {
        consecutiveFailures: int(
          "GATEWAY_ROUTING_EJECT_FAILURES",
          DEFAULT_ROUTING.outlier.consecutiveFailures,
        ),
        baseEjectMs: int("GATEWAY_ROUTING_EJECT_MS", DEFAULT_ROUTING.outlier.baseEjectMs),
        maxEjectMs: int("GATEWAY_ROUTING_EJECT_MAX_MS", DEFAULT_ROUTING.outlier.maxEjectMs),
      },
      adapterPollMs: int("GATEWAY_ROUTING_ADAPTER_POLL_MS", DEFAULT_ROUTING.adapterPollMs, 0),
      // Tests point discovery at their own API server; in a pod it is the in-cluster API.
      ...(env.GATEWAY_KUBE_API_URL
        ? {
            kubeApi: {
              url: url("GATEWAY_KUBE_API_URL"),
              tokenFile: env.GATEWAY_KUBE_TOKEN_FILE || undefined,
              caFile: env.GATEWAY_KUBE_CA_FILE || undefined,
            },
          }
        : {}),
    },
  };
  if (cfg.metricsPort !== 0 && cfg.metricsPort === cfg.port)
    problems.push(`GATEWAY_METRICS_PORT: expected a port other than GATEWAY_PORT, found ${cfg.metricsPort}`);
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}

function parseCatalog(raw: unknown, problems: string[]): Catalog {
  const obj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!obj(raw)) {
    problems.push(`GATEWAY_CATALOG: expected an object, found ${JSON.stringify(raw)}`);
    return { teams: {}, models: {}, routes: {}, redactPatterns: [] };
  }
  const teams: Record<string, CatalogTeam> = {};
  for (const [name, t] of Object.entries(obj(raw.teams) ? raw.teams : {})) {
    const b = obj(t) && obj(t.budgets) ? t.budgets : {};
    if (!obj(t) || typeof t.oidcGroup !== "string") {
      problems.push(
        `catalog.teams.${name}.oidcGroup: expected a string, found ${JSON.stringify(obj(t) ? t.oidcGroup : t)}`,
      );
      continue;
    }
    const tpd = b.tokensPerDay;
    const rpm = b.requestsPerMinute;
    if (typeof tpd !== "number" || tpd <= 0 || typeof rpm !== "number" || rpm <= 0) {
      problems.push(
        `catalog.teams.${name}.budgets: expected positive tokensPerDay and requestsPerMinute, found ${JSON.stringify(b)}`,
      );
      continue;
    }
    const fa = t.flywheelAdapter;
    if (fa !== undefined && (typeof fa !== "string" || !/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/.test(fa)))
      problems.push(
        `catalog.teams.${name}.flywheelAdapter: expected an adapter name, found ${JSON.stringify(fa)}`,
      );
    // its registry login is named after the team (flywheelRoleOf)
    if (fa !== undefined && !(name.length <= 40 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)))
      problems.push(
        `catalog.teams.${name}: expected a team with a flywheelAdapter to be named by a DNS-1123 label of at most 40 characters (its registry login is fw-<team>), found ${JSON.stringify(name)}`,
      );
    teams[name] = {
      oidcGroup: t.oidcGroup,
      clearance: t.clearance as Classification | undefined,
      budgets: { tokensPerDay: tpd, requestsPerMinute: rpm },
      ...(typeof fa === "string" ? { flywheelAdapter: fa } : {}),
    };
  }
  const models: Record<string, CatalogModel> = {};
  for (const [name, m] of Object.entries(obj(raw.models) ? raw.models : {})) {
    if (!obj(m) || !["chat", "embedding", "guard"].includes(m.role as string)) {
      problems.push(
        `catalog.models.${name}.role: expected chat, embedding or guard, found ${JSON.stringify(obj(m) ? m.role : m)}`,
      );
      continue;
    }
    const cls = m.dataClassification;
    if (cls !== undefined && !(CLASSIFICATIONS as readonly unknown[]).includes(cls))
      problems.push(
        `catalog.models.${name}.dataClassification: expected one of ${CLASSIFICATIONS.join(", ")}, found ${JSON.stringify(cls)}`,
      );
    if (m.flywheel !== undefined && (typeof m.flywheel !== "boolean" || typeof m.baseModel !== "string"))
      problems.push(
        `catalog.models.${name}.flywheel: expected true or false on an adapter with a baseModel, found ${JSON.stringify(m.flywheel)}`,
      );
    models[name] = {
      role: m.role as CatalogModel["role"],
      baseModel: typeof m.baseModel === "string" ? m.baseModel : undefined,
      ...(typeof cls === "string" && (CLASSIFICATIONS as readonly string[]).includes(cls)
        ? { dataClassification: cls as Classification }
        : {}),
      ...(m.flywheel === true && typeof m.baseModel === "string" ? { flywheel: true } : {}),
    };
  }
  const routes: Record<string, string> = {};
  for (const [name, u] of Object.entries(obj(raw.routes) ? raw.routes : {})) {
    if (typeof u !== "string" || !/^https?:\/\/\S+$/.test(u)) {
      problems.push(`catalog.routes.${name}: expected an http(s) URL, found ${JSON.stringify(u)}`);
      continue;
    }
    routes[name] = u.replace(/\/+$/, "");
  }
  for (const [name, m] of Object.entries(models)) {
    const base = m.baseModel ?? name;
    if (!routes[base])
      problems.push(`catalog.models.${name}: expected a route for "${base}" in catalog.routes, found none`);
  }
  const redactPatterns: string[] = [];
  for (const p of Array.isArray(raw.redactPatterns) ? raw.redactPatterns : []) {
    const problem = typeof p === "string" ? patternProblem(p) : "not a string";
    if (problem === undefined) redactPatterns.push(p as string);
    else
      problems.push(
        `catalog.redactPatterns: expected a regular expression the linear-time (RE2) engine accepts, found ${JSON.stringify(p)}: ${problem}`,
      );
  }
  return { teams, models, routes, redactPatterns };
}

/** The server URL that serves `model` (a base model or a LoRA adapter), or undefined. */
/**
 * GATEWAY_MODEL_API_KEYS_FILE: {"<model>": "<key>"} for the model servers that require a key,
 * keyed here by each model's route. A model without a route, a key that is not a non-empty
 * string without whitespace, or an unreadable file is a problem naming it (never the key).
 */
function readModelApiKeys(
  file: string | undefined,
  readFile: (p: string) => string,
  catalog: Catalog,
  problems: string[],
): Map<string, string> {
  const keys = new Map<string, string>();
  if (!file) return keys;
  let doc: unknown;
  try {
    doc = JSON.parse(readFile(file));
  } catch (e) {
    // Never JSON.parse's message: it quotes the text around the error, i.e. a key.
    problems.push(`GATEWAY_MODEL_API_KEYS_FILE: cannot read "${file}" as JSON${jsonErrorWhere(e)}`);
    return keys;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    problems.push(`GATEWAY_MODEL_API_KEYS_FILE: expected an object of model name to API key in "${file}"`);
    return keys;
  }
  for (const [model, key] of Object.entries(doc as Record<string, unknown>)) {
    const route = Object.hasOwn(catalog.routes, model) ? catalog.routes[model] : undefined;
    if (!route)
      problems.push(
        `GATEWAY_MODEL_API_KEYS_FILE.${model}: expected a model the catalog routes, found none of that name`,
      );
    else if (typeof key !== "string" || !/^\S+$/.test(key))
      problems.push(`GATEWAY_MODEL_API_KEYS_FILE.${model}: expected a non-empty key without whitespace`);
    else keys.set(route, key);
  }
  return keys;
}

/**
 * Where a JSON.parse error is (` (at position N)`), or nothing: the file is read, never quoted,
 * so a key beside the error stays out of the problem (and the log).
 */
function jsonErrorWhere(e: unknown): string {
  if (e instanceof SyntaxError) {
    const at = /at position (\d+)/.exec(e.message);
    return at ? ` (at position ${at[1]})` : "";
  }
  return `: ${(e as Error).message}`;
}

/**
 * A PEM file of CA certificates (`name` is its variable): undefined when unset; a problem naming
 * the variable and the file when it cannot be read or holds no certificate that parses.
 */
export function readCaFile(
  name: string,
  file: string | undefined,
  readFile: (p: string) => string,
  problems: string[],
): string | undefined {
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFile(file);
  } catch (e) {
    problems.push(`${name}: cannot read "${file}": ${(e as Error).message}`);
    return undefined;
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    problems.push(`${name}: expected PEM certificates in "${file}", found none`);
    return undefined;
  }
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (e) {
      problems.push(`${name}: certificate ${i + 1} in "${file}" does not parse: ${(e as Error).message}`);
      return undefined;
    }
  }
  return pem;
}

/** The key of the model server at `url` (same origin as its route), if it has one. */
export function modelApiKeyFor(keys: ReadonlyMap<string, string> | undefined, url: URL): string | undefined {
  for (const [route, key] of keys ?? []) if (new URL(route).origin === url.origin) return key;
  return undefined;
}

export function routeFor(catalog: Catalog, model: string): string | undefined {
  const m = Object.hasOwn(catalog.models, model) ? catalog.models[model] : undefined;
  if (!m) return undefined;
  const name = m.baseModel ?? model;
  return Object.hasOwn(catalog.routes, name) ? catalog.routes[name] : undefined;
}

/** How long the gateway waits for an OPA decision on `textBytes` of request text. */
export function decisionDeadlineMs(
  cfg: Pick<GatewayConfig, "opaTimeoutMs" | "guardTimeoutMs" | "opaMsPerMiB">,
  textBytes: number,
): number {
  return opaDeadlineMs(cfg.guardTimeoutMs, {
    evaluationMs: cfg.opaTimeoutMs,
    textBytes,
    msPerMiB: cfg.opaMsPerMiB,
  });
}
