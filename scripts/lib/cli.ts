/**
 * Small shared pieces of the operator commands (keys, cost, export, import): flag parsing and
 * loading a stack's config, each failing with a one-line `UsageError` instead of a stack trace.
 */
import * as fs from "node:fs";
import { rawFromStackFile, stackFile, StackNameError } from "../../stacks/config/load";
import { formatIssues } from "../../stacks/config/errors";
import { validateConfig } from "../../stacks/config/validate";
import type { StackConfig } from "../../stacks/config/schema";

/** A user mistake: printed as one line (and the usage), exit code 2. */
export class UsageError extends Error {}

/** `--help` or `-h` where a flag or argument stands: `runMain` prints the usage to stdout, exit 0. */
export class HelpRequested extends Error {}

const isHelp = (a: string): boolean => a === "--help" || a === "-h";

/** Whether argv asks for help, for commands with their own parser (a flag's value `-h` goes as `--flag=-h`). */
export function asksHelp(argv: readonly string[]): boolean {
  return argv.some(isHelp);
}

/** For commands without `runMain`: with `--help` or `-h`, prints the usage to stdout and exits 0. */
export function exitIfHelp(argv: readonly string[], usage: string): void {
  if (!asksHelp(argv)) return;
  console.log(usage);
  process.exit(0);
}

export interface ParsedArgs {
  readonly positional: string[];
  readonly flags: Record<string, string | true>;
}

/**
 * `--name value`, `--name=value` and boolean `--name`. `valued` lists the flags that need a
 * value, `booleans` the ones that take none; anything else is an error naming the flag.
 */
export function parseArgs(
  argv: readonly string[],
  valued: readonly string[],
  booleans: readonly string[] = [],
): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (isHelp(a)) throw new HelpRequested();
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (booleans.includes(name)) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
    } else if (valued.includes(name)) {
      const value = eq > 0 ? a.slice(eq + 1) : argv[i + 1];
      if (value === undefined || value === "" || (eq < 0 && value.startsWith("--")))
        throw new UsageError(`--${name} needs a value`);
      if (eq < 0) i++;
      flags[name] = value;
    } else {
      const known = [...valued, ...booleans].map((f) => `--${f}`).join(", ");
      throw new UsageError(`unknown flag --${name} (known: ${known})`);
    }
  }
  return { positional, flags };
}

/** A required string flag. */
export function required(args: ParsedArgs, name: string): string {
  const v = args.flags[name];
  if (typeof v !== "string") throw new UsageError(`--${name} is required`);
  return v;
}

/** The validated config of a stack by name or by path to its `Pulumi.<stack>.yaml`. */
export function loadStack(stackOrFile: string): { file: string; config: StackConfig } {
  let file: string;
  try {
    file = fs.existsSync(stackOrFile) && stackOrFile.endsWith(".yaml") ? stackOrFile : stackFile(stackOrFile);
  } catch (e) {
    if (e instanceof StackNameError) throw new UsageError(e.message);
    throw e;
  }
  if (!fs.existsSync(file)) throw new UsageError(`no stack "${stackOrFile}": ${file} does not exist`);
  let raw;
  try {
    raw = rawFromStackFile(file);
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  const r = validateConfig(raw.raw, raw);
  if (!r.ok) throw new UsageError(`${file}: ${formatIssues(r.issues)}`);
  return { file, config: r.config };
}

/** Runs a command's main; a `UsageError` prints `<name>: <message>` and the usage, exit 2; others exit 1 in one line. */
export function runMain(name: string, usage: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    if (e instanceof HelpRequested) {
      console.log(usage);
      return;
    }
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`${name}: ${msg}`);
    if (e instanceof UsageError) console.error(usage);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  });
}
