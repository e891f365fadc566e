/**
 * Every image a stack runs and where its pods pull it from:
 *   npm run -s images -- <stack> [--account 123456789012] [--copy]
 * `--copy` prints one `crane copy` line per image that goes through a configured mirror, for
 * mirrors that are plain registries rather than proxy caches (byte-for-byte copies keep digests).
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { StackFileError, StackNameError, rawFromStackFile, stackFile } from "../stacks/config/load";
import { ConfigError } from "../stacks/config/errors";
import { parseConfig } from "../stacks/config/validate";
import { parseImage } from "../components/lib/images";
import { imageRoutes, type ImageRoute } from "../stacks/config/image-plan";
import { exitIfHelp } from "./lib/cli";

export function renderRoutes(routes: readonly ImageRoute[], copy: boolean): string {
  if (copy)
    return routes
      .filter((r) => r.via === "mirror" && r.pull !== r.image)
      .map((r) =>
        parseImage(r.image).tag === undefined
          ? // Copying an untagged reference would copy `latest`, which the chart never asks for.
            `# ${r.image} (${r.source}: ${r.role}) keeps the chart version's own tag: copy the tag \`helm template\` shows to ${r.pull}`
          : `crane copy ${r.image} ${r.pull}`,
      )
      .filter((line, i, all) => all.indexOf(line) === i)
      .join("\n");
  const rows = routes.map((r) => [r.source, r.role, r.via, r.pull]);
  const head = ["source", "role", "via", "pulled as"];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(width[i]))
      .join("  ")
      .trimEnd();
  return [line(head), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const USAGE = "usage: images <stack | path to Pulumi.<stack>.yaml> [--account ID] [--copy]";

if (require.main === module) {
  exitIfHelp(process.argv.slice(2), USAGE);
  let values: { account?: string; copy?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      allowPositionals: true,
      options: { account: { type: "string" }, copy: { type: "boolean", default: false } },
    }));
  } catch (e) {
    // An unknown flag, a flag without its value: one line and the usage, not node's stack trace.
    console.error(`images: ${(e as Error).message.split(". ")[0]}`);
    console.error(USAGE);
    process.exit(2);
  }
  const stack = positionals[0];
  if (!stack || positionals.length > 1) {
    if (stack) console.error(`images: unexpected argument "${positionals[1]}"`);
    console.error(USAGE);
    process.exit(2);
  }
  if (values.account !== undefined && !/^\d{12}$/.test(values.account)) {
    console.error(`images: --account: expected a 12-digit AWS account id, found "${values.account}"`);
    process.exit(2);
  }
  let file: string;
  try {
    file = fs.existsSync(stack) ? stack : stackFile(stack);
  } catch (e) {
    if (!(e instanceof StackNameError)) throw e;
    console.error(`images: ${e.message}`);
    process.exit(2);
  }
  if (!fs.existsSync(file)) {
    console.error(`images: no stack config at ${file}`);
    process.exit(2);
  }
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(rawFromStackFile(file).raw);
  } catch (e) {
    // A YAML or config mistake is one message, never a stack trace.
    if (!(e instanceof StackFileError) && !(e instanceof ConfigError)) throw e;
    console.error(e instanceof StackFileError ? e.message : `${file}: ${e.message}`);
    process.exit(1);
  }
  const ecr =
    values.account && config.substrate.kind === "aws"
      ? `${values.account}.dkr.ecr.${config.substrate.region}.amazonaws.com`
      : undefined;
  console.log(renderRoutes(imageRoutes(config, ecr), values.copy ?? false));
}
