/**
 * Conventions every component follows (DEVELOPERS' guide): one ComponentResource class per
 * file, and TSDoc with `@default` on every optional arg of an `...Args` interface.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

const FILES = tsFiles(path.join(ROOT, "components"));

/**
 * Optional properties of `export interface XxxArgs` (and of the object types nested in them)
 * whose TSDoc comment has no `@default` tag, as `line: name`. Read with the TypeScript compiler,
 * so only a real tag counts (not the word in prose or code).
 */
export function undocumentedOptionalArgs(source: string): string[] {
  const sf = ts.createSourceFile("x.ts", source, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const checkMembers = (members: ts.NodeArray<ts.TypeElement>) => {
    for (const m of members) {
      if (!ts.isPropertySignature(m)) continue;
      const hasDefault = ts.getJSDocTags(m).some((t) => t.tagName.text === "default");
      if (m.questionToken && !hasDefault) {
        const line = sf.getLineAndCharacterOfPosition(m.getStart(sf)).line + 1;
        out.push(`${line}: ${m.name.getText(sf)}`);
      }
      if (m.type && ts.isTypeLiteralNode(m.type)) checkMembers(m.type.members);
    }
  };
  sf.forEachChild((node) => {
    if (
      ts.isInterfaceDeclaration(node) &&
      /Args$/.test(node.name.text) &&
      node.modifiers?.some((mod) => mod.kind === ts.SyntaxKind.ExportKeyword)
    )
      checkMembers(node.members);
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
      "  /** No default here, though prose says @defaults and `@default` in code. */",
      "  readonly b?: number;",
      "  readonly nested: {",
      "    /** Missing too. */",
      "    readonly c?: string;",
      "  };",
      "}",
    ].join("\n");
    expect(undocumentedOptionalArgs(src)).toEqual(["5: b", "8: c"]);
  });
});
