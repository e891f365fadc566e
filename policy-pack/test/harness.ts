/**
 * Runs the pack's validations outside the Pulumi engine: builds the argument bags the engine
 * would pass (type, props, opts, provider, config with schema defaults) and collects violations.
 */
import type {
  PolicyConfigSchema,
  PolicyProviderResource,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { RESOURCE_POLICIES, STACK_POLICIES } from "../policies";

export interface FakeResource {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
  readonly urn?: string;
  readonly opts?: Partial<PolicyResourceOptions>;
  readonly provider?: PolicyProviderResource;
  /** URNs this resource depends on (any property). */
  readonly dependsOn?: readonly string[];
}

export interface Violation {
  readonly policy: string;
  readonly urn: string;
  readonly message: string;
}

const NOT_APPLICABLE = Symbol("notApplicable");

function urnOf(r: FakeResource): string {
  return r.urn ?? `urn:pulumi:test::sovereign::${r.type}::${r.name}`;
}

function options(o: Partial<PolicyResourceOptions> = {}): PolicyResourceOptions {
  return {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    additionalSecretOutputs: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    ...o,
  };
}

/** The config a policy sees: schema defaults, overlaid with the given values for its keys. */
function configFor(
  schema: PolicyConfigSchema | undefined,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema?.properties ?? {})) {
    const d = (s as { default?: unknown }).default;
    if (d !== undefined) out[k] = structuredClone(d);
    if (given[k] !== undefined) out[k] = given[k];
  }
  return out;
}

export function resourceArgs(
  r: FakeResource,
  config: Record<string, unknown>,
  schema?: PolicyConfigSchema,
): ResourceValidationArgs {
  return {
    ...resourceFields(r),
    stackTags: new Map(),
    getConfig: <T extends object>() => configFor(schema, config) as T,
    notApplicable: () => {
      throw NOT_APPLICABLE;
    },
  };
}

/** What the engine tells a policy about one resource, in both the resource and the stack view. */
function resourceFields(r: FakeResource) {
  return {
    type: r.type,
    name: r.name,
    props: r.props,
    urn: urnOf(r),
    opts: options(r.opts),
    provider: r.provider,
    isType: () => false,
    asType: () => undefined,
  };
}

/**
 * Runs a resource policy on one resource as the engine would, reporting each violation; false
 * when the policy declared itself not applicable (args.notApplicable).
 */
async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  r: FakeResource,
  config: Record<string, unknown>,
  report: (message: string) => void,
): Promise<boolean> {
  const fns: ResourceValidation[] = ([] as ResourceValidation[]).concat(policy.validateResource ?? []);
  let applies = false;
  for (const fn of fns) {
    try {
      await fn(resourceArgs(r, config, policy.configSchema), report);
      applies = true;
    } catch (e) {
      if (e !== NOT_APPLICABLE) throw e;
    }
  }
  return applies;
}

/** Violations one resource policy reports for one resource. */
export async function validateWith(
  policy: ResourceValidationPolicy,
  r: FakeResource,
  config: Record<string, unknown> = {},
): Promise<string[]> {
  const messages: string[] = [];
  await runResourcePolicy(policy, r, config, (m) => messages.push(m));
  return messages;
}

/** Whether a resource policy applies to a resource (it did not call args.notApplicable). */
export function appliesTo(
  policy: ResourceValidationPolicy,
  r: FakeResource,
  config: Record<string, unknown> = {},
): Promise<boolean> {
  return runResourcePolicy(policy, r, config, () => undefined);
}

/**
 * Runs a stack policy on a stack as the engine would, reporting each violation; false when the
 * policy declared itself not applicable (args.notApplicable).
 */
async function runStackPolicy(
  policy: StackValidationPolicy,
  rs: readonly FakeResource[],
  config: Record<string, unknown>,
  report: (message: string, urn?: string) => void,
): Promise<boolean> {
  const args: StackValidationArgs = {
    resources: policyResources(rs),
    getConfig: <T extends object>() => configFor(policy.configSchema, config) as T,
    stackTags: new Map(),
    notApplicable: () => {
      throw NOT_APPLICABLE;
    },
  };
  try {
    await policy.validateStack(args, report);
    return true;
  } catch (e) {
    if (e !== NOT_APPLICABLE) throw e;
    return false;
  }
}

/** Whether a stack policy applies to a stack (it did not call args.notApplicable). */
export function stackAppliesTo(
  policy: StackValidationPolicy,
  rs: readonly FakeResource[],
  config: Record<string, unknown> = {},
): Promise<boolean> {
  return runStackPolicy(policy, rs, config, () => undefined);
}

/** PolicyResources for a stack validation, with dependencies resolved between them. */
export function policyResources(rs: readonly FakeResource[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const out = rs.map((r) => {
    const pr: PolicyResource = { ...resourceFields(r), dependencies: [], propertyDependencies: {} };
    byUrn.set(pr.urn, pr);
    return pr;
  });
  rs.forEach((r, i) => {
    out[i].dependencies = (r.dependsOn ?? [])
      .map((u) => byUrn.get(u))
      .filter((x): x is PolicyResource => !!x);
    if (r.opts?.parent) out[i].parent = byUrn.get(r.opts.parent);
  });
  return out;
}

export async function validateStackWith(
  policy: StackValidationPolicy,
  rs: readonly FakeResource[],
  config: Record<string, unknown> = {},
): Promise<Violation[]> {
  const violations: Violation[] = [];
  await runStackPolicy(policy, rs, config, (message, urn) =>
    violations.push({ policy: policy.name, urn: urn ?? "", message }),
  );
  return violations;
}

/** Every violation of the whole pack over a set of resources. */
export async function runPack(
  rs: readonly FakeResource[],
  config: Record<string, unknown>,
): Promise<Violation[]> {
  const out: Violation[] = [];
  for (const r of rs)
    for (const p of RESOURCE_POLICIES)
      for (const message of await validateWith(p, r, config))
        out.push({ policy: p.name, urn: urnOf(r), message });
  for (const p of STACK_POLICIES) out.push(...(await validateStackWith(p, rs, config)));
  return out;
}
