/**
 * The examples use the components directly (not the kit's stack entry point): evaluated under the
 * Pulumi mocks, they register the resources a user would get, and they import nothing from
 * `stacks/`. (They are typechecked by `npx tsc -p .`.)
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { importGraph } from "./helpers/import-graph";
import { installMocks, settle } from "./helpers/mocks";

const ROOT = path.resolve(__dirname, "..");

describe("examples/existing-cluster-serving", () => {
  it("GIVEN the example WHEN evaluated under mocks THEN it registers the existing-cluster substrate and the model server release from the repo's chart", async () => {
    const recorder = installMocks({ stack: "example" });
    const { build } = await import("../examples/existing-cluster-serving/index");
    const out = build({ context: "kind-example" });
    await settle();
    const types = new Set(recorder.resources.map((r) => r.type));
    expect(types).toContain("sovereign:existingCluster:Substrate");
    expect(types).toContain("sovereign:platform:Serving");
    const release = recorder.one("kubernetes:helm.sh/v3:Release", "serving-model-tiny-chat-release");
    expect(release.inputs.chart).toBe(path.join(ROOT, "charts", "model-server"));
    expect(release.inputs.values.engine).toBe("simulator");
    expect(release.inputs.values.topologySpread.nodeWhenUnsatisfiable).toBe("ScheduleAnyway");
    const provider = recorder.ofType("pulumi:providers:kubernetes");
    expect(provider.map((p) => p.inputs.context)).toContain("kind-example");
    expect(Object.keys(out.modelUrls)).toEqual(["tiny-chat"]);
  });

  it("GIVEN the examples WHEN their imports are followed THEN none reaches stacks/ (components are usable alone)", () => {
    const graph = importGraph(ROOT);
    const files = [...graph.keys()].filter((f) => f.startsWith("examples"));
    expect(files.length).toBeGreaterThan(0);
    const reach = new Set<string>(files);
    const queue = [...files];
    while (queue.length > 0)
      for (const d of graph.get(queue.shift()!) ?? [])
        if (!reach.has(d)) {
          reach.add(d);
          queue.push(d);
        }
    expect([...reach].filter((f) => f.startsWith("stacks"))).toEqual([]);
  });
});
