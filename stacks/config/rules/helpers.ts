/**
 * Cross-field rules read the raw config defensively: they run even when the schema already
 * found problems, so one run reports everything. Each helper returns nothing for a shape it
 * does not understand (the schema reports that).
 */
import type { ConfigIssue } from "../errors";

export type RawConfig = Record<string, unknown>;
export type Rule = (raw: RawConfig) => ConfigIssue[];
export type Entry = { readonly index: number; readonly value: Record<string, unknown> };

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Object entries of a top-level array such as `models`. */
export function entries(raw: RawConfig, key: string): Entry[] {
  const v = raw[key];
  if (!Array.isArray(v)) return [];
  return v.flatMap((value, index) => (isRecord(value) ? [{ index, value }] : []));
}

export function section(raw: RawConfig, key: string): Record<string, unknown> {
  const v = raw[key];
  return isRecord(v) ? v : {};
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function int(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) ? v : undefined;
}

export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function profileOf(raw: RawConfig): "dev" | "prod" | undefined {
  return raw.profile === "dev" || raw.profile === "prod" ? raw.profile : undefined;
}

export function substrateKind(raw: RawConfig): "aws" | "cluster" | undefined {
  const k = section(raw, "substrate").kind;
  return k === "aws" || k === "cluster" ? k : undefined;
}

export function issue(path: string, message: string): ConfigIssue {
  return { path: `sovereign:${path}`, message };
}

/** Issues for names that appear more than once in a list. */
export function duplicateNames(raw: RawConfig, key: string, what: string): ConfigIssue[] {
  const seen = new Map<string, number>();
  const out: ConfigIssue[] = [];
  for (const { index, value } of entries(raw, key)) {
    const name = str(value.name);
    if (name === undefined) continue;
    const first = seen.get(name);
    if (first !== undefined) {
      out.push(
        issue(
          `${key}[${index}].name`,
          `expected a unique ${what} name, found "${name}" again (first at ${key}[${first}])`,
        ),
      );
    } else seen.set(name, index);
  }
  return out;
}
