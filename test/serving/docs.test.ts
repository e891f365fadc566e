/** The chart example in docs/serving.md is real: it lints and renders a GPU model server. */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { helmLint, helmTemplate } from "./helpers";

const doc = fs.readFileSync(path.resolve(__dirname, "../../docs/serving.md"), "utf8");

describe("docs/serving.md", () => {
  it("GIVEN the documented values for Argo CD / Flux WHEN linted and rendered THEN a GPU vLLM server results", () => {
    const block = /```yaml\n# values-llama\.yaml\n([\s\S]*?)```/.exec(doc);
    expect(block, "the values-llama.yaml example").not.toBeNull();
    const values = parseYaml(block![1]);
    const lint = helmLint(values);
    expect(lint.status, lint.output).toBe(0);
    const r = helmTemplate(values);
    expect(r.status, r.output).toBe(0);
    const dep = r.objects.find((o) => o.kind === "Deployment") as any;
    const c = dep.spec.template.spec.containers[0];
    expect(c.args[0]).toBe("s3://acme-ai-prod-models/llama-3.1-8b-instruct/");
    expect(c.resources.limits["nvidia.com/gpu"]).toBe("1");
    expect(r.objects.map((o) => o.kind)).toContain("ScaledObject");
  });
});
