/**
 * suppressions (advisory, stack-wide): prints every suppression in effect, cdk-nag style: the
 * rule, the resource, the written reason, and the findings it hides. The mandatory rules do the
 * suppressing (and refuse a suppression without a reason); this report makes each one visible
 * in every preview, and flags suppressions that name no rule or no resource.
 */
import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import {
  type ResourceRule,
  type StackRule,
  type Suppression,
  configSchema,
  quote,
  reasonProblem,
} from "../lib";

export const RULE = "suppressions";

function resourceArgsOf(r: PolicyResource, args: StackValidationArgs) {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: r.props,
    opts: r.opts,
    provider: r.provider,
    stackTags: args.stackTags,
    isType: () => false,
    asType: () => undefined,
    getConfig: args.getConfig,
    notApplicable: args.notApplicable,
  } as Parameters<ResourceRule["check"]>[0];
}

function isResourceRule(r: ResourceRule | StackRule): r is ResourceRule {
  return "validateResource" in r;
}

/** The report over `rules` (policies.ts passes every mandatory rule). */
export function suppressionReport(rules: readonly (ResourceRule | StackRule)[]): StackValidationPolicy {
  return {
    name: RULE,
    description: "Prints every suppression in effect with its reason and what it hides (advisory).",
    enforcementLevel: "advisory",
    configSchema: configSchema(
      "profile",
      "allowedRegions",
      "allowedRegistries",
      "publicLoadBalancer",
      "suppressions",
    ),
    validateStack: (args, reportViolation) => {
      const list = args.getConfig<{ suppressions?: Suppression[] }>().suppressions ?? [];
      if (list.length === 0) args.notApplicable("no suppressions configured");
      for (const s of list) {
        const rule = rules.find((r) => r.name === s.rule);
        const head = `${RULE}: ${quote(s.rule)} suppressed for ${quote(s.resource)}`;
        if (!rule) {
          reportViolation(
            `${head} names no rule of the pack (rules: ${rules.map((r) => r.name).join(", ")})`,
          );
          continue;
        }
        const targets = args.resources.filter((r) => r.name === s.resource || r.urn === s.resource);
        if (targets.length === 0) {
          reportViolation(`${head} matches no resource of this stack; remove it`);
          continue;
        }
        const bad = reasonProblem(s.reason);
        for (const t of targets) {
          if (bad) {
            reportViolation(`${head} is refused: ${bad}`, t.urn);
            continue;
          }
          const hidden = isResourceRule(rule)
            ? rule.appliesTo(t.type, t.props)
              ? rule.check(resourceArgsOf(t, args))
              : []
            : rule
                .check(args)
                .filter((f) => f.urn === t.urn)
                .map((f) => f.message);
          reportViolation(
            `${head} (${t.type}). Reason: ${s.reason.trim()}. ${
              hidden.length > 0 ? `It hides: ${hidden.join(" | ")}` : "It hides no finding today; remove it"
            }`,
            t.urn,
          );
        }
      }
    },
  };
}
