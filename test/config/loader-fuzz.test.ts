/**
 * Fuzz of the whole loader, from the text of a stack file to the validated config: random YAML,
 * random edits of the shipped stack files' text, and random values spliced into the shipped
 * configs at any of their paths, with random stack names and `aws:region` settings. Every input
 * ends in success, a `StackFileError` (one line, naming the file) or a config error naming
 * `sovereign:` paths; never another exception (a rule that crashes is a failure here too).
 */
import * as fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { KIT_STACKS, StackFileError, rawFromStackText, stackFile } from "../../stacks/config/load";
import { validateConfig } from "../../stacks/config/validate";

const FILE = "/stacks/Pulumi.fuzz.yaml";
const TEXTS = KIT_STACKS.map((s) => fs.readFileSync(stackFile(s), "utf8"));

type Outcome = "file-error" | "config-error" | "ok";

/** Loads and validates `text`; throws (failing the property) on anything but the three outcomes. */
function outcome(text: string, opts: { stack?: string; awsRegion?: string } = {}): Outcome {
  let loaded;
  try {
    loaded = rawFromStackText(text, FILE);
  } catch (e) {
    if (!(e instanceof StackFileError)) throw e;
    expect(e.message.startsWith(FILE)).toBe(true);
    expect(e.message).not.toContain("\n");
    return "file-error";
  }
  const r = validateConfig(loaded.raw, { ...loaded, ...opts });
  if (r.ok) return "ok";
  expect(r.issues.length).toBeGreaterThan(0);
  for (const i of r.issues) {
    expect(i.path).toMatch(/^sovereign(:|$)/);
    expect(typeof i.message).toBe("string");
  }
  return "config-error";
}

/** Pieces YAML is made of, so random text is often almost YAML. */
const token = fc.constantFrom(
  "config:",
  "\n",
  "\n  ",
  "  ",
  "\t",
  " ",
  "sovereign:",
  "sovereign:profile: ",
  "sovereign:teams:",
  "sovereign:substrate: {kind: aws, region: eu-central-1}",
  "aws:region: ",
  "- ",
  ": ",
  "[",
  "]",
  "{",
  "}",
  ",",
  "&a ",
  "*a",
  "!!binary ",
  "!secure ",
  "<<: *a",
  "#",
  "'",
  '"',
  "|",
  ">",
  "---",
  "...",
  "%YAML 1.2",
  "~",
  "null",
  "true",
  "1e400",
  "0x1F",
  "dev",
  "prod",
  "name",
  "💰",
  "Zürich",
  "secure: v1:abc",
);
const yamlish = fc.array(token, { maxLength: 40 }).map((t) => t.join(""));

/** Random text edits of a shipped stack file. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.nat(40) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.oneof(token, fc.string({ maxLength: 8 })),
  }),
  fc.record({ kind: fc.constant("dupline" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swaplines" as const), at: fc.nat(), with: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(text: string, e: Edit): string {
  const lines = text.split("\n");
  switch (e.kind) {
    case "delete": {
      const at = e.at % (text.length + 1);
      return text.slice(0, at) + text.slice(at + e.len);
    }
    case "insert": {
      const at = e.at % (text.length + 1);
      return text.slice(0, at) + e.text + text.slice(at);
    }
    case "dupline": {
      const i = e.at % lines.length;
      return [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join("\n");
    }
    case "swaplines": {
      const i = e.at % lines.length;
      const j = e.with % lines.length;
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return lines.join("\n");
    }
  }
}

const editedStack = fc
  .tuple(fc.nat(TEXTS.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 }))
  .map(([i, edits]) => edits.reduce(applyEdit, TEXTS[i]));

/** Odd values: the wrong types, and strings the cloud and the API server refuse. */
const oddValue = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "💰",
    "Zürich",
    "a".repeat(300),
    "UPPER",
    "x.y",
    "-lead",
    "trail-",
    "http://x",
    "~/k",
    0,
    -1,
    1e9,
    0.5,
    true,
    null,
  ),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), {
    maxKeys: 3,
  }),
);

/** Every path (keys and indexes) of a parsed config, so mutations land where the values are. */
function pathsOf(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => pathsOf(x, [...at, i]))];
  if (v !== null && typeof v === "object")
    return [at, ...Object.entries(v).flatMap(([k, x]) => pathsOf(x, [...at, k]))];
  return [at];
}

const docs = TEXTS.map((t) => rawFromStackText(t, FILE).raw);

const mutatedDoc = fc
  .tuple(
    fc.nat(docs.length - 1),
    fc.array(fc.tuple(fc.nat(), oddValue, fc.boolean()), { minLength: 1, maxLength: 4 }),
  )
  .map(([i, muts]) => {
    const raw = structuredClone(docs[i]);
    for (const [n, value, remove] of muts) {
      const paths = pathsOf(raw).filter((p) => p.length > 0);
      const p = paths[n % paths.length];
      let cur = raw as Record<string | number, unknown>;
      for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
      const last = p[p.length - 1];
      if (remove && !Array.isArray(cur)) delete cur[last];
      else cur[last] = value;
    }
    // Back to the text of a stack file, so the loader's whole path runs.
    return stringify({
      config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`sovereign:${k}`, v])),
    });
  });

const stackName = fc.oneof(
  fc.constantFrom("dev", "acme.prod", "a".repeat(60), "My_Stack", "x"),
  fc.string({ minLength: 1, maxLength: 20 }),
);
const awsRegion = fc.oneof(
  fc.constantFrom("eu-central-1", "us-east-1", "mars-1"),
  fc.string({ maxLength: 12 }),
);

describe("config loader fuzz", () => {
  it("GIVEN random YAML-ish text WHEN loaded and validated THEN a file error, a config error or success, never an exception", () => {
    const seen = new Set<Outcome>();
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ maxLength: 60 })), (text) => {
        seen.add(outcome(text));
        seen.add(outcome(`config:\n  ${text}`));
      }),
      { numRuns: 500 },
    );
    expect(seen).toContain("file-error");
    expect(seen).toContain("config-error");
  });

  it("GIVEN random YAML documents under config: WHEN loaded and validated THEN never an exception", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.oneof(
            fc.constantFrom(
              "sovereign:teams",
              "sovereign:models",
              "sovereign:profile",
              "sovereign:substrate",
              "aws:region",
            ),
            fc.string({ maxLength: 10 }),
          ),
          fc.anything({ maxDepth: 3 }),
          { maxKeys: 5 },
        ),
        (config) => {
          outcome(stringify({ config }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("GIVEN random edits of the shipped stack files' text WHEN loaded and validated THEN never an exception", () => {
    const seen = new Set<Outcome>();
    fc.assert(
      fc.property(editedStack, stackName, (text, stack) => {
        seen.add(outcome(text, { stack }));
      }),
      { numRuns: 300 },
    );
    // The edits reach all three ends (a fuzz that only ever fails to parse would prove little).
    expect([...seen].sort()).toEqual(["config-error", "file-error", "ok"]);
  });

  it("GIVEN odd values at random paths of the shipped stacks, random stack names and aws:region WHEN validated THEN never an exception", () => {
    const seen = new Set<Outcome>();
    fc.assert(
      fc.property(mutatedDoc, stackName, awsRegion, (text, stack, region) => {
        seen.add(outcome(text, { stack, awsRegion: region }));
      }),
      { numRuns: 300 },
    );
    expect(seen).toContain("config-error");
  });
});
