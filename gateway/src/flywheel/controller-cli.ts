/**
 * The flywheel controller's command line (controller.ts). Two ways to run it (docs/flywheel.md):
 * `sovereign-flywheel loop` runs it after its gate with the run record on stdin
 * (FLYWHEEL_CONTROLLER); in a deployed stack the chain's init container runs `incumbent` and the
 * team's controller CronJob runs `from-store`.
 *
 *   flywheel-controller incumbent ADAPTER
 *                                  prints the promoted version the candidate is compared with:
 *                                  {"version", "uri"} (both null: none yet, the base model)
 *   flywheel-controller register   registers dataset, candidate and gate report (and a passed
 *                                  candidate's `candidate` deployment row); prints {"registered"}.
 *                                  Idempotent: a registered version is left as it is
 *   flywheel-controller canary     loads the candidate into every replica, runs its canary to
 *                                  the end, unloads what no longer serves; prints the final state
 *   flywheel-controller from-store ADAPTER
 *                                  one CronJob run: lists CANDIDATES_URI/<version>/run.json,
 *                                  registers the newest run newer than every registered version,
 *                                  then moves the adapter's open canary ONE step (load and start,
 *                                  one observation, or promote/roll back and unload); prints
 *                                  {"registered", "skipped", "advanced"}
 *
 * Environment: the registry's PostgreSQL (the gateway's database) as libpq's PGHOST, PGPORT,
 * PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE (disable, require, verify-full) and PGSSLROOTCERT,
 * or GATEWAY_PG_AUTH=rds-iam (a fresh IAM token per connection, AWS_REGION, no PGPASSWORD), as
 * the gateway reads them; for `canary` and `from-store`: the replicas, FLYWHEEL_REPLICAS
 * (comma-separated model-server pod URLs) or FLYWHEEL_MODEL_SERVICE (the base model's in-cluster
 * Service URL: its ready replicas from its EndpointSlices, with the pod's ServiceAccount token),
 * FLYWHEEL_CANARY (JSON: the team's flywheel.canary block) and how versions reach the replicas:
 * without FLYWHEEL_LORA_ROOT (the deployed stacks) the controller writes the adapter's desired
 * state `serving.json` under CANDIDATES_URI (with the workload's S3 environment:
 * AWS_ENDPOINT_URL_S3, AWS_REGION, S3_FORCE_PATH_STYLE, credentials) and waits up to
 * FLYWHEEL_LOAD_TIMEOUT_MS (default 600000) until every replica lists the version, which the
 * model servers' sync sidecars load from <their root>/<adapter>/<version>; with
 * FLYWHEEL_LORA_ROOT (a model server without the sidecar whose files are already in place) it
 * calls the load and unload endpoints itself with lora_path <root>/<adapter>/<version>;
 * FLYWHEEL_CANARY_EVERY_MS (default 10000), FLYWHEEL_CANARY_LAG_MS (default 5000),
 * FLYWHEEL_LOAD_POLL_MS (default 2000: how often /v1/models is read while waiting),
 * FLYWHEEL_UNLOAD_GRACE_MS (default 20000: twice the gateway's registry sync); for `from-store`:
 * CANDIDATES_URI and the object store's settings and credentials as above.
 *
 * Exit: 0 registered / promoted / stepped, 1 rolled back, 2 bad input (named), 3 another failure.
 */
import * as fs from "node:fs";
import { Pool } from "pg";
import { readCaFile, type PostgresConfig } from "../config";
import { guardCheckedOutClients, poolPassword, postgresTls } from "../db";
import { inClusterApi, listReplicas, serviceOf } from "../routing/discovery";
import { credentialsProvider, S3Client } from "../s3";
import {
  advanceCanary,
  openVersion,
  parseLimits,
  parseRunRecord,
  promotedVersion,
  registerRun,
  runCanary,
  ControllerError,
  type CanaryOptions,
} from "./controller";
import type { LoraClientOptions } from "./lora";
import { FLYWHEEL_MIGRATIONS, migrateFlywheel } from "./registry";
import { parseCandidatesUri, publishServingState, servingState } from "./serving-state";

function env(e: NodeJS.ProcessEnv, name: string): string {
  const v = e[name];
  if (!v) throw new ControllerError(`expected ${name} in the environment, found nothing`);
  return v;
}

