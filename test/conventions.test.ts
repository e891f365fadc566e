/**
 * Conventions every component follows (DEVELOPERS' guide): one ComponentResource class per
 * file, and TSDoc with `@default` on every optional arg of an `...Args` interface.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

const FILES = tsFiles(path.join(ROOT, "components"));

/** Optional props of `export interface XxxArgs { ... }` without `@default` in their doc comment. */
export function undocumentedOptionalArgs(source: string): string[] {
  const out: string[] = [];
  const lines = source.split("\n");
  let depth = 0;
  let inArgs = false;
  lines.forEach((line, i) => {
    if (/^export interface \w+Args\b/.test(line)) {
      inArgs = true;
      depth = 0;
    }
    if (!inArgs) return;
    const m = /^\s+readonly (\w+)\?:/.exec(line);
    if (m && depth === 1) {
      let j = i - 1;
      let doc = "";
      while (j >= 0 && /^\s*(\/\*\*|\*)/.test(lines[j])) {
        doc = lines[j] + doc;
        if (/^\s*\/\*\*/.test(lines[j])) break;
        j--;
      }
      if (!doc.includes("@default")) out.push(`${i + 1}: ${m[1]}`);
    }
    depth += (line.match(/{/g) ?? []).length - (line.match(/}/g) ?? []).length;
    if (depth <= 0 && line.includes("}")) inArgs = false;
  });
  return out;
}

describe("component conventions", () => {
  it("GIVEN every component file THEN it declares at most one ComponentResource class", () => {
    const offenders = FILES.filter(
      (f) => (fs.readFileSync(f, "utf8").match(/extends pulumi\.ComponentResource\b/g) ?? []).length > 1,
    );
    expect(offenders.map((f) => path.relative(ROOT, f))).toEqual([]);
  });

  it("GIVEN every Args interface THEN each optional arg documents its @default", () => {
    const missing = FILES.flatMap((f) =>
      undocumentedOptionalArgs(fs.readFileSync(f, "utf8")).map((m) => `${path.relative(ROOT, f)}:${m}`),
    );
    expect(missing).toEqual([]);
  });

  it("GIVEN an Args interface with an undocumented optional arg THEN the check finds it (it can fail)", () => {
    const src = [
      "export interface FooArgs {",
      "  /** Documented. @default 1 */",
      "  readonly a?: number;",
      "  /** No default here. */",
      "  readonly b?: number;",
      "}",
    ].join("\n");
    expect(undocumentedOptionalArgs(src)).toEqual(["5: b"]);
  });
});
