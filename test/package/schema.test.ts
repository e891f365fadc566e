/**
 * The schema the component package publishes, as the real Pulumi CLI gets it
 * (`pulumi package get-schema`, CLI of scripts/engine-tools.sh): both facades, their inputs
 * against the stack config schema (every key, every type, enum values, required keys, at every
 * depth: the seam between the package and the kit's validator), and their outputs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { formattedTypes, PER_FACADE, TYPES_FILE } from "../../scripts/gen-package-types";
import { stackConfigSchema } from "../../stacks/config/schema";
import { AwsSubstrate } from "../../component-package/aws-parts";
import { ClusterSubstrate, Flywheel, Tenancy } from "../../component-package/components";
import { installMocks, settle, valueOf } from "../helpers/mocks";
import { awsFacadeArgs, withFlywheel } from "./facade-args";
import { cliEnv, pluginBinary, ROOT, run } from "./plugin";

type Json = { [k: string]: any };

const TOKEN = "sovereign:index:";
const configSchema = z.toJSONSchema(stackConfigSchema, { io: "input", unrepresentable: "any" }) as Json;

/** Every difference between a package schema property and the config schema node at `at`. */
export function differences(pkg: Json, prop: Json, cfg: Json, at: string): string[] {
  const types = pkg.types as Record<string, Json>;
  let p = prop;
  if (p.$ref) {
    const name = String(p.$ref).replace(`#/types/`, "");
    if (!types[name]) return [`${at}: dangling reference ${p.$ref}`];
    p = types[name];
  }
  const variants: Json[] | undefined = cfg.oneOf ?? cfg.anyOf;
  if (variants && variants.every((v) => typeof v.const === "number"))
    return p.type === "number" ? [] : [`${at}: expected number, found ${p.type}`];
  if (variants) {
    // A tagged union: one object with every variant's keys, the tag an enum of the tags.
    const properties: Json = {};
    for (const v of variants) Object.assign(properties, v.properties);
    const tag = Object.keys(variants[0].properties).find((k) =>
      variants.every((v) => v.properties[k]?.const),
    );
    properties[tag!] = { type: "string", enum: variants.map((v) => v.properties[tag!].const) };
    return differences(pkg, prop, { type: "object", properties, required: [tag] }, at);
  }
  if (cfg.enum) {
    if (!p.enum) return [`${at}: expected an enum of ${cfg.enum.join(", ")}`];
    const values = (p.enum as Json[]).map((e) => e.value);
    return JSON.stringify(values) === JSON.stringify(cfg.enum)
      ? []
      : [`${at}: enum ${values.join(", ")} instead of ${cfg.enum.join(", ")}`];
  }
  const want = cfg.type === "integer" ? "number" : cfg.type;
  if (p.type !== want) return [`${at}: type ${p.type} instead of ${want}`];
  if (want === "array") return differences(pkg, p.items, cfg.items, `${at}[]`);
  if (want !== "object") return [];
  if (!cfg.properties)
    return differences(pkg, p.additionalProperties ?? {}, cfg.additionalProperties, `${at}{}`);
  const out: string[] = [];
  const have = Object.keys(p.properties ?? {}).sort();
  const expected = Object.keys(cfg.properties).sort();
  if (JSON.stringify(have) !== JSON.stringify(expected))
    out.push(`${at}: keys ${have.join(",")} instead of ${expected.join(",")}`);
  const req = [...((p.required as string[]) ?? [])].sort();
  const cfgReq = [...((cfg.required as string[]) ?? [])].sort();
  if (JSON.stringify(req) !== JSON.stringify(cfgReq))
    out.push(`${at}: required ${req.join(",")} instead of ${cfgReq.join(",")}`);
  for (const k of expected)
    if (p.properties?.[k]) out.push(...differences(pkg, p.properties[k], cfg.properties[k], `${at}.${k}`));
  return out;
}

