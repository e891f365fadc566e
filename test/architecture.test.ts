/**
 * The import graph has no cycles: not between files, and not between layers (the components
 * never import the gateway or the stacks; the config never imports the wiring). A cycle is shown
 * as the files (or layers) that reach each other.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { cycles, importGraph, layerGraph } from "./helpers/import-graph";

const ROOT = path.resolve(__dirname, "..");
const graph = importGraph(ROOT);

describe("import graph", () => {
  it("GIVEN the kit's source WHEN walked THEN it covers every layer (the walker sees the imports)", () => {
    const layers = layerGraph(graph);
    expect([...layers.keys()]).toEqual(
      expect.arrayContaining([
        "components",
        "gateway",
        "stacks",
        "stacks/config",
        "stacks/wiring",
        "scripts",
      ]),
    );
    // A known edge, so an empty graph cannot pass for an acyclic one.
    expect(graph.get(path.join("stacks", "program.ts"))).toContain(
      path.join("stacks", "wiring", "platform.ts"),
    );
    expect(layers.get("gateway")).toContain("components");
  });

  it("GIVEN the files WHEN their imports are followed THEN no file reaches itself", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("GIVEN the layers WHEN their imports are followed THEN no layer reaches itself", () => {
    expect(cycles(layerGraph(graph))).toEqual([]);
  });

  it("GIVEN a graph with a cycle WHEN checked THEN the cycle is found (the check can fail)", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    expect(cycles(g)).toEqual([["a", "b", "c"]]);
  });
});
