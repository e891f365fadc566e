/**
 * Validation at the boundary: the schema plus cross-field rules, every problem reported at once.
 */
import { z } from "zod";
import { stackConfigSchema, type StackConfig } from "./schema";
import { ConfigError, RuleCrashError, dedupe, describeValue, formatPath, type ConfigIssue } from "./errors";
import { ALL_RULES } from "./rules/index";
import { resolveSettings } from "./settings";

export interface ValidateOptions {
  /** Top-level keys that were set with `--secret` (only `secrets` may hold secret values). */
  readonly secretKeys?: readonly string[];
  /** The stack's name, when known: cloud names are built from it (checked by the naming rules). */
  readonly stack?: string;
  /** The `aws:region` provider setting, when set (it must agree with `substrate.region`). */
  readonly awsRegion?: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly config: StackConfig }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/**
 * Validates a raw config object (the `sovereign:*` keys without their namespace): the schema,
 * then every cross-field rule on the parsed config with its defaults applied and the settings
 * resolved from it. So that one run still reports everything, when the schema finds problems
 * the rules run on a copy without the offending values (where dropping them leaves a valid
 * config), and their findings about the objects that held those values are left out.
 */
export function validateConfig(input: unknown, opts: ValidateOptions = {}): ValidationResult {
  const { raw, issues } = renamed(input);
  const parsed = stackConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) issues.push(...fromZod(parsed.error, raw));
  const forRules = parsed.success
    ? { config: parsed.data, touched: [] }
    : withoutBadValues(raw, parsed.error);
  if (forRules) {
    const { config, touched } = forRules;
    const found = runRules(ALL_RULES, {
      config,
      settings: resolveSettings(config),
      ...(opts.stack !== undefined ? { stack: opts.stack } : {}),
      ...(opts.awsRegion !== undefined ? { awsRegion: opts.awsRegion } : {}),
    });
    issues.push(...found.filter((i) => !touched.some((t) => within(i.path, t))));
  }
  if (isRecord(raw)) {
    if (raw.secrets !== undefined && !(opts.secretKeys ?? []).includes("secrets")) {
      issues.push({
        path: "sovereign:secrets",
        message:
          "expected a secret value (set it with `pulumi config set --secret --path secrets.<name>`), found plain text",
      });
    }
  }
  const unique = dedupe(issues);
  if (unique.length > 0 || !parsed.success) return { ok: false, issues: unique };
  return { ok: true, config: parsed.data };
}

/**
 * Runs every rule. A rule that throws is a bug in the kit, not a problem of the config: it must
 * never let the config pass silently, so it ends the run with a {@link RuleCrashError} naming
 * the rule and the error.
 */
export function runRules<T>(rules: readonly ((input: T) => ConfigIssue[])[], input: T): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const rule of rules) {
    let found: ConfigIssue[];
    try {
      found = rule(input);
    } catch (e) {
      throw new RuleCrashError(rule.name || "(anonymous rule)", e);
    }
    issues.push(...found);
  }
  return issues;
}

/** Validates or throws a {@link ConfigError} listing every problem. */
export function parseConfig(raw: unknown, opts: ValidateOptions = {}): StackConfig {
  const r = validateConfig(raw, opts);
  if (!r.ok) throw new ConfigError(r.issues);
  return r.config;
}

