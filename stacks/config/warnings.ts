/**
 * Settings that are accepted but that a user must know the cost of. They never fail a run:
 * `npm run check-config` prints them after "ok", and `pulumi preview`/`up` print them as
 * warnings before any resource is registered.
 */
import type { ConfigIssue } from "./errors";
import { issue } from "./rules/helpers";
import type { StackConfig } from "./schema";

export function configWarnings(config: StackConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  // Refused in prod (rule `rdsIamAuth`); dev may opt out of IAM tokens, and then has a password.
  if (config.substrate.kind === "aws" && config.database.iamAuth === false)
    out.push(
      issue(
        "database.iamAuth",
        "false: services log in to RDS with a static password that is never rotated " +
          "(FSBP SecretsManager.4 fails for its secret); remove the setting to log in with IAM tokens, the default",
      ),
    );
  return out;
}
