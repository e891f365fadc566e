/**
 * Offline check of a stack config: `npm run check-config -- <stack>` (or a path to a
 * Pulumi.<stack>.yaml). Prints every problem and exits 1, or prints a summary and exits 0.
 */
import * as fs from "node:fs";
import { StackFileError, StackNameError, rawFromStackFile, stackFile } from "../stacks/config/load";
import { RuleCrashError, formatIssues } from "../stacks/config/errors";
import { validateConfig } from "../stacks/config/validate";
import { configWarnings } from "../stacks/config/warnings";
import { exitIfHelp } from "./lib/cli";

const USAGE = "usage: npm run -s check-config -- <stack name | path to Pulumi.<stack>.yaml>";
exitIfHelp(process.argv.slice(2), USAGE);
const [arg, ...extra] = process.argv.slice(2);
if (!arg) {
  console.error(USAGE);
  process.exit(2);
}
if (extra.length) {
  console.error(`check-config: unexpected argument ${JSON.stringify(extra[0])} (one stack at a time)`);
  console.error(USAGE);
  process.exit(2);
}
let file: string;
try {
  file = fs.existsSync(arg) ? arg : stackFile(arg);
} catch (e) {
  if (!(e instanceof StackNameError)) throw e;
  console.error(`check-config: ${e.message}`);
  process.exit(2);
}
if (!fs.existsSync(file)) {
  console.error(`check-config: no stack config at ${file}`);
  process.exit(2);
}
let stackConfig: ReturnType<typeof rawFromStackFile>;
try {
  stackConfig = rawFromStackFile(file);
} catch (e) {
  if (!(e instanceof StackFileError)) throw e;
  console.error(e.message);
  process.exit(1);
}
let r: ReturnType<typeof validateConfig>;
try {
  r = validateConfig(stackConfig.raw, stackConfig);
} catch (e) {
  if (!(e instanceof RuleCrashError)) throw e;
  console.error(`${file}: ${e.message}`);
  process.exit(3);
}
if (!r.ok) {
  console.error(`${file}: ${formatIssues(r.issues)}`);
  process.exit(1);
}
for (const w of configWarnings(r.config)) console.error(`${file}: warning: ${w.path}: ${w.message}`);
console.log(
  `${file}: ok (${r.config.profile}, ${r.config.substrate.kind}, ${r.config.models.length} models, ${r.config.teams.length} teams)`,
);
