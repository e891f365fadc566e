/**
 * Export and import of a stack's customer data in open formats (files as they are, plain SQL,
 * JSON) with a manifest of SHA-256 checksums and row counts. The CLI wrappers are
 * scripts/export.ts and scripts/import.ts; docs/migration.md is the procedure.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { promisify } from "node:util";
import { Pool } from "pg";
import { bucketName } from "../../components/aws/storage";
import { bucketNames } from "../../components/existing-cluster/substrate";
import type { BucketRole } from "../../components/lib/scopes";
import { MIGRATIONS, migrate } from "../../gateway/src/db";
import { FLYWHEEL_MIGRATIONS, migrateFlywheel } from "../../gateway/src/flywheel/registry";
import type { StackConfig } from "../../stacks/config/schema";
import { opaDataOf } from "../../stacks/wiring/policy";
import type { S3, Store } from "./store";

const run = promisify(execFile);
const sha256hex = (d: Buffer) => createHash("sha256").update(d).digest("hex");

export const FORMAT = "sovereign-export/1";
/** Gateway tables restored as data into the target's own (migrated) schema. */
export const GATEWAY_TABLES = [
  "gateway_api_keys",
  "gateway_audit",
  "gateway_usage",
  "gateway_usage_minute",
] as const;
/** The flywheel registry (schema `flywheel`), exported when the source database has it. */
export const FLYWHEEL_TABLES = [
  "flywheel.dataset_versions",
  "flywheel.model_versions",
  "flywheel.eval_reports",
  "flywheel.deployments",
  "flywheel.audit_events",
] as const;

export interface Manifest {
  readonly format: typeof FORMAT;
  readonly stack: string;
  readonly createdAt: string;
  readonly gatewaySchemaVersion: number;
  /** The flywheel registry's schema version; absent when the source has no registry. */
  readonly flywheelSchemaVersion?: number;
  /** Every file of the export but the manifest: SHA-256 and size. */
  readonly files: Readonly<Record<string, { readonly sha256: string; readonly bytes: number }>>;
  /** Rows per exported table. */
  readonly rows: Readonly<Record<string, number>>;
  /** Objects per bucket role, and the source bucket names. */
  readonly objects: Readonly<Record<string, number>>;
  readonly buckets: Readonly<Record<string, string>>;
}

export interface DataAccess {
  readonly databaseUrl: string;
  /** Directory holding pg_dump and psql. */
  readonly pgBin: string;
  readonly s3: S3;
}

/** The stack's bucket per role, as its substrate names them. */
export function stackBuckets(config: StackConfig): Record<BucketRole, string> {
  const prefix = config.storage.bucketPrefix;
  if (config.substrate.kind === "aws")
    return {
      models: bucketName(prefix, "models"),
      datasets: bucketName(prefix, "datasets"),
      checkpoints: bucketName(prefix, "checkpoints"),
      inferenceLogs: bucketName(prefix, "inferenceLogs"),
    };
  return bucketNames(prefix);
}

/**
 * What is exported from each bucket: all datasets, the gateway's captures, the models teams
 * trained (`teams/`) and every configured LoRA adapter; base weights only with `weights`.
 */
export function objectSelection(
  config: StackConfig,
  weights: boolean,
): { role: BucketRole; prefix: string }[] {
  const sel: { role: BucketRole; prefix: string }[] = [
    { role: "datasets", prefix: "" },
    { role: "inferenceLogs", prefix: "captures/" },
  ];
  if (weights) sel.push({ role: "models", prefix: "" });
  else {
    sel.push({ role: "models", prefix: "teams/" });
    for (const m of config.models)
      for (const a of m.loraAdapters) sel.push({ role: "models", prefix: a.source });
  }
  return sel;
}

