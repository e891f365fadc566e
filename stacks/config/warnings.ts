/**
 * Settings that are accepted but that a user must know the cost of. They never fail a run:
 * `npm run check-config` prints them after "ok", and `pulumi preview`/`up` print them as
 * warnings before any resource is registered.
 */
import { LOAD_FAILED_REASON } from "../../components/lib/flywheel-canary";
import { loadsAdaptersAtRuntime } from "../../components/platform/model-server";
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
  // The simulator (a CPU model) has no runtime LoRA and the chart renders no lora-sync sidecar
  // for it: the loop trains and gates, but no replica ever loads a candidate.
  config.teams.forEach((t, i) => {
    if (!t.flywheel?.enabled) return;
    const base = config.models.find((m) => m.name === t.flywheel!.baseModel);
    if (base && !loadsAdaptersAtRuntime(base))
      out.push(
        issue(
          `teams[${i}].flywheel.baseModel`,
          `"${base.name}" runs on the CPU (no GPU pool: the simulator), which cannot load adapters at runtime: ` +
            "the loop will train and gate, but no replica ever loads a candidate, so every canary " +
            `is rolled back (${LOAD_FAILED_REASON}); ` +
            "use a model on a GPU pool as the flywheel's base model",
        ),
      );
  });
  return out;
}
