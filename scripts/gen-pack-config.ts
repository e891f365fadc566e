/**
 * Writes policy-pack/config/<stack>.json for every stack file in stacks/ (the kit's and any
 * stack a user added), formatted as the repository's prettier config wants them:
 *   npx tsx scripts/gen-pack-config.ts [--stacks-dir DIR] [--out DIR]
 * A test checks the kit's files are up to date and formatted. It is the kit's script, not part of
 * the pack: it reads the kit's stack configs (the pack's own tree imports nothing of the kit).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { packConfigFile } from "../policy-pack/stack-config";
import { rawFromStackFile, STACKS_DIR, stackFile, stackNames } from "../stacks/config/load";
import { parseConfig } from "../stacks/config/validate";
import { exitIfHelp } from "./lib/cli";

export const CONFIG_DIR = path.join(__dirname, "..", "policy-pack", "config");

/** The pack config of a stack file as plain JSON (not yet formatted). */
export function renderPackConfig(stack: string, file: string = stackFile(stack)): string {
  const raw = rawFromStackFile(file);
  const config = parseConfig(raw.raw, { secretKeys: raw.secretKeys });
  return JSON.stringify(packConfigFile(config), null, 2) + "\n";
}

/** The file content gen-pack-config writes for `outFile`: the JSON run through prettier with the repo's options. */
export async function formatPackConfig(json: string, outFile: string): Promise<string> {
  const options = (await prettier.resolveConfig(outFile)) ?? {};
  return prettier.format(json, { ...options, filepath: outFile });
}

/**
 * Writes the formatted pack config of every stack in `stacksDir` into `outDir`; returns the paths.
 * Every stack is rendered first: one bad stack file writes nothing, so no output is left stale
 * beside fresh ones.
 */
export async function writePackConfigs(stacksDir: string, outDir: string): Promise<string[]> {
  const rendered: [string, string][] = [];
  for (const stack of stackNames(stacksDir)) {
    const out = path.join(outDir, `${stack}.json`);
    const file = path.join(stacksDir, `Pulumi.${stack}.yaml`);
    try {
      rendered.push([out, await formatPackConfig(renderPackConfig(stack, file), out)]);
    } catch (e) {
      // One line: the first problem, and where to see the others.
      const [head, ...lines] = (e as Error).message.split("\n");
      const more = lines.filter((l) => /^\s*- /.test(l)).map((l) => l.replace(/^\s*-\s*/, ""));
      const msg = more.length
        ? `${head.replace(/:$/, "")}: ${more[0]}${more.length > 1 ? ` (and ${more.length - 1} more: npm run -s check-config -- ${file})` : ""}`
        : head;
      throw new Error(`${msg.startsWith(file) ? msg : `${file}: ${msg}`}; nothing was written`);
    }
  }
  for (const [out, text] of rendered) fs.writeFileSync(out, text);
  return rendered.map(([out]) => out);
}

function parseArgs(argv: string[]): { stacksDir: string; outDir: string } {
  const opts = { stacksDir: STACKS_DIR, outDir: CONFIG_DIR };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === "--stacks-dir" || flag === "--out") && value && !value.startsWith("--")) {
      if (!fs.existsSync(value) || !fs.statSync(value).isDirectory())
        throw new UsageError(`${flag}: ${value} is not a directory`);
      if (flag === "--stacks-dir") opts.stacksDir = path.resolve(value);
      else opts.outDir = path.resolve(value);
      i++;
    } else {
      throw new UsageError(`unknown or incomplete argument: ${flag}`);
    }
  }
  return opts;
}

class UsageError extends Error {}

const PACK_USAGE = "usage: npx tsx scripts/gen-pack-config.ts [--stacks-dir DIR] [--out DIR]";

if (require.main === module) {
  (async () => {
    exitIfHelp(process.argv.slice(2), PACK_USAGE);
    const { stacksDir, outDir } = parseArgs(process.argv.slice(2));
    for (const f of await writePackConfigs(stacksDir, outDir))
      console.log(`wrote ${path.relative(process.cwd(), f)}`);
  })().catch((e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`gen-pack-config: ${msg}`);
    if (e instanceof UsageError) console.error(PACK_USAGE);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
