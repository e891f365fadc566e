/**
 * Renders a training Job for `kubectl create -f -`:
 *
 *   npm run -s train:submit -- --stack aws-dev --team research --kind lora \
 *     --name support-v2 --base-model llama-3-1-8b-instruct --dataset support/train.jsonl \
 *     | kubectl create -f -
 *
 * The stack config is the authority: the team must exist, training must be enabled and the base
 * model must be one the team may use. Nothing is sent anywhere; the output is YAML on stdout.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import {
  jobPrefix,
  renderTrainingJob,
  type EnvVar,
  type JobKind,
} from "../components/platform/training-jobs";
import { rawFromStackFile, stackFile, StackNameError } from "../stacks/config/load";
import type { StackConfig } from "../stacks/config/schema";
import { parseConfig } from "../stacks/config/validate";
import { imageRoutes } from "../stacks/config/image-plan";
import { exitIfHelp, UsageError } from "./lib/cli";

export const USAGE = `usage: train:submit -- --stack <stack> --team <team> --kind lora|quantize|eval --name <job>
       (--base-model <model> | --from-job <job>) [--dataset <key under teams/<team>/>]
       [--gpus N] [--scheme fp8|awq] [--tasks a,b] [--image ref] [--account id] [--env-json file]`;

/** Renders the Job YAML for argv against a validated config; throws with every problem. */
export function renderSubmission(
  argv: string[],
  config: StackConfig,
  readFile: (file: string) => string = (f) => fs.readFileSync(f, "utf8"),
): string {
  const { values } = parseArgs({
    args: argv,
    options: {
      stack: { type: "string" },
      team: { type: "string" },
      kind: { type: "string" },
      name: { type: "string" },
      "base-model": { type: "string" },
      "from-job": { type: "string" },
      dataset: { type: "string" },
      gpus: { type: "string" },
      scheme: { type: "string" },
      tasks: { type: "string" },
      image: { type: "string" },
      account: { type: "string" },
      "env-json": { type: "string" },
    },
    strict: true,
  });
  const problems: string[] = [];
  if (!config.training.enabled) problems.push("expected training.enabled in the stack config, found false");
  const team = config.teams.find((t) => t.name === values.team);
  if (!team)
    problems.push(
      `expected --team to be one of [${config.teams.map((t) => t.name).join(", ")}], found ${JSON.stringify(values.team ?? null)}`,
    );
  let modelPrefix: string | undefined;
  if (values["base-model"] !== undefined && values["from-job"] !== undefined) {
    problems.push("expected one of --base-model or --from-job, found both");
  } else if (values["from-job"] !== undefined) {
    if (team) modelPrefix = jobPrefix(team.name, values["from-job"]);
  } else {
    const model = config.models.find((m) => m.name === values["base-model"]);
    if (!model) {
      problems.push(
        `expected --base-model to be one of [${config.models.map((m) => m.name).join(", ")}], found ${JSON.stringify(values["base-model"] ?? null)}`,
      );
    } else if (team && !team.allowedModels.includes(model.name)) {
      problems.push(
        `expected a model team "${team.name}" may use [${team.allowedModels.join(", ")}], found "${model.name}"`,
      );
    } else modelPrefix = model.source;
  }
  if (values.scheme !== undefined && values.scheme !== "fp8" && values.scheme !== "awq")
    problems.push(`expected --scheme fp8 or awq, found "${values.scheme}"`);
  if (!values.name) problems.push("expected --name, found nothing");
  if (!values.kind) problems.push("expected --kind, found nothing");
  let extraEnv: EnvVar[] = [];
  if (values["env-json"] !== undefined) {
    try {
      const parsed = JSON.parse(readFile(values["env-json"])) as unknown;
      if (!Array.isArray(parsed)) throw new Error("not an array");
      // Plain values are already in the ConfigMap; keep only the secret references.
      extraEnv = (parsed as EnvVar[]).filter(
        (e) => e && typeof e.name === "string" && e.valueFrom !== undefined,
      );
    } catch (e) {
      problems.push(
        `expected --env-json to be a JSON array of env vars, found an unreadable file (${String(e)})`,
      );
    }
  }
  // The runner image through the stack's registry mirrors (the same route the platform uses).
  const ecr =
    values.account !== undefined && config.substrate.kind === "aws"
      ? `${values.account}.dkr.ecr.${config.substrate.region}.amazonaws.com`
      : undefined;
  const runner = imageRoutes(config, ecr).find((r) => r.role === "training runner");
  if (values.image === undefined && runner?.via === "pull-through" && ecr === undefined)
    problems.push(
      "expected --account <AWS account id> (without egress the runner image comes through the account's ECR pull-through cache) or --image, found neither",
    );
  if (values.account !== undefined && !/^\d{12}$/.test(values.account))
    problems.push(`expected --account to be a 12-digit AWS account id, found "${values.account}"`);
  if (problems.length > 0 || !team || modelPrefix === undefined) {
    throw new UsageError(
      `train:submit: ${problems.length} problem(s):\n  - ${problems.join("\n  - ")}\n${USAGE}`,
    );
  }
  const job = renderTrainingJob({
    kind: values.kind as JobKind,
    name: values.name!,
    team: team.name,
    costCenter: team.costCenter,
    modelPrefix,
    dataset: values.dataset,
    gpus: values.gpus !== undefined ? Number(values.gpus) : undefined,
    scheme: values.scheme as "fp8" | "awq" | undefined,
    tasks: values.tasks?.split(",").filter((t) => t.length > 0),
    image: values.image ?? runner?.pull,
    extraEnv,
  });
  return stringify(job);
}

/** The stack named by `--stack`, validated. */
export function configForArgv(argv: string[]): StackConfig {
  // `--stack S` or `--stack=S`, as node's parseArgs reads the other flags.
  let stack: string | undefined;
  argv.forEach((a, i) => {
    if (a === "--stack" && argv[i + 1] !== undefined && !argv[i + 1].startsWith("--")) stack = argv[i + 1];
    else if (a.startsWith("--stack=")) stack = a.slice("--stack=".length);
  });
  if (!stack) throw new UsageError(`train:submit: expected --stack <name>, found nothing\n${USAGE}`);
  let file: string;
  try {
    file = fs.existsSync(stack) ? stack : stackFile(stack);
  } catch (e) {
    if (e instanceof StackNameError) throw new UsageError(`train:submit: ${e.message}`);
    throw e;
  }
  if (!fs.existsSync(file))
    throw new UsageError(`train:submit: expected a stack config, found no file at ${file}`);
  return parseConfig(rawFromStackFile(file).raw);
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  exitIfHelp(argv, USAGE);
  try {
    process.stdout.write(renderSubmission(argv, configForArgv(argv)));
  } catch (e) {
    // A usage mistake (a flag, a stack, a team, a model) exits 2; a stack file that does not
    // validate, 1. Every message starts with `train:submit:`, none with a stack trace.
    const parse = (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ?? false;
    const msg = e instanceof Error ? e.message : String(e);
    console.error(msg.startsWith("train:submit:") ? msg : `train:submit: ${msg}`);
    if (parse) console.error(USAGE);
    process.exit(e instanceof UsageError || parse ? 2 : 1);
  }
}
