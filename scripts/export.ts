/**
 * The customer's data out, in open formats:
 *   npm run -s export -- --stack S --to <dir | s3://bucket/prefix> [--weights] [access flags]
 * Writes objects/<role>/<key> (datasets, captures, trained models, LoRA adapters; base weights
 * with --weights), models/manifest.json, policy/data.json, postgres/gateway.sql and
 * manifest.json (SHA-256 of every file, row counts). See docs/migration.md.
 */
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
  const m = await exportStack(stack, config, access, storeOf(to, access, true), {
    weights: args.flags.weights === true,
    log: (l) => console.error(l),
  });
  console.log(
    `exported ${stack} to ${to}: ${Object.keys(m.files).length} files, rows ${JSON.stringify(m.rows)}, objects ${JSON.stringify(m.objects)}`,
  );
}

if (require.main === module) runMain("export", USAGE, () => main(process.argv.slice(2)));
