/**
 * API keys without SQL:
 *   npm run -s keys -- create --stack S --team T [--expires 30d] [--description D] [--created-by WHO]
 *   npm run -s keys -- list   --stack S [--team T]
 *   npm run -s keys -- revoke --stack S --id ID
 * Connects to the stack's gateway database with `--database-url` (or $SOVEREIGN_DATABASE_URL):
 * the operator's own access, e.g. a `kubectl port-forward` to the in-cluster PostgreSQL or a tunnel
 * to RDS (docs/gateway.md). The key is printed once on stdout; only its SHA-256 is stored.
 */
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import { Pool } from "pg";
import { hashApiKey } from "../gateway/src/auth";
import { createApiKey, migrate } from "../gateway/src/db";
import {
  asksHelp,
  HelpRequested,
  loadStack,
  parseArgs,
  required,
  runMain,
  UsageError,
  type ParsedArgs,
} from "./lib/cli";

export const USAGE = `usage: npm run -s keys -- create --stack S --team T [--expires 30d|12h|90m|<ISO date>] [--description D] [--created-by WHO] [--database-url URL]
       npm run -s keys -- list   --stack S [--team T] [--database-url URL]
       npm run -s keys -- revoke --stack S --id ID [--database-url URL]`;

const VALUED = ["stack", "team", "expires", "description", "created-by", "database-url", "id"];

/** `30d`, `12h`, `90m`, `45s` from `now`, or an absolute ISO date; always in the future. */
export function parseExpiry(v: string, now: Date): Date {
  const m = /^(\d+)([dhms])$/.exec(v);
  let at: Date;
  if (m) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as "d" | "h" | "m" | "s"];
    at = new Date(now.getTime() + Number(m[1]) * unit);
  } else if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))) {
    at = new Date(v);
  } else {
    throw new UsageError(`--expires: expected a duration like 30d, 12h or 90m, or an ISO date; found "${v}"`);
  }
  // 99999999999d is past the last date a Date holds: an invalid date failed later, after connecting.
  if (Number.isNaN(at.getTime())) throw new UsageError(`--expires: ${v} is too far in the future`);
  if (at.getTime() <= now.getTime()) throw new UsageError(`--expires: ${v} is not in the future`);
  return at;
}

export interface KeyRow {
  readonly id: string;
  readonly team: string;
  readonly description: string;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
}

export function keyState(k: KeyRow, now: Date): "active" | "expired" | "revoked" {
  if (k.revokedAt) return "revoked";
  if (k.expiresAt && k.expiresAt.getTime() <= now.getTime()) return "expired";
  return "active";
}

export async function listKeys(pool: Pool, team?: string): Promise<KeyRow[]> {
  const res = await pool.query<{
    id: string;
    team: string;
    description: string;
    created_by: string;
    created_at: Date;
    expires_at: Date | null;
    revoked_at: Date | null;
  }>(
    `SELECT id, team, description, created_by, created_at, expires_at, revoked_at FROM gateway_api_keys
     WHERE $1::text IS NULL OR team = $1 ORDER BY created_at, id`,
    [team ?? null],
  );
  return res.rows.map((r) => ({
    id: r.id,
    team: r.team,
    description: r.description,
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  }));
}

/** Revokes a key; false when no unrevoked key has that id. */
export async function revokeKey(pool: Pool, id: string): Promise<boolean> {
  const res = await pool.query(
    "UPDATE gateway_api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    [id],
  );
  return (res.rowCount ?? 0) > 0;
}

/** Control characters (a newline, a tab, an escape sequence's ESC, Unicode's line separators). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A cell of the table on one line: control characters written as escapes (`\n`, `\u001b`). */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) =>
    c === "\n"
      ? "\\n"
      : c === "\t"
        ? "\\t"
        : c === "\r"
          ? "\\r"
          : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function renderKeys(keys: readonly KeyRow[], now: Date): string {
  const rows = [
    ["id", "team", "state", "created", "by", "expires", "description"],
    ...keys.map((k) =>
      [
        k.id,
        k.team,
        keyState(k, now),
        k.createdAt.toISOString(),
        k.createdBy || "-",
        k.expiresAt?.toISOString() ?? "never",
        k.description,
      ].map(escapeControl),
    ),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function databaseUrl(args: ParsedArgs, env: NodeJS.ProcessEnv): string {
  const url = (args.flags["database-url"] as string | undefined) ?? env.SOVEREIGN_DATABASE_URL;
  if (!url)
    throw new UsageError(
      "no database: pass --database-url postgres://USER:PASSWORD@HOST:PORT/gateway (or set SOVEREIGN_DATABASE_URL); docs/gateway.md shows how to reach each substrate's database",
    );
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError("--database-url: expected a postgres:// URL");
  return url;
}

function randomSecret(): string {
  return randomBytes(24).toString("hex");
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== undefined && asksHelp([command])) throw new HelpRequested();
  if (!command || !["create", "list", "revoke"].includes(command))
    throw new UsageError(command ? `unknown command "${command}"` : "a command is required");
  const args = parseArgs(rest, VALUED);
  if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const { config } = loadStack(required(args, "stack"));
  const teams = config.teams.map((t) => t.name);
  const team = args.flags.team as string | undefined;
  if (team !== undefined && !teams.includes(team))
    throw new UsageError(`--team: stack has no team "${team}" (teams: ${teams.join(", ")})`);
  const now = new Date();
  const expiresAt =
    command === "create" && typeof args.flags.expires === "string"
      ? parseExpiry(args.flags.expires, now)
      : undefined;
  if (command !== "create") {
    for (const f of ["expires", "description", "created-by"])
      if (f in args.flags) throw new UsageError(`--${f} applies to create only`);
  }
  for (const f of ["description", "created-by"]) {
    const v = args.flags[f];
    if (typeof v === "string" && new RegExp(CONTROL.source).test(v))
      throw new UsageError(`--${f}: control characters (a newline, a tab, ...) are not allowed`);
  }
  if (command === "revoke" && typeof args.flags.id !== "string") throw new UsageError("--id is required");
  if (command === "create" && !team) throw new UsageError("--team is required");

  const pool = new Pool({ connectionString: databaseUrl(args, env), max: 1, connectionTimeoutMillis: 5000 });
  try {
    try {
      // The gateway applies the same migrations at start; applying them here is idempotent and
      // lets keys be created before the gateway's first start.
      await migrate(pool);
    } catch (e) {
      throw new Error(`cannot reach the gateway database: ${(e as Error).message}`);
    }
    if (command === "create") {
      const createdBy =
        (args.flags["created-by"] as string | undefined) ?? `${os.userInfo().username}@${os.hostname()}`;
      const { id, key } = await createApiKey(
        pool,
        team!,
        (args.flags.description as string | undefined) ?? "",
        randomSecret,
        hashApiKey,
        { createdBy, expiresAt },
      );
      console.error(
        `created key ${id} for team ${team} by ${createdBy}, expires ${expiresAt?.toISOString() ?? "never"}; it is shown once, only its hash is stored:`,
      );
      console.log(key);
    } else if (command === "list") {
      console.log(renderKeys(await listKeys(pool, team), now));
    } else {
      const id = args.flags.id as string;
      if (!(await revokeKey(pool, id))) throw new UsageError(`--id: no active key "${id}"`);
      console.error(`revoked key ${id}; gateways stop accepting it within 30 s (their key cache)`);
    }
  } finally {
    await pool.end();
  }
}

if (require.main === module) runMain("keys", USAGE, () => main(process.argv.slice(2)));
