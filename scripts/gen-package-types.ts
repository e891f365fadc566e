/**
 * Generates component-package/config-types.ts, the argument types of the component package's facades
 * (component-package/platform.ts), from the stack config schema (stacks/config/schema.ts), so the package
 * takes exactly the keys the kit validates. Pulumi's component analyzer accepts only named
 * interfaces, enums, `T[]`, string-keyed maps and scalars, so:
 *   - every object becomes a named interface (`Model`, `ModelReplicas`, `Team`, ...);
 *   - every string enum becomes an `enum` (one per distinct set of values);
 *   - a union of number constants becomes `number` (the validator checks the value);
 *   - a union of objects tagged by one key (`observability.alertmanager`) becomes one interface
 *     with the tag as an enum and every other key optional (the validator checks the variant);
 *   - the `substrate` union becomes one interface per kind, without `kind`: each facade is one
 *     kind (ClusterPlatform, AwsPlatform);
 *   - `secrets` is left out: the kit accepts it only as a secret, and a secret reaches a component
 *     as an output, which the facades cannot wait for before they build (docs/component-package.md).
 *
 *   npx tsx scripts/gen-package-types.ts           # write the file
 *   npx tsx scripts/gen-package-types.ts --check   # exit 1 when the committed file is stale
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { z } from "zod";
import { stackConfigSchema } from "../stacks/config/schema";
import { exitIfHelp } from "./lib/cli";

type Json = { [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

export const TYPES_FILE = path.resolve(__dirname, "../component-package/config-types.ts");

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join("");
/** Name of an array's item type: `models` → `Model`, `gpuPools` → `GpuPool`. */
const singular = (s: string) => (s.endsWith("s") && s.length > 3 ? s.slice(0, -1) : s);
/** An enum member's name for a value: `on-demand` → `OnDemand`, `off` → `Off`. */
const memberName = (v: string) => (/^[0-9]/.test(pascal(v)) ? `V${pascal(v)}` : pascal(v));
/** Names of the enums by their values (a set seen first under `tags.dataClassification`). */
const ENUM_NAMES: Record<string, string> = {
  "public,internal,confidential,restricted": "DataClassification",
};
// The sections of the config are named by their key (`Gateway`, `Storage`), the items of a list
// by its key in the singular (`Model`, `Team`, `GpuPool`).

class Emitter {
  readonly decls: string[] = [];
  private readonly enums = new Map<string, string>();
  private readonly names = new Set<string>();

  private unique(name: string): string {
    if (this.names.has(name)) throw new Error(`gen-package-types: two types would be named ${name}`);
    this.names.add(name);
    return name;
  }

  enumFor(values: readonly string[], hint: string): string {
    const key = values.join(",");
    const known = this.enums.get(key);
    if (known) return known;
    const name = this.unique(ENUM_NAMES[key] ?? hint);
    this.enums.set(key, name);
    this.decls.push(
      `export enum ${name} {\n${values.map((v) => `  ${memberName(v)} = ${JSON.stringify(v)},`).join("\n")}\n}`,
    );
    return name;
  }

  /** The TypeScript type of a schema node; `name` names the interface or enum it may need. */
  typeOf(s: Json, name: string): string {
    const variants: Json[] | undefined = s.oneOf ?? s.anyOf;
    if (variants) {
      if (variants.every((v) => v.type === "number" && typeof v.const === "number")) return "number";
      if (variants.every((v) => v.type === "object")) return this.taggedUnion(variants, name);
      throw new Error(`gen-package-types: unsupported union at ${name}: ${JSON.stringify(s)}`);
    }
    if (s.enum) return this.enumFor(s.enum as string[], name);
    switch (s.type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "array":
        return `${this.typeOf(s.items ?? {}, singular(name))}[]`;
      case "object":
        if (s.properties) return this.iface(s, name);
        if (s.additionalProperties && typeof s.additionalProperties === "object")
          return `{ [key: string]: ${this.typeOf(s.additionalProperties as Json, `${name}Value`)} }`;
        break;
    }
    throw new Error(`gen-package-types: unsupported schema at ${name}: ${JSON.stringify(s)}`);
  }