function ms(e: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = e[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new ControllerError(`expected ${name} to be whole milliseconds, found ${JSON.stringify(v)}`);
  return n;
}

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ControllerError(`expected ${what} to be JSON (${(e as Error).message})`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The registry's pool from libpq's variables, with the gateway's TLS (verify-full against
 * PGSSLROOTCERT) and, with GATEWAY_PG_AUTH=rds-iam, a fresh IAM token per connection.
 */
export function registryPool(e: NodeJS.ProcessEnv, max: number): Pool {
  const sslMode = e.PGSSLMODE || "disable";
  if (!["disable", "require", "verify-full"].includes(sslMode))
    throw new ControllerError(
      `expected PGSSLMODE to be disable, require or verify-full, found ${JSON.stringify(sslMode)}`,
    );
  const auth = e.GATEWAY_PG_AUTH || "password";
  if (auth !== "password" && auth !== "rds-iam")
    throw new ControllerError(
      `expected GATEWAY_PG_AUTH to be password or rds-iam, found ${JSON.stringify(auth)}`,
    );
  if (auth === "rds-iam" && (sslMode !== "verify-full" || !e.AWS_REGION))
    throw new ControllerError("expected PGSSLMODE=verify-full and AWS_REGION with GATEWAY_PG_AUTH=rds-iam");
  const port = Number(e.PGPORT || 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ControllerError(`expected PGPORT to be a port number, found ${JSON.stringify(e.PGPORT)}`);
  const cfg: PostgresConfig = {
    host: e.PGHOST || "127.0.0.1",
    port,
    database: e.PGDATABASE || "gateway",
    user: env(e, "PGUSER"),
    ...(e.PGPASSWORD ? { password: e.PGPASSWORD } : {}),
    auth,
    ...(e.AWS_REGION ? { region: e.AWS_REGION } : {}),
    sslMode: sslMode as PostgresConfig["sslMode"],
    ...(e.PGSSLROOTCERT ? { rootCertFile: e.PGSSLROOTCERT } : {}),
    poolSize: max,
  };
  const pool = new Pool({
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: cfg.user,
    password: poolPassword(cfg, e),
    ssl: postgresTls(cfg),
    max,
    connectionTimeoutMillis: 10_000,
  });
  // A connection the server ends fails the controller's query, not the process.
  pool.on("error", (err) => stderrLog("postgres idle client error", { error: err.message }));
  guardCheckedOutClients(pool, (err) => stderrLog("postgres client error", { error: err.message }));
  return pool;
}

/**
 * The registry, migrated: the gateway migrates it at start-up (as the database's owner); the
 * controller's team role (`fw-<team>`) may not, so it only migrates where the registry is missing or
 * behind (a test database the caller owns) and otherwise leaves the schema alone.
 */
async function registryReady(pool: Pool): Promise<void> {
  const latest = Math.max(...FLYWHEEL_MIGRATIONS.map((m) => m.version));
  try {
    const r = await pool.query<{ v: number | null }>(
      "SELECT max(version) AS v FROM flywheel.schema_migrations",
    );
    if ((r.rows[0]?.v ?? 0) >= latest) return;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== "42P01" && code !== "3F000") throw e;
  }
  try {
    await migrateFlywheel(pool);
  } catch (e) {
    throw new Error(
      `the flywheel registry is not migrated (the gateway migrates it at start-up), and this role cannot: ${(e as Error).message}`,
    );
  }
}

/** The model server's replicas: FLYWHEEL_REPLICAS, else FLYWHEEL_MODEL_SERVICE's ready endpoints. */
async function replicasOf(e: NodeJS.ProcessEnv): Promise<string[]> {
  let replicas: string[];
  if (e.FLYWHEEL_REPLICAS) {
    replicas = e.FLYWHEEL_REPLICAS.split(",")
      .map((s) => s.trim().replace(/\/$/, ""))
      .filter(Boolean);
  } else {
    const url = env(e, "FLYWHEEL_MODEL_SERVICE");
    const svc = serviceOf(url);
    if (!svc)
      throw new ControllerError(
        `expected FLYWHEEL_MODEL_SERVICE to be an in-cluster Service URL (https://<service>.<namespace>.svc:<port>), found ${JSON.stringify(url)}`,
      );
    const api = inClusterApi(e);
    if (!api)
      throw new ControllerError(
        "expected KUBERNETES_SERVICE_HOST (in-cluster discovery of FLYWHEEL_MODEL_SERVICE)",
      );
    replicas = await listReplicas(api, svc);
    if (replicas.length === 0)
      throw new Error(`no ready replica of ${url}: nothing to load the candidate into`);
  }
  for (const r of replicas)
    if (!/^https?:\/\/[^/]+$/.test(r))
      throw new ControllerError(
        `expected FLYWHEEL_REPLICAS to be http(s) URLs without a path, found ${JSON.stringify(r)}`,
      );
  return replicas;
}

/**
 * How the controller calls the base model's replicas: its API key (FLYWHEEL_MODEL_API_KEY, a
 * Secret in the team's namespace) and, over HTTPS, the model CA (FLYWHEEL_MODEL_CA_FILE) trusted
 * alone, each replica's certificate naming FLYWHEEL_MODEL_SERVICE's host (replicas are reached
 * by address). A CA file that cannot be read stops the controller with its name.
 */
export function loraClient(
  e: NodeJS.ProcessEnv,
  readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8"),
): { lora?: LoraClientOptions } {
  const problems: string[] = [];
  const ca = readCaFile("FLYWHEEL_MODEL_CA_FILE", e.FLYWHEEL_MODEL_CA_FILE, readFile, problems);
  if (problems.length) throw new ControllerError(problems.join("; "));
  let serverName: string | undefined;
  if (e.FLYWHEEL_MODEL_SERVICE) {
    try {
      serverName = new URL(e.FLYWHEEL_MODEL_SERVICE).hostname;
    } catch {
      serverName = undefined; // replicasOf names the bad value
    }
  }
  const lora: LoraClientOptions = {
    ...(e.FLYWHEEL_MODEL_API_KEY ? { apiKey: e.FLYWHEEL_MODEL_API_KEY } : {}),
    ...(ca || serverName
      ? {
          tls: {
            ...(ca ? { ca } : {}),
            ...(serverName ? { serverName } : {}),
            caVariable: "FLYWHEEL_MODEL_CA_FILE",
          },
        }
      : {}),
  };
  return Object.keys(lora).length ? { lora } : {};
}

type Log = (msg: string, f: Record<string, unknown>) => void;
const stderrLog: Log = (msg, f) => process.stderr.write(JSON.stringify({ msg, ...f }) + "\n");

/**
 * The canary's options for one version, from the environment: direct loading with
 * FLYWHEEL_LORA_ROOT, else sidecar loading (its S3 client goes to `closers`).
 */
async function canaryOptions(
  e: NodeJS.ProcessEnv,
  pool: Pool,
  run: { readonly team: string; readonly adapter: string; readonly baseModel: string },
  version: string,
  closers: S3Client[],
): Promise<CanaryOptions> {
  const { team, adapter } = run;
  const limits = parseLimits(json(env(e, "FLYWHEEL_CANARY"), "FLYWHEEL_CANARY"));
  const root = e.FLYWHEEL_LORA_ROOT?.replace(/\/$/, "");
  let loading: Pick<CanaryOptions, "loraPath" | "serving">;
  if (root) loading = { loraPath: `${root}/${adapter}/${version}` };
  else {
    const sidecar = sidecarServing(e, pool, run);
    closers.push(sidecar.s3);
    loading = { serving: sidecar.serving };
  }
  return {
    team,
    adapter,
    version,
    ...loading,
    replicas: await replicasOf(e),
    ...loraClient(e),
    limits,
    everyMs: ms(e, "FLYWHEEL_CANARY_EVERY_MS", 10_000),
    lagMs: ms(e, "FLYWHEEL_CANARY_LAG_MS", 5_000),
    unloadGraceMs: ms(e, "FLYWHEEL_UNLOAD_GRACE_MS", 20_000),
    log: stderrLog,
  };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function adapterArg(argv: readonly string[], command: string): string {
  const adapter = argv[1];
  if (!adapter || !NAME.test(adapter))
    throw new ControllerError(
      `expected an adapter name after ${command}, found ${JSON.stringify(adapter ?? null)}`,
    );
  return adapter;
}

/** The object store's client and the key prefix of CANDIDATES_URI (s3://bucket/prefix/). */
function candidatesStore(e: NodeJS.ProcessEnv): { s3: S3Client; prefix: string; uri: string } {
  const uri = env(e, "CANDIDATES_URI");
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/.exec(uri);
  if (!m)
    throw new ControllerError(
      `expected CANDIDATES_URI to be s3://<bucket>/<prefix>/, found ${JSON.stringify(uri)}`,
    );
  const prefix = m[2] === "" || m[2].endsWith("/") ? m[2] : `${m[2]}/`;
  const force = e.S3_FORCE_PATH_STYLE ?? "false";
  if (force !== "true" && force !== "false")
    throw new ControllerError(
      `expected S3_FORCE_PATH_STYLE to be true or false, found ${JSON.stringify(force)}`,
    );
  const s3 = new S3Client({
    endpoint: e.AWS_ENDPOINT_URL_S3 || `https://s3.${env(e, "AWS_REGION")}.amazonaws.com`,
    region: env(e, "AWS_REGION"),
    bucket: m[1],
    forcePathStyle: force === "true",
    credentials: credentialsProvider(e),
  });
  return { s3, prefix, uri: `s3://${m[1]}/${prefix}` };
}

/**
 * One CronJob run: registers the newest run record in the store that is newer than every
 * registered version of the adapter (versions are UTC timestamps first, so they sort by time;
 * an older run that was never registered is superseded and skipped), then advances the open
 * canary one step.
 */
async function fromStore(
  pool: Pool,
  e: NodeJS.ProcessEnv,
  adapter: string,
  log: Log,
  closers: S3Client[],
): Promise<{ registered: string | null; skipped: string[]; advanced: unknown; code: number }> {
  const { s3, prefix, uri } = candidatesStore(e);
  let registered: string | null = null;
  const skipped: string[] = [];
  try {
    const runs = (await s3.listKeys(prefix))
      .map((k) => k.slice(prefix.length))
      .map((k) => /^([^/]+)\/run\.json$/.exec(k)?.[1])
      .filter((v): v is string => v !== undefined && NAME.test(v))
      .sort()
      .reverse();
    const known = (
      await pool.query<{ id: string }>("SELECT id FROM flywheel.model_versions WHERE adapter = $1", [adapter])
    ).rows.map((r) => r.id);
    const newest = known.sort().at(-1);
    for (const v of runs) {
      if (known.includes(v) || (newest !== undefined && v < newest)) {
        if (!known.includes(v)) skipped.push(`${v}: older than ${newest}`);
        continue;
      }
      const body = await s3.getObject(`${prefix}${v}/run.json`);
      if (!body) continue;
      const raw = json(body.toString("utf8"), `${uri}${v}/run.json`) as {
        outcome?: unknown;
        adapter?: unknown;
      };
      if (raw.outcome !== "candidate" && raw.outcome !== "rejected") {
        skipped.push(`${v}: outcome ${JSON.stringify(raw.outcome ?? null)}`);
        continue;
      }
      let run;
      try {
        run = parseRunRecord(raw);
      } catch (err) {
        throw new ControllerError(`${uri}${v}/run.json: ${(err as Error).message}`);
      }
      if (run.adapter !== adapter || run.candidate.version !== v)
        throw new ControllerError(
          `${uri}${v}/run.json: expected adapter ${adapter} and candidate version ${v}, found ${run.adapter} and ${run.candidate.version}`,
        );
      if (await registerRun(pool, run, (raw as { gate: unknown }).gate)) registered = v;
      log("run registered", { version: v, passed: run.gate.passed });
      break;
    }
  } finally {
    s3.close();
  }
  const open = await openVersion(pool, adapter);
  if (!open) return { registered, skipped, advanced: null, code: 0 };
  const v = (
    await pool.query<{ team: string; base_model: string }>(
      "SELECT team, base_model FROM flywheel.model_versions WHERE id = $1",
      [open],
    )
  ).rows[0];
  const step = await advanceCanary(
    pool,
    await canaryOptions(e, pool, { team: v.team, adapter, baseModel: v.base_model }, open, closers),
  );
  return {
    registered,
    skipped,
    advanced: { version: open, ...step },
    code: step.action === "rolled_back" ? 1 : 0,
  };
}

/**
 * Sidecar loading from the environment: publishes the adapter's `serving.json` under
 * CANDIDATES_URI with the workload's S3 settings and credentials, and waits for the replicas
 * (FLYWHEEL_LOAD_TIMEOUT_MS, FLYWHEEL_LOAD_POLL_MS). `s3` is to be closed by the caller.
 */
export function sidecarServing(
  e: NodeJS.ProcessEnv,
  pool: Pool,
  run: { readonly team: string; readonly adapter: string; readonly baseModel: string },
): { serving: NonNullable<CanaryOptions["serving"]>; s3: S3Client } {
  const loc = parseCandidatesUri(env(e, "CANDIDATES_URI"));
  const region = e.AWS_REGION ?? "us-east-1";
  const s3 = new S3Client({
    endpoint: e.AWS_ENDPOINT_URL_S3 || `https://s3.${region}.amazonaws.com`,
    region,
    bucket: loc.bucket,
    forcePathStyle: e.S3_FORCE_PATH_STYLE === "true",
    credentials: credentialsProvider(e),
  });
  return {
    s3,
    serving: {
      publish: async () =>
        publishServingState(
          (k, b, t) => s3.putObject(k, b, t),
          loc,
          await servingState(pool, { team: run.team, adapter: run.adapter, baseModel: run.baseModel }, loc),
        ),
      timeoutMs: ms(e, "FLYWHEEL_LOAD_TIMEOUT_MS", 600_000),
      everyMs: ms(e, "FLYWHEEL_LOAD_POLL_MS", 2_000),
    },
  };
}

export async function main(
  argv: readonly string[],
  e: NodeJS.ProcessEnv,
  input: () => Promise<string>,
  out: (s: string) => void,
): Promise<number> {
  const [command] = argv;
  let pool: Pool | undefined;
  const closers: S3Client[] = [];
  try {
    if (command === "incumbent") {
      const adapter = adapterArg(argv, command);
      pool = registryPool(e, 1);
      await registryReady(pool);
      const version = (await promotedVersion(pool, adapter)) ?? null;
      const uri = version
        ? (
            await pool.query<{ uri: string }>("SELECT uri FROM flywheel.model_versions WHERE id = $1", [
              version,
            ])
          ).rows[0].uri
        : null;
      out(JSON.stringify({ version, uri }));
      return 0;
    }
    if (command === "from-store") {
      const adapter = adapterArg(argv, command);
      pool = registryPool(e, 2);
      await registryReady(pool);
      const r = await fromStore(pool, e, adapter, stderrLog, closers);
      out(JSON.stringify({ registered: r.registered, skipped: r.skipped, advanced: r.advanced }));
      return r.code;
    }
    if (command !== "register" && command !== "canary")
      throw new ControllerError(
        `expected a command (incumbent, register, canary or from-store), found ${JSON.stringify(command ?? null)}`,
      );
    const raw = json(await input(), "the run record on stdin");
    const run = parseRunRecord(raw);
    pool = registryPool(e, 2);
    await registryReady(pool);
    if (command === "register") {
      const fresh = await registerRun(pool, run, (raw as { gate: unknown }).gate);
      out(JSON.stringify({ registered: run.candidate.version, passed: run.gate.passed, new: fresh }));
      return 0;
    }
    if (!run.gate.passed)
      throw new ControllerError(
        `expected a candidate that passed the gate, found ${run.candidate.version} rejected`,
      );
    const final = await runCanary(pool, await canaryOptions(e, pool, run, run.candidate.version, closers));
    out(JSON.stringify(final));
    return final.phase === "promoted" ? 0 : 1;
  } catch (err) {
    process.stderr.write(`flywheel-controller ${command ?? ""}: ${(err as Error).message}\n`);
    return err instanceof ControllerError ? 2 : 3;
  } finally {
    for (const c of closers) c.close();
    await pool?.end();
  }
}

if (require.main === module)
  void main(process.argv.slice(2), process.env, readStdin, (s) => process.stdout.write(s + "\n")).then(
    (code) => process.exit(code),
  );