/** Every way `value` does not fit the package schema property `prop` (types, keys, required keys). */
export function conformance(pkg: Json, prop: Json, value: unknown, at: string): string[] {
  let p = prop;
  if (p.$ref === "pulumi.json#/Any") return [];
  if (p.$ref) p = (pkg.types as Record<string, Json>)[String(p.$ref).replace("#/types/", "")] ?? {};
  const kind = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  const want = p.type === "integer" ? "number" : p.type;
  if (kind !== want) return [`${at}: ${kind} instead of ${want}`];
  if (kind === "array")
    return (value as unknown[]).flatMap((v, i) => conformance(pkg, p.items, v, `${at}[${i}]`));
  if (kind !== "object") return [];
  const v = value as Record<string, unknown>;
  if (!p.properties)
    return Object.entries(v).flatMap(([k, x]) =>
      conformance(pkg, p.additionalProperties ?? {}, x, `${at}.${k}`),
    );
  return [
    ...((p.required as string[]) ?? []).filter((k) => v[k] === undefined).map((k) => `${at}.${k}: missing`),
    ...Object.entries(v).flatMap(([k, x]) =>
      p.properties[k]
        ? conformance(pkg, p.properties[k], x, `${at}.${k}`)
        : [`${at}.${k}: not in the schema`],
    ),
  ];
}

/** The package components that take a substrate handle (on AWS with the prefix `Aws`). */
const PARTS = ["Serving", "Gateway", "Tenancy", "Flywheel", "Policy", "Observability"];

/** The substrate components: name, substrate kind, handle type, the prefix of their parts. */
const SUBSTRATES = [
  ["ClusterSubstrate", "existing-cluster", "SubstrateHandle", ""],
  ["AwsSubstrate", "aws", "AwsSubstrateHandle", "Aws"],
] as const;

/** The config schema a facade's inputs stand for: the common keys plus its substrate kind. */
function facadeConfig(kind: string): Json {
  const variant = (configSchema.properties.substrate.oneOf as Json[]).find(
    (v) => v.properties.kind.const === kind,
  )!;
  const { kind: _kind, ...substrateProps } = variant.properties;
  const properties = Object.fromEntries(
    Object.entries(configSchema.properties as Json).filter(([k]) => !PER_FACADE.includes(k)),
  );
  properties.substrate = {
    type: "object",
    properties: substrateProps,
    required: (variant.required as string[]).filter((k) => k !== "kind"),
  };
  return {
    type: "object",
    properties,
    required: (configSchema.required as string[]).filter((k) => k === "substrate" || !PER_FACADE.includes(k)),
  };
}

/** A facade's inputs as one object type, for {@link differences}. */
function inputsOf(pkg: Json, token: string): Json {
  const r = pkg.resources[token];
  return { type: "object", properties: r.inputProperties, required: r.requiredInputs };
}