  /** `prefix` names the fields' types (`Model` under the root, `TeamFlywheel` under `Team`). */
  iface(s: Json, name: string, omit: readonly string[] = [], prefix = name): string {
    const id = this.unique(name);
    const required = new Set<string>(s.required ?? []);
    const lines = Object.entries(s.properties as Record<string, Json>)
      .filter(([k]) => !omit.includes(k))
      .map(([k, v]) => `  ${k}${required.has(k) ? "" : "?"}: ${this.typeOf(v, `${prefix}${pascal(k)}`)};`);
    // Declared after the types its fields need, so the file reads bottom-up like the schema.
    this.decls.push(`export interface ${id} {\n${lines.join("\n")}\n}`);
    return id;
  }

  /** Objects tagged by one constant key: one interface, the tag an enum, the rest optional. */
  private taggedUnion(variants: Json[], name: string): string {
    const tag = Object.keys(variants[0].properties ?? {}).find((k) =>
      variants.every((v) => v.properties?.[k]?.const !== undefined),
    );
    if (!tag) throw new Error(`gen-package-types: a union without a tag at ${name}`);
    const properties: Record<string, Json> = {
      [tag]: { type: "string", enum: variants.map((v) => v.properties[tag].const as string) },
    };
    for (const v of variants)
      for (const [k, p] of Object.entries(v.properties as Record<string, Json>))
        if (k !== tag) properties[k] ??= p;
    return this.iface({ type: "object", properties, required: [tag] }, name);
  }
}

/** Config keys that are not in PlatformSettings (see the header). */
export const PER_FACADE = ["substrate", "secrets"];

/** The generated module's text (unformatted). */
export function renderTypes(): string {
  const schema = z.toJSONSchema(stackConfigSchema, { io: "input", unrepresentable: "any" }) as Json;
  const e = new Emitter();
  const substrates: Json[] = schema.properties.substrate.oneOf;
  const kindOf = (v: Json) => v.properties.kind.const as string;
  const cluster = substrates.find((v) => kindOf(v) === "existing-cluster");
  const aws = substrates.find((v) => kindOf(v) === "aws");
  if (!cluster || !aws || substrates.length !== 2)
    throw new Error("gen-package-types: expected the substrate kinds aws and existing-cluster");
  e.iface(cluster, "ClusterSubstrate", ["kind"]);
  e.iface(aws, "AwsSubstrate", ["kind"]);
  const common: Json = {
    type: "object",
    properties: Object.fromEntries(
      Object.entries(schema.properties as Json).filter(([k]) => !PER_FACADE.includes(k)),
    ),
    required: (schema.required as string[]).filter((k) => !PER_FACADE.includes(k)),
  };
  e.iface(common, "PlatformSettings", [], "");
  const header = [
    "/**",
    " * Generated from stacks/config/schema.ts by `npx tsx scripts/gen-package-types.ts`; do not edit.",
    " * The argument types of the component package's facades (component-package/platform.ts): every key of the",
    " * stack config, in the types Pulumi's component analyzer accepts. Defaults and rules are the",
    " * stack config's (docs/config-reference.md); the facades validate with the kit's own validator.",
    " */",
  ].join("\n");
  return [header, ...e.decls, ""].join("\n\n");
}

export async function formattedTypes(): Promise<string> {
  const options = (await prettier.resolveConfig(TYPES_FILE)) ?? {};
  return prettier.format(renderTypes(), { ...options, filepath: TYPES_FILE });
}

if (require.main === module) {
  exitIfHelp(process.argv.slice(2), "usage: npx tsx scripts/gen-package-types.ts [--check]");
  const check = process.argv.includes("--check");
  const unknown = process.argv.slice(2).filter((a) => a !== "--check");
  if (unknown.length > 0) {
    console.error(`gen-package-types: unknown argument ${unknown[0]} (expected --check or nothing)`);
    process.exit(2);
  }
  formattedTypes().then(
    (text) => {
      if (check) {
        const current = fs.existsSync(TYPES_FILE) ? fs.readFileSync(TYPES_FILE, "utf8") : "";
        if (current !== text) {
          console.error(
            `${path.relative(process.cwd(), TYPES_FILE)} is stale: run npx tsx scripts/gen-package-types.ts`,
          );
          process.exit(1);
        }
        return;
      }
      fs.writeFileSync(TYPES_FILE, text);
      console.log(`wrote ${path.relative(process.cwd(), TYPES_FILE)}`);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
