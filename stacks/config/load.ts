/**
 * Turns Pulumi stack config into the raw object the schema validates. Only the stack (the
 * entry point and the offline checker) calls this; components never read config.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

export const NAMESPACE = "sovereign";

export interface RawStackConfig {
  /** `sovereign:*` keys, namespace stripped, values parsed. */
  readonly raw: Record<string, unknown>;
  /** Top-level keys set with `--secret`. */
  readonly secretKeys: string[];
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
  return { raw, secretKeys };
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
  const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  const raw: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(doc?.config ?? {})) {
    const [ns, ...rest] = k.split(":");
    if (ns !== NAMESPACE || rest.length === 0) continue;
    const key = rest.join(":");
    const { value, secret } = stripSecure(v);
    raw[key] = value;
    if (secret) secretKeys.push(key);
  }
  return { raw, secretKeys };
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

export function stackFile(stack: string): string {
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
