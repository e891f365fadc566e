import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig, validateConfig } from "../../stacks/config/validate";

/** Arbitrary JSON-ish values, including the wrong types at every level. */
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie("value"), { maxKeys: 4 }),
  ),
})).value;

const base = rawFromStackFile(stackFile("aws-prod")).raw;

/** A shipped config with random values spliced in at random paths. */
const mutatedConfig = fc
  .array(
    fc.tuple(
      fc.array(
        fc.oneof(
          fc.constantFrom(
            ...Object.keys(base),
            "models",
            "teams",
            "name",
            "pool",
            "gpusPerReplica",
            "gpuPools",
            "replicas",
            "min",
            "max",
          ),
          fc.nat(3),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      anyValue,
    ),
    { maxLength: 5 },
  )
  .map((edits) => {
    const raw: any = structuredClone(base);
    for (const [p, v] of edits) {
      let cur = raw;
      for (const k of p.slice(0, -1)) {
        if (cur === null || typeof cur !== "object") break;
        cur = cur[k as never];
      }
      if (cur !== null && typeof cur === "object") cur[p[p.length - 1] as never] = v;
    }
    return raw;
  });

describe("config validation properties", () => {
  it("GIVEN any generated config WHEN validated THEN the result is success or a ConfigError, never a crash", () => {
    fc.assert(
      fc.property(fc.oneof(mutatedConfig, anyValue), (raw) => {
        try {
          const c = parseConfig(raw);
          expect(c.profile === "dev" || c.profile === "prod").toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          const err = e as ConfigError;
          expect(err.issues.length).toBeGreaterThan(0);
          for (const i of err.issues) expect(i.path).toMatch(/^sovereign(:|$)/);
        }
      }),
      { numRuns: 400 },
    );
  });

  it("GIVEN a config that fails WHEN validated twice THEN the issues are the same (deterministic)", () => {
    fc.assert(
      fc.property(mutatedConfig, (raw) => {
        const a = validateConfig(raw);
        const b = validateConfig(structuredClone(raw));
        expect(a.ok).toBe(b.ok);
        if (!a.ok && !b.ok) expect(a.issues).toEqual(b.issues);
      }),
      { numRuns: 100 },
    );
  });
});
