/**
 * Generates docs/config-reference.md from the zod schema (`npm run docs:config`). A test
 * fails when the committed reference is out of date.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { stackConfigSchema } from "../stacks/config/schema";

type Json = { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

export function renderReference(): string {
  const schema = z.toJSONSchema(stackConfigSchema, { io: "input", unrepresentable: "any" }) as Json;
  const lines: string[] = [
    "# Stack config reference",
    "",
    "Generated from `stacks/config/schema.ts` by `npm run docs:config`; do not edit by hand.",
    "Every key lives under the `sovereign:` namespace of `stacks/Pulumi.<stack>.yaml`. Unknown keys are errors.",
    "Cross-field rules (models fit their pools, teams name existing models, ...) are in `stacks/config/rules/`.",
    "",
    "| path | type | required | default | constraints |",
    "| --- | --- | --- | --- | --- |",
  ];
  walk(schema, "sovereign:", true, lines, schema);
  return lines.join("\n") + "\n";
}

function walk(s: Json, p: string, required: boolean, out: string[], root: Json): void {
  if (s.$ref) s = root.$defs?.[s.$ref.replace("#/$defs/", "")] ?? s;
  const variants: Json[] | undefined = s.anyOf ?? s.oneOf;
  out.push(
    `| \`${p}\` | ${typeOf(s)} | ${required ? "yes" : "no"} | ${s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : ""} | ${constraints(s)} |`,
  );
  if (variants) {
    variants.forEach((v) => {
      const disc = Object.entries(v.properties ?? {}).find(([, x]) => (x as Json).const !== undefined);
      const label = disc ? `${disc[0]}=${(disc[1] as Json).const}` : "variant";
      walkProps(v, `${p}`, out, root, ` (${label})`);
    });
    return;
  }
  if (s.type === "array" && s.items && (s.items.properties || s.items.anyOf))
    walk(s.items, `${p}[]`, true, out, root);
  walkProps(s, p, out, root, "");
}

function walkProps(s: Json, p: string, out: string[], root: Json, suffix: string): void {
  const req = new Set<string>(s.required ?? []);
  for (const [k, v] of Object.entries<Json>(s.properties ?? {})) {
    const child = p.endsWith(":") ? `${p}${k}` : `${p}.${k}`;
    walk(v, child + (suffix && !v.properties ? "" : ""), req.has(k) && v.default === undefined, out, root);
    if (suffix) out[out.length - 1] = out[out.length - 1].replace(`\`${child}\``, `\`${child}\`${suffix}`);
  }
}

function typeOf(s: Json): string {
  if (s.enum) return s.enum.map((e: unknown) => `\`${JSON.stringify(e)}\``).join(" \\| ");
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.anyOf || s.oneOf) return "one of the variants below";
  if (s.type === "array") return `array of ${s.items ? typeOf(s.items) : "any"}`;
  if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object")
    return "map of string";
  return String(s.type ?? "any");
}

function constraints(s: Json): string {
  const c: string[] = [];
  if (s.minimum !== undefined) c.push(`>= ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) c.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) c.push(`<= ${s.maximum}`);
  if (s.minLength !== undefined) c.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) c.push(`max length ${s.maxLength}`);
  if (s.minItems !== undefined) c.push(`min items ${s.minItems}`);
  if (s.pattern) c.push(`pattern \`${String(s.pattern).replace(/\|/g, "\\|")}\``);
  if (s.format) c.push(`format ${s.format}`);
  return c.join(", ");
}

export const REFERENCE_PATH = path.resolve(__dirname, "../docs/config-reference.md");

if (require.main === module) {
  fs.writeFileSync(REFERENCE_PATH, renderReference());
  console.log(`wrote ${REFERENCE_PATH}`);
}