async function tableRows(pool: Pool, tables: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables)
    out[t] = Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t}`)).rows[0].n);
  return out;
}

async function flywheelSchemaVersion(pool: Pool): Promise<number | undefined> {
  const has = await pool.query(
    "SELECT 1 FROM pg_tables WHERE schemaname = 'flywheel' AND tablename = 'schema_migrations'",
  );
  if (!has.rowCount) return undefined;
  const r = await pool.query<{ v: number | null }>(
    "SELECT max(version) AS v FROM flywheel.schema_migrations",
  );
  return r.rows[0].v ?? 0;
}

async function schemaVersion(pool: Pool): Promise<number> {
  const r = await pool.query<{ v: number | null }>("SELECT max(version) AS v FROM gateway_schema_migrations");
  return r.rows[0].v ?? 0;
}

export async function exportStack(
  stack: string,
  config: StackConfig,
  access: DataAccess,
  to: Store,
  opts: { weights?: boolean; now?: Date; log?: (line: string) => void } = {},
): Promise<Manifest> {
  const log = opts.log ?? (() => undefined);
  const files: Record<string, { sha256: string; bytes: number }> = {};
  const write = async (file: string, body: Buffer) => {
    await to.write(file, body);
    files[file] = { sha256: sha256hex(body), bytes: body.length };
  };
  // The database first: an unreachable or wrong database fails before anything is written.
  const pool = new Pool({ connectionString: access.databaseUrl, max: 1, connectionTimeoutMillis: 5000 });
  let rows: Record<string, number>;
  let version: number;
  let flywheelVersion: number | undefined;
  try {
    version = await schemaVersion(pool);
    // Counted and dumped in one snapshot would need pg_dump's snapshot; the gateway keeps
    // writing, so stop its traffic (scale it to zero) before exporting (docs/migration.md).
    rows = await tableRows(pool, GATEWAY_TABLES);
    flywheelVersion = await flywheelSchemaVersion(pool);
    if (flywheelVersion !== undefined) rows = { ...rows, ...(await tableRows(pool, FLYWHEEL_TABLES)) };
  } catch (e) {
    throw new Error(`the database: ${errorLine(e)}; nothing was written`);
  } finally {
    await pool.end().catch(() => undefined);
  }
  const dump = async (tables: readonly string[]): Promise<Buffer> => {
    try {
      const r = await run(
        path.join(access.pgBin, "pg_dump"),
        [
          "--data-only",
          "--no-owner",
          "--no-privileges",
          ...tables.flatMap((t) => ["--table", t]),
          `--dbname=${access.databaseUrl}`,
        ],
        { maxBuffer: 1 << 30, encoding: "buffer" },
      );
      return r.stdout;
    } catch (e) {
      const err = (e as { stderr?: Buffer }).stderr?.toString("utf8").trim().split("\n")[0];
      throw new Error(`pg_dump failed: ${err || errorLine(e)}; nothing was written`);
    }
  };
  const flywheelDump = flywheelVersion === undefined ? undefined : await dump(FLYWHEEL_TABLES);
  const gatewayDump = await dump(GATEWAY_TABLES.map((t) => `public.${t}`));

  const buckets = stackBuckets(config);
  const objects: Record<string, number> = {};
  const seen = new Set<string>();
  for (const { role, prefix } of objectSelection(config, opts.weights ?? false)) {
    for (const key of await access.s3.list(buckets[role], prefix)) {
      if (seen.has(`${role}/${key}`)) continue;
      seen.add(`${role}/${key}`);
      await write(`objects/${role}/${key}`, await access.s3.get(buckets[role], key));
      objects[role] = (objects[role] ?? 0) + 1;
    }
    log(`objects: ${buckets[role]}/${prefix} done`);
  }
  await write("models/manifest.json", Buffer.from(JSON.stringify(config.models, null, 2) + "\n"));
  await write("policy/data.json", Buffer.from(JSON.stringify(opaDataOf(config), null, 2) + "\n"));
  if (flywheelDump) {
    await write("postgres/flywheel.sql", flywheelDump);
    log("postgres: flywheel registry dumped");
  }
  await write("postgres/gateway.sql", gatewayDump);
  log("postgres: gateway tables dumped");

  const manifest: Manifest = {
    format: FORMAT,
    stack,
    createdAt: (opts.now ?? new Date()).toISOString(),
    gatewaySchemaVersion: version,
    ...(flywheelVersion === undefined ? {} : { flywheelSchemaVersion: flywheelVersion }),
    files,
    rows,
    objects,
    buckets,
  };
  await to.write("manifest.json", Buffer.from(JSON.stringify(manifest, null, 2) + "\n"));
  return manifest;
}

/** An error's first line; a connection error to several addresses has its message on the parts. */
function errorLine(e: unknown): string {
  const err = e as { message?: string; code?: string; errors?: { message?: string }[] };
  const msg = err?.message || err?.errors?.[0]?.message || err?.code || String(e);
  return msg.split("\n")[0];
}

export class ImportError extends Error {}

export async function readManifest(from: Store): Promise<Manifest> {
  if (!(await from.exists("manifest.json")))
    throw new ImportError(`${from.where}: no manifest.json (not an export)`);
  let m: Manifest;
  try {
    m = JSON.parse((await from.read("manifest.json")).toString("utf8")) as Manifest;
  } catch (e) {
    throw new ImportError(
      `${from.where}/manifest.json: not JSON (${(e as Error).message.replace(/\s+/g, " ")})`,
    );
  }
  const bad = (what: string) => new ImportError(`${from.where}/manifest.json: ${what} (a changed manifest?)`);
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw bad("not an object");
  if (m.format !== FORMAT)
    throw new ImportError(`${from.where}/manifest.json: format "${m.format}", expected "${FORMAT}"`);
  const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!isCount(m.gatewaySchemaVersion)) throw bad("gatewaySchemaVersion is not a count");
  if (m.flywheelSchemaVersion !== undefined && !isCount(m.flywheelSchemaVersion))
    throw bad("flywheelSchemaVersion is not a count");
  for (const key of ["files", "rows"] as const)
    if (typeof m[key] !== "object" || m[key] === null || Array.isArray(m[key]))
      throw bad(`${key} is not an object`);
  for (const [file, f] of Object.entries(m.files)) {
    // Every file lies inside the export: no absolute path, no `..` step out of it.
    if (file.startsWith("/") || file.split(/[\\/]/).some((s) => s === ".." || s === ""))
      throw bad(`file "${file}" is not a path inside the export`);
    if (typeof f !== "object" || f === null || !/^[0-9a-f]{64}$/.test(String(f.sha256)))
      throw bad(`file "${file}" has no SHA-256`);
  }
  for (const [t, n] of Object.entries(m.rows)) if (!isCount(n)) throw bad(`rows of ${t} is not a count`);
  return m;
}

/** Reads every file and checks it against the manifest; names each file that differs. */
export async function verifyExport(from: Store, m: Manifest): Promise<Map<string, Buffer>> {
  const bodies = new Map<string, Buffer>();
  const bad: string[] = [];
  for (const [file, want] of Object.entries(m.files)) {
    if (!(await from.exists(file))) {
      bad.push(`${file} (missing)`);
      continue;
    }
    const body = await from.read(file);
    if (sha256hex(body) !== want.sha256) bad.push(`${file} (checksum differs)`);
    bodies.set(file, body);
  }
  if (bad.length)
    throw new ImportError(`the export does not match its manifest: ${bad.join(", ")}; nothing was imported`);
  return bodies;
}

export async function importStack(
  config: StackConfig,
  access: DataAccess,
  from: Store,
  opts: { log?: (line: string) => void } = {},
): Promise<{ manifest: Manifest; rows: Record<string, number>; policyMatches: boolean }> {
  const log = opts.log ?? (() => undefined);
  const manifest = await readManifest(from);
  const bodies = await verifyExport(from, manifest);
  log(`verified ${bodies.size} files against the manifest`);
  const pool = new Pool({ connectionString: access.databaseUrl, max: 1, connectionTimeoutMillis: 5000 });
  let rows: Record<string, number>;
  try {
    await migrate(pool);
    const version = await schemaVersion(pool);
    if (version !== manifest.gatewaySchemaVersion)
      throw new ImportError(
        `the export has gateway schema version ${manifest.gatewaySchemaVersion}, the target ${version} (this kit knows ${MIGRATIONS.length}): import with the kit version that exported it`,
      );
    const flywheel = manifest.flywheelSchemaVersion !== undefined;
    if (flywheel) {
      await migrateFlywheel(pool);
      const fv = await flywheelSchemaVersion(pool);
      if (fv !== manifest.flywheelSchemaVersion)
        throw new ImportError(
          `the export has flywheel registry version ${manifest.flywheelSchemaVersion}, the target ${fv} (this kit knows ${FLYWHEEL_MIGRATIONS.length}): import with the kit version that exported it`,
        );
    }
    const tables: readonly string[] = flywheel ? [...GATEWAY_TABLES, ...FLYWHEEL_TABLES] : GATEWAY_TABLES;
    const before = await tableRows(pool, tables);
    const full = Object.entries(before).filter(([, n]) => n > 0);
    if (full.length)
      throw new ImportError(
        `the target database is not fresh: ${full.map(([t, n]) => `${t} has ${n} rows`).join(", ")}; nothing was imported`,
      );
    const dumps = ["postgres/gateway.sql", ...(flywheel ? ["postgres/flywheel.sql"] : [])];
    const missing = dumps.filter((d) => !bodies.has(d));
    if (missing.length) throw new ImportError(`the export has no ${missing.join(", ")}`);
    const unknown = tables.filter((t) => manifest.rows[t] === undefined);
    if (unknown.length) throw new ImportError(`the manifest counts no rows of ${unknown.join(", ")}`);
    // One transaction for every dump and the row counts: all of it is restored, or none. A count
    // checked after the commit would leave a restored database that is not fresh any more.
    const check = tables
      .map((t) => [t, t.includes(".") ? t : `public.${t}`]) // the dump empties search_path
      .map(
        ([t, q]) =>
          `  IF (SELECT count(*) FROM ${q}) <> ${manifest.rows[t]} THEN RAISE EXCEPTION 'row counts differ after the restore: ${t} % (export ${manifest.rows[t]})', (SELECT count(*) FROM ${q}); END IF;`,
      )
      .join("\n");
    const sql = Buffer.concat([
      ...dumps.map((d) => bodies.get(d)!),
      Buffer.from(`\nDO $sovereign_counts$ BEGIN\n${check}\nEND $sovereign_counts$;\n`),
    ]);
    const psql = run(
      path.join(access.pgBin, "psql"),
      [
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        "-f",
        "-",
        `--dbname=${access.databaseUrl}`,
      ],
      { maxBuffer: 1 << 26 },
    );
    psql.child.stdin!.end(sql);
    try {
      await psql;
    } catch (e) {
      throw new ImportError(
        `restoring ${dumps.join(" and ")} failed (rolled back; nothing was imported): ${
          // psql's first ERROR line; the lines after it quote the statement.
          ((e as { stderr?: string }).stderr ?? String(e))
            .split("\n")
            .find((l) => l.includes("ERROR:"))
            ?.replace(/^.*ERROR:\s*/, "") ?? String(e)
        }`,
      );
    }
    rows = await tableRows(pool, tables);
    const differ = tables.filter((t) => rows[t] !== manifest.rows[t]);
    if (differ.length)
      throw new ImportError(
        `row counts differ after the restore: ${differ.map((t) => `${t} ${rows[t]} (export ${manifest.rows[t]})`).join(", ")}`,
      );
    log(`postgres: restored ${Object.values(rows).reduce((a, b) => a + b, 0)} rows`);
  } finally {
    await pool.end();
  }
  const buckets = stackBuckets(config);
  let n = 0;
  for (const [file, body] of bodies) {
    const m = /^objects\/([A-Za-z]+)\/(.+)$/.exec(file);
    if (!m) continue;
    const role = m[1] as BucketRole;
    if (!(role in buckets)) throw new ImportError(`${file}: unknown bucket role "${role}"`);
    await access.s3.put(buckets[role], m[2], body);
    n++;
  }
  log(`objects: ${n} written to the target's buckets`);
  const exported = bodies.get("policy/data.json")?.toString("utf8");
  const policyMatches = exported === JSON.stringify(opaDataOf(config), null, 2) + "\n";
  return { manifest, rows, policyMatches };
}
