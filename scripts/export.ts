/**
 * The customer's data out, in open formats:
 *   npm run -s export -- --stack S --to <dir | s3://bucket/prefix> [--weights] [access flags]
 * Writes objects/<role>/<key> (datasets, captures, trained models, LoRA adapters; base weights
 * with --weights), models/manifest.json, policy/data.json, postgres/gateway.sql and
 * manifest.json (SHA-256 of every file, row counts). See docs/migration.md.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { exportStack } from "./migrate/bundle";
import { ACCESS_FLAGS, ACCESS_USAGE, dataAccess, storeOf } from "./migrate/access";
import { loadStack, parseArgs, required, runMain, UsageError } from "./lib/cli";

export const USAGE = `usage: npm run -s export -- --stack S --to <dir | s3://bucket/prefix> [--weights] ${ACCESS_USAGE}`;

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const args = parseArgs(argv, ["stack", "to", ...ACCESS_FLAGS], ["weights"]);
  if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const stack = required(args, "stack");
  const to = required(args, "to");
  const { config } = loadStack(stack);
  const access = dataAccess(args, config, env);
  const isDir = !to.startsWith("s3://");
  const existed = isDir && fs.existsSync(to);
  const store = storeOf(to, access, true);
  let wrote = false;
  let m;
  try {
    m = await exportStack(
      stack,
      config,
      access,
      { ...store, write: (f, b) => ((wrote = true), store.write(f, b)) },
      { weights: args.flags.weights === true, log: (l) => console.error(l) },
    );
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    if (!isDir) {
      if (!wrote) throw e;
      throw new Error(
        `${msg}; ${to} holds a partial export (no manifest.json): delete it or export to another prefix`,
      );
    }
    // The target was absent or empty (storeOf refuses any other): remove what this run wrote.
    try {
      if (existed)
        for (const f of fs.readdirSync(to)) fs.rmSync(path.join(to, f), { recursive: true, force: true });
      else fs.rmSync(to, { recursive: true, force: true });
    } catch {
      throw new Error(`${msg}; ${to} holds a partial export (no manifest.json): delete it before a rerun`);
    }
    if (!wrote) throw e;
    throw new Error(`${msg}; the partial export was removed from ${to}`);
  }
  console.log(
    `exported ${stack} to ${to}: ${Object.keys(m.files).length} files, rows ${JSON.stringify(m.rows)}, objects ${JSON.stringify(m.objects)}`,
  );
}

if (require.main === module) runMain("export", USAGE, () => main(process.argv.slice(2)));
