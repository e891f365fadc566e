/**
 * Cross-field rules run on the parsed config, with the schema's defaults applied, and on the
 * settings resolved from it (`../settings.ts`), so no rule re-derives a default by hand. They run
 * only once the schema passes: the schema reports shapes, the rules report combinations.
 */
import type { ConfigIssue } from "../errors";
import type { StackConfig } from "../schema";
import type { StackSettings } from "../settings";

export interface RuleInput {
  readonly config: StackConfig;
  readonly settings: StackSettings;
  /** The stack's name, when the caller knows it (the program, `check-config` from the file name). */
  readonly stack?: string;
  /** The `aws:region` provider setting of the stack file, when set. */
  readonly awsRegion?: string;
}
export type Rule = (input: RuleInput) => ConfigIssue[];

export function issue(path: string, message: string): ConfigIssue {
  return { path: `sovereign:${path}`, message };
}

/** Issues for names that appear more than once in a list. */
export function duplicateNames(
  items: readonly { readonly name: string }[],
  key: string,
  what: string,
): ConfigIssue[] {
  const seen = new Map<string, number>();
  const out: ConfigIssue[] = [];
  items.forEach(({ name }, index) => {
    const first = seen.get(name);
    if (first !== undefined) {
      out.push(
        issue(
          `${key}[${index}].name`,
          `expected a unique ${what} name, found "${name}" again (first at ${key}[${first}])`,
        ),
      );
    } else seen.set(name, index);
  });
  return out;
}
