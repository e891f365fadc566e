/** One problem found in a stack config, located by its config path. */
export interface ConfigIssue {
  /** Config path, e.g. `sovereign:models[0].pool`. */
  readonly path: string;
  /** What was expected versus what was found. */
  readonly message: string;
}

/** Formats a path array as `sovereign:key[0].field`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "sovereign";
  let out = `sovereign:${String(path[0])}`;
  for (const p of path.slice(1)) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return out;
}

/** Short, quoted rendering of a value found in the config. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return "an object";
}

/**
 * Every problem of a stack config at once. Thrown at the boundary, before any resource is
 * registered; the entry point turns it into a clean, non-zero exit without a stack trace.
 */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(formatIssues(issues));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const n = issues.length;
  const lines = issues.map((i) => `  - ${i.path}: ${i.message}`);
  return [
    `the stack config has ${n} problem${n === 1 ? "" : "s"}:`,
    ...lines,
    "Fix them in the stack's Pulumi.<stack>.yaml or with `pulumi config set --path`, then run again.",
  ].join("\n");
}

/**
 * A validation rule threw instead of returning issues: a bug in the kit's checks. The run fails
 * (a config must never pass because its check crashed) with the rule's name and the error, as
 * one message without a stack trace.
 */
export class RuleCrashError extends Error {
  readonly rule: string;
  constructor(rule: string, cause: unknown) {
    const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(
      `the config check "${rule}" failed (${why}). This is a bug in the kit's validation, not in your config; please report it with the rule's name.`,
      { cause },
    );
    this.name = "RuleCrashError";
    this.rule = rule;
  }
}

/** The issues without repeats (the same message at the same path), in their first order. */
export function dedupe(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
