/**
 * What a package's code imports, read from the syntax tree: `import` (type-only or not),
 * `export ... from`, `import x = require()`, `require("x")`, `import("x")` and `import("x")`
 * types. Relative imports are followed (into other folders too), so the result is the closure a
 * build or an install has to satisfy.
 */
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as path from "node:path";
import ts from "typescript";

/** Every npm manifest of the repository, each with its own lockfile (docs/decisions/0007-own-packages.md). */
export const MANIFESTS = ["package.json", "gateway/package.json", "policy-pack/package.json"] as const;

export interface Import {
  /** The importing file, relative to the repository root. */
  readonly file: string;
  readonly spec: string;
  /** Erased at compile time: needed to type-check, never at run time. */
  readonly typeOnly: boolean;
}

function literal(n: ts.Node | undefined): string | undefined {
  return n && ts.isStringLiteral(n) ? n.text : undefined;
}

/** The module specifiers one file names. */
export function specifiersOf(file: string): { spec: string; typeOnly: boolean }[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const out: { spec: string; typeOnly: boolean }[] = [];
  const add = (spec: string | undefined, typeOnly: boolean) =>
    spec !== undefined && out.push({ spec, typeOnly });
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      const c = n.importClause;
      const named =
        c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const allTypes = !!c && !c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly);
      add(literal(n.moduleSpecifier), !!c && (c.isTypeOnly || allTypes));
    } else if (ts.isExportDeclaration(n)) {
      add(literal(n.moduleSpecifier), n.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      add(literal(n.moduleReference.expression), n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.arguments.length === 1) {
      const callee = n.expression;
      if (
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === "require")
      )
        add(literal(n.arguments[0]), false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) {
      add(literal(n.argument.literal), true);
    }
    ts.forEachChild(n, visit);
  };
  visit(source);
  return out;
}

/** "@scope/name/sub" → "@scope/name", "name/sub" → "name"; undefined for relative and built-in modules. */
export function packageOf(spec: string): string | undefined {
  if (spec.startsWith(".") || spec.startsWith("node:")) return undefined;
  const parts = spec.split("/");
  const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  return builtinModules.includes(name) ? undefined : name;
}

function resolveRelative(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  const found = [base, `${base}.ts`, path.join(base, "index.ts")].find(
    (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
  );
  if (!found) throw new Error(`${from}: cannot resolve the import "${spec}"`);
  return found;
}

/**
 * The files under `dir` (relative to `root`, paths relative to `root`) that `keep` accepts; it
 * never descends into node_modules, dot folders or (with `tests: false`) test folders.
 */
export function filesUnder(
  root: string,
  dir: string,
  keep: (name: string) => boolean,
  tests = true,
): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (!e.isDirectory()) {
        if (keep(e.name)) out.push(p);
      } else if (e.name !== "node_modules" && !e.name.startsWith(".") && (tests || e.name !== "test"))
        walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The .ts source files under `dir`: tests, declarations and node_modules left out. */
export function sourcesUnder(root: string, dir: string): string[] {
  return filesUnder(root, dir, (f) => f.endsWith(".ts") && !/\.(test|d)\.ts$/.test(f), false);
}

/**
 * Every import of the files `entries` (relative to `root`) and of every file they reach through
 * relative imports, and the set of files reached.
 */
export function importClosure(
  root: string,
  entries: readonly string[],
): { imports: Import[]; files: string[] } {
  const seen = new Set<string>();
  const imports: Import[] = [];
  const queue = entries.map((e) => path.join(root, e));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith(".ts")) continue; // JSON and the like import nothing
    for (const { spec, typeOnly } of specifiersOf(file)) {
      imports.push({ file: path.relative(root, file), spec, typeOnly });
      if (spec.startsWith(".")) queue.push(resolveRelative(file, spec));
    }
  }
  return { imports, files: [...seen].map((f) => path.relative(root, f)).sort() };
}