describe("the component package schema (real Pulumi CLI)", () => {
  let schema: Json;
  let plugin: ReturnType<typeof pluginBinary>;

  beforeAll(async () => {
    const pulumi = execFileSync("bash", [path.join(ROOT, "scripts/engine-tools.sh"), "--print", "pulumi"], {
      encoding: "utf8",
    }).trim();
    plugin = pluginBinary();
    const { stdout } = await run(pulumi, ["package", "get-schema", plugin.binary], {
      env: cliEnv(path.join(plugin.dir, "home")),
      maxBuffer: 64 * 1024 * 1024,
    });
    schema = JSON.parse(stdout) as Json;
  }, 300_000);
  afterAll(() => plugin?.cleanup());

  it("names the package and serves the two facades, the substrate and the parts", () => {
    expect(schema.name).toBe("sovereign");
    expect(schema.version).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version);
    expect(Object.keys(schema.resources).sort()).toEqual(
      [
        "AwsFlywheel",
        "AwsGateway",
        "AwsObservability",
        "AwsPlatform",
        "AwsPolicy",
        "AwsServing",
        "AwsSubstrate",
        "AwsTenancy",
        "ClusterPlatform",
        "ClusterSubstrate",
        "Flywheel",
        "Gateway",
        "Observability",
        "Policy",
        "Serving",
        "Tenancy",
      ].map((r) => TOKEN + r),
    );
    for (const r of Object.values(schema.resources as Record<string, Json>)) expect(r.isComponent).toBe(true);
  });

  it.each(SUBSTRATES)(
    "gives %s the facade's inputs, and each part those and the substrate's handle",
    (substrate, kind, handleType, prefix) => {
      const cfg = facadeConfig(kind);
      const handle = schema.resources[`${TOKEN}${substrate}`].properties.handle as Json;
      expect(handle.$ref).toBe(`#/types/${TOKEN}${handleType}`);
      expect(differences(schema, inputsOf(schema, `${TOKEN}${substrate}`), cfg, substrate)).toEqual([]);
      for (const part of PARTS.map((p) => prefix + p)) {
        const {
          handle: input,
          teamNamespaces,
          modelApiKeys,
          flywheelIdentities,
          ...inputProperties
        } = schema.resources[`${TOKEN}${part}`].inputProperties as Json;
        const map = {
          type: "object",
          additionalProperties: { type: "string" },
          description: expect.any(String),
        };
        // The flywheel also takes Tenancy's output.
        expect(teamNamespaces, part).toEqual(part === `${prefix}Flywheel` ? map : undefined);
        // The gateway and the flywheel take Serving's keys: an output (no `plain`), optional (no
        // key where every model runs on CPU).
        expect(modelApiKeys, part).toEqual(
          part === `${prefix}Gateway` || part === `${prefix}Flywheel` ? map : undefined,
        );
        expect(schema.resources[`${TOKEN}${part}`].requiredInputs).not.toContain("modelApiKeys");
        // Policy takes Flywheel's identities: an output (no `plain`), optional (none where no team
        // turns the flywheel on), a map of the FlywheelIdentity type.
        expect(flywheelIdentities, part).toEqual(
          part === `${prefix}Policy`
            ? {
                type: "object",
                additionalProperties: { $ref: `#/types/${TOKEN}FlywheelIdentity` },
                description: expect.any(String),
              }
            : undefined,
        );
        expect(schema.resources[`${TOKEN}${part}`].requiredInputs).not.toContain("flywheelIdentities");
        expect(input.$ref, part).toBe(handle.$ref);
        // Another resource's output: a typed SDK must accept an output there (no `plain`).
        expect(input.plain, part).toBeUndefined();
        expect(schema.resources[`${TOKEN}${part}`].requiredInputs).toContain("handle");
        const required = (schema.resources[`${TOKEN}${part}`].requiredInputs as string[]).filter(
          (k) => k !== "handle" && k !== "teamNamespaces",
        );
        expect(
          differences(schema, { type: "object", properties: inputProperties, required }, cfg, part),
        ).toEqual([]);
      }
    },
  );

  it("types the handle a ClusterSubstrate publishes: every key and value of a real one", async () => {
    installMocks({ stack: "local" });
    const value = await valueOf(new ClusterSubstrate("substrate", withFlywheel()).handle);
    await settle();
    expect(Object.keys(value.workloads).length).toBeGreaterThan(3);
    expect(conformance(schema, { $ref: `#/types/${TOKEN}SubstrateHandle` }, value, "handle")).toEqual([]);
  });

  it("types the handle an AwsSubstrate publishes: every key and value of a real one", async () => {
    // An association's ARN is computed by AWS; the mocks echo inputs only.
    installMocks({
      stack: "aws-dev",
      outputs: (r) =>
        r.type === "aws:eks/podIdentityAssociation:PodIdentityAssociation"
          ? { associationArn: `arn:aws:eks:eu-central-1:123456789012:podidentityassociation/${r.name}` }
          : {},
    });
    const value = await valueOf(new AwsSubstrate("substrate", awsFacadeArgs("aws-dev")).handle);
    await settle();
    expect(Object.keys(value.workloads).length).toBeGreaterThan(3);
    expect(Object.keys(value.postgres.logins).length).toBeGreaterThan(1);
    expect(conformance(schema, { $ref: `#/types/${TOKEN}AwsSubstrateHandle` }, value, "handle")).toEqual([]);
  });

  it("types the identities a Flywheel publishes: every key and value of real ones", async () => {
    installMocks({ stack: "local" });
    const args = withFlywheel();
    const handle = new ClusterSubstrate("substrate", args).handle;
    const teamNamespaces = new Tenancy("tenancy", { ...args, handle }).teamNamespaces;
    const value = await valueOf(
      new Flywheel("flywheel", { ...args, handle, teamNamespaces }).flywheelIdentities,
    );
    await settle();
    expect(Object.keys(value)).toEqual([args.teams[0].name]);
    const type = schema.resources[`${TOKEN}Flywheel`].properties.flywheelIdentities as Json;
    expect(conformance(schema, type, value, "flywheelIdentities")).toEqual([]);
    // Every field of the type is in the value (the type names nothing the output lacks).
    const fields = Object.keys((schema.types as Json)[`${TOKEN}FlywheelIdentity`].properties).sort();
    expect(Object.keys(value[args.teams[0].name]).sort()).toEqual(fields);
  });

  it.each(SUBSTRATES)("gives each part of %s its outputs", (_substrate, _kind, _handle, prefix) => {
    const map = { type: "object", additionalProperties: { type: "string" } };
    const of = (part: string) => schema.resources[`${TOKEN}${prefix}${part}`];
    expect(of("Serving").properties).toMatchObject({ modelUrls: map, modelApiKeys: map });
    // What Gateway and Flywheel take as `modelApiKeys` is what Serving publishes.
    const { description: _d, ...published } = of("Serving").properties.modelApiKeys as Json;
    for (const part of ["Gateway", "Flywheel"])
      expect(of(part).inputProperties.modelApiKeys).toMatchObject(published);
    expect(of("Gateway").properties).toMatchObject({ gatewayUrl: { type: "string" } });
    expect(of("Tenancy").properties).toMatchObject({ teamNamespaces: map });
    expect(of("Flywheel").properties).toMatchObject({ cronJobs: map });
  });

  it.each(SUBSTRATES)(
    "gives %s's Policy and Observability their outputs, and Policy what Flywheel publishes",
    (_substrate, _kind, _handle, prefix) => {
      const of = (part: string) => schema.resources[`${TOKEN}${prefix}${part}`];
      // What Policy takes as `flywheelIdentities` is what Flywheel publishes.
      const { description: _f, ...identities } = of("Flywheel").properties.flywheelIdentities as Json;
      expect(identities).toEqual({
        type: "object",
        additionalProperties: { $ref: `#/types/${TOKEN}FlywheelIdentity` },
      });
      expect(of("Policy").inputProperties.flywheelIdentities).toMatchObject(identities);
      expect(of("Policy").properties).toMatchObject({ opaUrl: { type: "string" } });
      expect(of("Observability").properties).toMatchObject({
        prometheusUrl: { type: "string" },
        grafanaUrl: { type: "string" },
        grafanaAdminSecret: { type: "string" },
        alertmanager: { type: "boolean" },
      });
    },
  );

  it.each([
    ["ClusterPlatform", "existing-cluster"],
    ["AwsPlatform", "aws"],
  ])("%s takes every key of the stack config for %s, with its type", (facade, kind) => {
    expect(differences(schema, inputsOf(schema, `${TOKEN}${facade}`), facadeConfig(kind), facade)).toEqual(
      [],
    );
  });

  it("gives each facade its outputs", () => {
    for (const facade of ["ClusterPlatform", "AwsPlatform"]) {
      const props = schema.resources[`${TOKEN}${facade}`].properties as Json;
      const strings = { type: "array", items: { type: "string" } };
      const map = { type: "object", additionalProperties: { type: "string" } };
      expect(props).toMatchObject({
        profile: { type: "string" },
        models: strings,
        teams: strings,
        gatewayUrl: { type: "string" },
        modelUrls: map,
        teamNamespaces: map,
        buckets: map,
        outputs: { type: "object", additionalProperties: { $ref: "pulumi.json#/Any" } },
      });
    }
  });

  it("is generated from the current config schema (scripts/gen-package-types.ts)", async () => {
    expect(fs.readFileSync(TYPES_FILE, "utf8")).toBe(await formattedTypes());
  });
});
