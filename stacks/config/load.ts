/**
 * Turns Pulumi stack config into the raw object the schema validates. Only the stack (the
 * entry point and the offline checker) calls this; components never read config.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { YAMLError, parseDocument } from "yaml";

export const NAMESPACE = "sovereign";

export interface RawStackConfig {
  /** `sovereign:*` keys, namespace stripped, values parsed. */
  readonly raw: Record<string, unknown>;
  /** Top-level keys set with `--secret`. */
  readonly secretKeys: string[];
  /** The stack's name (from `Pulumi.<stack>.yaml`, or the engine's), when known: it is part of cloud names. */
  readonly stack?: string;
  /** The `aws:region` provider setting, when set: it must agree with `substrate.region`. */
  readonly awsRegion?: string;
}

/**
 * From the flat map Pulumi hands a program (`{"sovereign:teams": "<json>"}`): structured
 * values arrive as JSON strings, scalars as strings.
 */
export function rawFromPulumiConfig(
  all: Record<string, string>,
  isSecret: (key: string) => boolean,
): RawStackConfig {
  const raw: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(all)) {
    const [ns, ...rest] = k.split(":");
    if (ns !== NAMESPACE || rest.length === 0) continue;
    const key = rest.join(":");
    raw[key] = decodeValue(v);
    if (isSecret(k)) secretKeys.push(key);
  }
  return { raw, secretKeys, ...(all["aws:region"] !== undefined ? { awsRegion: all["aws:region"] } : {}) };
}

function decodeValue(v: string): unknown {
  const t = v.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * From a `Pulumi.<stack>.yaml` file. Secure values (`{secure: ...}`) are marked secret and
 * replaced by a placeholder, since they cannot be decrypted offline.
 */
export function rawFromStackFile(file: string): RawStackConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    // A directory, a file without read permission: the file's problem, one line like the others.
    const err = e as NodeJS.ErrnoException;
    throw new StackFileError(
      file,
      err.code === "EISDIR"
        ? "is a directory, not a stack file"
        : `cannot read it (${err.code ?? err.message})`,
    );
  }
  return rawFromStackText(text, file);
}

/**
 * From the text of a `Pulumi.<stack>.yaml` file (`file` names it in errors and gives the stack
 * name). Every problem of the text is a {@link StackFileError}; nothing else is thrown.
 */
export function rawFromStackText(text: string, file: string): RawStackConfig {
  const stack = /^Pulumi\.(.+)\.yaml$/.exec(path.basename(file))?.[1];
  let doc: unknown;
  try {
    const parsed = parseDocument(text, { logLevel: "silent" });
    // A warning (an unknown tag or directive, an ambiguous alias) is a mistake too: the value
    // would not be what the file seems to say.
    const first = parsed.errors[0] ?? parsed.warnings[0];
    if (first) throw first;
    doc = parsed.toJS();
  } catch (e) {
    if (e instanceof YAMLError) {
      const at = e.linePos?.[0];
      throw new StackFileError(file, e.message.split(" at line ")[0].split("\n")[0], at?.line, at?.col);
    }
    // The parser's other refusals (an alias bomb, a resolution error) are the file's problem too.
    throw new StackFileError(
      file,
      `unreadable YAML: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
    );
  }
  if (doc === null || doc === undefined) return { raw: {}, secretKeys: [], ...(stack ? { stack } : {}) };
  const top = doc as Record<string, unknown>;
  if (typeof doc !== "object" || Array.isArray(doc) || !("config" in top))
    throw new StackFileError(
      file,
      `expected a top-level "config:" mapping (Pulumi stack files hold settings under it), found ${Array.isArray(doc) ? "a list" : typeof doc !== "object" ? JSON.stringify(doc) : `keys ${Object.keys(top).join(", ")}`}`,
    );
  const config = top.config;
  if (config === null || typeof config !== "object" || Array.isArray(config))
    throw new StackFileError(
      file,
      `expected "config:" to be a mapping of settings, found ${JSON.stringify(config)}`,
    );
  const raw: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  let awsRegion: string | undefined;
  for (const [k, v] of Object.entries(config)) {
    if (k === "aws:region") awsRegion = typeof v === "string" ? v : JSON.stringify(v);
    const [ns, ...rest] = k.split(":");
    if (ns !== NAMESPACE && rest.length > 0 && nearNamespace(ns))
      throw new StackFileError(
        file,
        `expected the "${NAMESPACE}:" namespace, found "${k}" (a typo? its setting would be ignored)`,
      );
    if (ns !== NAMESPACE || rest.length === 0) continue;
    const key = rest.join(":");
    const { value, secret } = stripSecure(v);
    raw[key] = value;
    if (secret) secretKeys.push(key);
  }
  return {
    raw,
    secretKeys,
    ...(stack ? { stack } : {}),
    ...(awsRegion !== undefined ? { awsRegion } : {}),
  };
}

function stripSecure(v: unknown): { value: unknown; secret: boolean } {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.secure === "string")
      return { value: "<secret>", secret: true };
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) {
      const r = stripSecure(x);
      secret ||= r.secret;
      out[k] = r.value;
    }
    return { value: out, secret };
  }
  if (Array.isArray(v)) {
    const rs = v.map(stripSecure);
    return { value: rs.map((r) => r.value), secret: rs.some((r) => r.secret) };
  }
  return { value: v, secret: false };
}

/** Directory of the shipped stack configs. */
export const STACKS_DIR = path.resolve(__dirname, "..");

/** Pulumi's stack name rules: letters, digits, `-`, `_` and `.`, at most 100 characters. */
export const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** A stack "name" that is none (a `/`, a `..` walk out of `stacks/`): one line. */
export class StackNameError extends Error {
  constructor(readonly given: string) {
    super(
      `${JSON.stringify(given)} is not a stack name (letters, digits, "-", "_", "."), nor the path of an existing Pulumi.<stack>.yaml`,
    );
    this.name = "StackNameError";
  }
}

/** The shipped stack file of a stack name; anything but a plain stack name is a {@link StackNameError}. */
export function stackFile(stack: string): string {
  if (!STACK_NAME.test(stack)) throw new StackNameError(stack);
  return path.join(STACKS_DIR, `Pulumi.${stack}.yaml`);
}

/** The stacks the kit ships (and its tests check). A user's own stack files are not among them. */
export const KIT_STACKS: readonly string[] = ["aws-dev", "aws-prod", "local"];

/** Names of the shipped stacks present in `dir` (default `stacks/`); extra user stacks are ignored. */
export function shippedStacks(dir: string = STACKS_DIR): string[] {
  const present = new Set(stackNames(dir));
  return KIT_STACKS.filter((s) => present.has(s));
}

/** Names of every stack file in `dir` (`Pulumi.<name>.yaml`), the kit's and the user's. */
export function stackNames(dir: string = STACKS_DIR): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** A stack file that cannot be read as a Pulumi stack config: one line, with file, line and column when known. */
export class StackFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(`${file}${line !== undefined ? `:${line}:${col ?? 1}` : ""}: ${reason}`);
    this.name = "StackFileError";
  }
}

/** A namespace one or two edits from `sovereign` (a typo), but not another provider's. */
function nearNamespace(ns: string): boolean {
  const a = ns.toLowerCase();
  const b = NAMESPACE;
  if (a === b) return true; // e.g. "Sovereign:"
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      // a swap of two neighbours counts as one edit ("sovereing")
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length] <= 2;
}
