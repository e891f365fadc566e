import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { REFERENCE_PATH, renderReference } from "../../scripts/gen-config-docs";
import { TOP_LEVEL_KEYS } from "../../stacks/config/schema";

describe("config reference", () => {
  it("GIVEN the schema WHEN the reference is rendered THEN docs/config-reference.md is up to date (run npm run docs:config)", () => {
    expect(fs.readFileSync(REFERENCE_PATH, "utf8")).toBe(renderReference());
  });

  it("THEN every top-level key is documented", () => {
    const doc = renderReference();
    for (const k of TOP_LEVEL_KEYS) expect(doc).toContain(`\`sovereign:${k}\``);
  });
});
