/**
 * The import graph of the kit's own source (tests excluded), from the TypeScript compiler's
 * view: every `import`, `import type`, `export ... from` and `require` whose specifier resolves
 * to a file of the repository. Type-only imports count: they tie modules together just as much.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/** Source roots walked, relative to the repository root. */
export const SOURCE_ROOTS = [
  "components",
  "stacks",
  "gateway/src",
  "scripts",
  "policy-pack",
  "bootstrap",
  "bench",
  "examples",
] as const;

function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name === "test") continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ts$/.test(e.name) && !/\.(test|d)\.ts$/.test(e.name)) out.push(p);
    }
  };
  for (const r of SOURCE_ROOTS) walk(path.join(root, r));
  return out.sort();
}

/** File (relative path) → the repository files it imports (relative paths). */
export function importGraph(root: string): Map<string, string[]> {
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    allowJs: false,
  };
  const host = ts.createCompilerHost(options);
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    const info = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
    const deps = new Set<string>();
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith(".")) continue;
      const r = ts.resolveModuleName(ref.fileName, file, options, host).resolvedModule;
      if (!r || r.isExternalLibraryImport) continue;
      deps.add(path.relative(root, r.resolvedFileName));
    }
    graph.set(path.relative(root, file), [...deps].sort());
  }
  return graph;
}

/** Strongly connected components with more than one member (or a self-import): the cycles. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/**
 * The layer of a file: `gateway` (the gateway's own code), `components` (the reusable
 * components and their shared contracts), `stacks/config`, `stacks/wiring`, `stacks` (the entry
 * point), and one layer per other root.
 */
export function layerOf(file: string): string {
  const parts = file.split(path.sep);
  if (parts[0] === "stacks" && (parts[1] === "config" || parts[1] === "wiring")) return `stacks/${parts[1]}`;
  return parts[0];
}

/** The graph between layers (edges inside a layer dropped). */
export function layerGraph(graph: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [from, deps] of graph) {
    const a = layerOf(from);
    if (!out.has(a)) out.set(a, new Set());
    for (const d of deps) {
      const b = layerOf(d);
      if (b !== a) out.get(a)!.add(b);
    }
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}