function fromZod(err: z.ZodError, raw: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of err.issues) {
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(issue.path, raw);
      for (const key of issue.keys) {
        const removed = Object.hasOwn(REMOVED_KEYS, key) ? REMOVED_KEYS[key] : undefined;
        if (removed && removed.under.test(formatPath(issue.path))) {
          out.push({ path: formatPath([...issue.path, key]), message: removed.message });
          continue;
        }
        const hint = closest(key, known);
        out.push({
          path: formatPath([...issue.path, key]),
          message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}; expected one of ${known.join(", ") || "no keys"}`,
        });
      }
      continue;
    }
    if (issue.code === "invalid_union" && "errors" in issue && issue.errors.length > 0) {
      // Discriminated unions: report the branch's own issues.
      const nested = new z.ZodError(
        issue.errors.flat().map((e) => ({ ...e, path: [...issue.path, ...e.path] })),
      );
      out.push(...fromZod(nested, raw));
      continue;
    }
    if (issue.code === "invalid_union" && "options" in issue && issue.discriminator && issue.options) {
      // A discriminated union's tag (`substrate.kind`, a receiver's `receiver`) names no branch.
      const found = isRecord(issue.input) ? issue.input[issue.discriminator] : undefined;
      const allowed = issue.options.map(String);
      const hint = typeof found === "string" ? closest(found, allowed) : undefined;
      out.push({
        path: formatPath(issue.path),
        message: `expected one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}${hint ? ` (did you mean "${hint}"?)` : ""}, found ${describeValue(found)}`,
      });
      continue;
    }
    if (issue.code === "invalid_key" && issue.issues.length > 0) {
      // Record keys: the key's own check says what a key must look like.
      out.push({
        path: formatPath(issue.path),
        message: `expected keys that are ${issue.issues.map((i) => i.message).join("; ")}, found ${describeValue(issue.input)}`,
      });
      continue;
    }
    const found = "input" in issue ? issue.input : valueAt(raw, issue.path);
    out.push({
      path: formatPath(issue.path),
      message: `${expectation(issue)}, found ${describeValue(found)}`,
    });
  }
  return out;
}

/**
 * The raw config without the values the schema rejected, parsed, when dropping them (so that
 * defaults apply) is enough; `touched` are the config paths of the objects they were in (or of
 * the top-level key): a rule's finding there could stem from the default standing in for the
 * user's value, so it waits until the value is fixed. Undefined when a required value is
 * missing or wrong.
 */
function withoutBadValues(
  raw: unknown,
  first: z.ZodError,
): { config: StackConfig; touched: string[] } | undefined {
  if (!isRecord(raw)) return undefined;
  const copy = structuredClone(raw);
  const touched: string[] = [];
  let err = first;
  for (let round = 0; round < 8; round++) {
    let changed = false;
    for (const issue of err.issues) {
      const paths =
        issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
      for (const p of paths) {
        const parent = valueAt(copy, p.slice(0, -1));
        const key = p[p.length - 1];
        if (!isRecord(parent) || typeof key !== "string" || !Object.hasOwn(parent, key)) continue;
        delete parent[key];
        touched.push(formatPath(p.length === 1 ? p : p.slice(0, -1)));
        changed = true;
      }
    }
    if (!changed) return undefined;
    const again = stackConfigSchema.safeParse(copy);
    if (again.success) return { config: again.data, touched };
    err = again.error;
  }
  return undefined;
}

/** Whether config path `p` is `at` or inside it. */
function within(p: string, at: string): boolean {
  return p === at || p.startsWith(`${at}.`) || p.startsWith(`${at}[`);
}

/** Keys the schema had once, with what to do instead (matched by the path they sit under). */
/**
 * Top-level keys renamed since 0.1.0 (docs/decisions/0005-names.md), old → new. A config that
 * still uses the old key gets one line naming the new one and is refused; the checks then run
 * as if it were renamed, so that line is all it reports.
 */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  cluster: "eks",
};

/** Values of `substrate.kind` renamed since 0.1.0, old → new. */
export const RENAMED_SUBSTRATE_KINDS: Readonly<Record<string, string>> = {
  cluster: "existing-cluster",
};

/** The old spellings in `raw`, reported, and a copy of `raw` with the new ones. */
function renamed(raw: unknown): { raw: unknown; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (!isRecord(raw)) return { raw, issues };
  const out: Record<string, unknown> = { ...raw };
  for (const [from, to] of Object.entries(RENAMED_KEYS)) {
    if (!Object.hasOwn(raw, from)) continue;
    const both = Object.hasOwn(raw, to);
    issues.push({
      path: formatPath([from]),
      message: both
        ? `was renamed to "${formatPath([to])}", which is set too; move its settings there and delete this key`
        : `was renamed to "${formatPath([to])}" (same settings); rename the key`,
    });
    if (!both) out[to] = raw[from];
    delete out[from];
  }
  const sub = raw.substrate;
  if (isRecord(sub) && typeof sub.kind === "string" && Object.hasOwn(RENAMED_SUBSTRATE_KINDS, sub.kind)) {
    const to = RENAMED_SUBSTRATE_KINDS[sub.kind];
    issues.push({
      path: formatPath(["substrate", "kind"]),
      message: `"${sub.kind}" was renamed to "${to}" (same substrate, same settings); change the value`,
    });
    out.substrate = { ...sub, kind: to };
  }
  return { raw: out, issues };
}

const REMOVED_KEYS: Readonly<Record<string, { readonly under: RegExp; readonly message: string }>> = {
  minGpus: {
    under: /^sovereign:gpuPools\[\d+\]$/,
    message:
      "was removed: no substrate kept a minimum of GPUs (Karpenter keeps none, an existing cluster's nodes are there anyway); delete the key, and hold warm capacity with a model's replicas.min",
  },
};

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      return `expected ${issue.origin === "array" ? "at least" : issue.inclusive ? ">=" : ">"} ${String(issue.minimum)}${issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " characters" : ""}`;
    case "too_big":
      return `expected ${issue.inclusive ? "<=" : "<"} ${String(issue.maximum)}${issue.origin === "string" ? " characters" : ""}`;
    case "invalid_format":
      return `expected ${issue.message.replace(/^Invalid (string: )?/, "") || issue.format}`;
    default:
      return `expected ${issue.message}`;
  }
}

/** Keys the schema allows at `path`, for "did you mean" hints. */
function knownKeysAt(path: readonly PropertyKey[], raw: unknown): string[] {
  let schema: z.ZodType = stackConfigSchema;
  let value: unknown = raw;
  for (const p of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = schema.shape[p as string] as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return [];
    value =
      isRecord(value) || Array.isArray(value)
        ? (value as Record<PropertyKey, unknown>)[p as string]
        : undefined;
    if (!schema) return [];
  }
  schema = unwrap(schema);
  if (schema instanceof z.ZodDiscriminatedUnion && isRecord(value)) {
    const opt = (schema.options as z.ZodType[]).find(
      (o) =>
        o instanceof z.ZodObject &&
        Object.values(o.shape).some((s) => s instanceof z.ZodLiteral && s.value === value?.kind),
    );
    if (opt) schema = opt;
  }
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(s: z.ZodType): z.ZodType {
  let cur: z.ZodType = s;
  for (let i = 0; i < 8; i++) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) {
      cur = cur.unwrap() as z.ZodType;
    } else break;
  }
  return cur;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p as string];
  }
  return v;
}

function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = levenshtein(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
