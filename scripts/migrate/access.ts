/** Flags shared by export and import: the database, PostgreSQL's client tools and S3. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { StackConfig } from "../../stacks/config/schema";
import { type ParsedArgs, UsageError } from "../lib/cli";
import type { DataAccess } from "./bundle";
import { dirStore, S3, s3Store, type Store } from "./store";

export const ACCESS_FLAGS = ["database-url", "s3-endpoint", "s3-region", "pg-bin"];
export const ACCESS_USAGE =
  "[--database-url URL] [--s3-endpoint URL] [--s3-region R] [--pg-bin DIR]  (or SOVEREIGN_DATABASE_URL, AWS_ENDPOINT_URL_S3, AWS_REGION, SOVEREIGN_PG_BIN; S3 keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)";

function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}

export function dataAccess(args: ParsedArgs, config: StackConfig, env: NodeJS.ProcessEnv): DataAccess {
  const databaseUrl = flag(args, "database-url") ?? env.SOVEREIGN_DATABASE_URL;
  if (!databaseUrl)
    throw new UsageError(
      "no database: pass --database-url postgres://USER:PASSWORD@HOST:PORT/gateway (docs/migration.md)",
    );
  if (!/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new UsageError("--database-url: expected a postgres:// URL");
  const pgBin = flag(args, "pg-bin") ?? env.SOVEREIGN_PG_BIN ?? findOnPath("pg_dump", env);
  if (!pgBin || !fs.existsSync(path.join(pgBin, "pg_dump")) || !fs.existsSync(path.join(pgBin, "psql")))
    throw new UsageError(
      "pg_dump and psql not found: install the PostgreSQL client (same major version as the server or newer) or pass --pg-bin DIR",
    );
  const region =
    config.substrate.kind === "aws"
      ? config.substrate.region
      : (flag(args, "s3-region") ?? env.AWS_REGION ?? "us-east-1");
  const endpoint =
    flag(args, "s3-endpoint") ??
    env.AWS_ENDPOINT_URL_S3 ??
    (config.substrate.kind === "aws" ? `https://s3.${region}.amazonaws.com` : undefined);
  if (!endpoint)
    throw new UsageError(
      "no S3 endpoint: pass --s3-endpoint (for an in-cluster store, port-forward it first: docs/migration.md)",
    );
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY)
    throw new UsageError(
      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)",
    );
  const s3 = new S3({
    endpoint,
    region,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
    },
  });
  return { databaseUrl, pgBin, s3 };
}

function findOnPath(bin: string, env: NodeJS.ProcessEnv): string | undefined {
  return (env.PATH ?? "").split(path.delimiter).find((d) => d && fs.existsSync(path.join(d, bin)));
}

/** `<dir>` or `s3://bucket/prefix`; a directory target must be empty or absent. */
export function storeOf(where: string, access: DataAccess, forWrite: boolean): Store {
  if (where.startsWith("s3://")) {
    try {
      return s3Store(access.s3, where);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (forWrite) {
    if (fs.existsSync(where) && !fs.statSync(where).isDirectory())
      throw new UsageError(`${where} is not a directory: export into a new directory`);
    if (fs.existsSync(where) && fs.readdirSync(where).length)
      throw new UsageError(`${where} is not empty: export into a new directory`);
    fs.mkdirSync(where, { recursive: true });
  } else if (!fs.existsSync(where) || !fs.statSync(where).isDirectory()) {
    throw new UsageError(`${where} is not a directory`);
  }
  return dirStore(path.resolve(where));
}
