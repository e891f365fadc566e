/**
 * Restores an export into another stack (a fresh one):
 *   npm run -s import -- --stack T --from <dir | s3://bucket/prefix> [access flags]
 * Verifies every checksum first (nothing is written when one differs), restores the gateway
 * tables into the target's migrated schema, checks the row counts, then writes the objects into
 * the target's buckets. See docs/migration.md.
 */
import { ImportError, importStack } from "./migrate/bundle";
import { ACCESS_FLAGS, ACCESS_USAGE, dataAccess, storeOf } from "./migrate/access";
import { loadStack, parseArgs, required, runMain, UsageError } from "./lib/cli";

export const USAGE = `usage: npm run -s import -- --stack T --from <dir | s3://bucket/prefix> ${ACCESS_USAGE}`;

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const args = parseArgs(argv, ["stack", "from", ...ACCESS_FLAGS]);
  if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const stack = required(args, "stack");
  const from = required(args, "from");
  const { config } = loadStack(stack);
  const access = dataAccess(args, config, env);
  try {
    const r = await importStack(config, access, storeOf(from, access, false), {
      log: (l) => console.error(l),
    });
    console.log(`imported ${r.manifest.stack} into ${stack}: rows ${JSON.stringify(r.rows)}`);
    if (!r.policyMatches)
      console.log(
        `note: ${stack}'s teams and models differ from ${r.manifest.stack}'s (policy/data.json in the export); carry them into Pulumi.${stack}.yaml and run pulumi up`,
      );
  } catch (e) {
    if (e instanceof ImportError) throw new Error(e.message);
    throw e;
  }
}

if (require.main === module) runMain("import", USAGE, () => main(process.argv.slice(2)));
