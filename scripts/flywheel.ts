/**
 * The flywheel's command line (docs/flywheel.md):
 *
 *   npm run -s flywheel -- status --stack S [--database-url postgres://…]
 *     Read-only. Each team's flywheel settings from the validated stack config and, with a
 *     database URL, what the registry says serves now (in a READ ONLY transaction).
 *
 *   npm run -s flywheel -- run --stack S --team T [--run-id ID] [--outputs FILE|-] | kubectl create -f -
 *     Prints the manifest of a manual run of the chain: the team's CronJob's Job (the same pod
 *     builder), suspended for Kueue, in the team's namespace, with the pod the deployed stack
 *     resolved (identity, registry login, the `incumbent` init container), read from the stack
 *     output `flywheelRunIdentities`: `pulumi stack output --json --stack S` is run for it, or
 *     --outputs names a file (`-`: stdin) with that command's output. Nothing is applied.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "pg";
import { stringify } from "yaml";
import { z } from "zod";
import { flywheelTeams, renderFlywheelRunJob, type FlywheelRunIdentity } from "../components/flywheel/plan";
import { serving } from "../gateway/src/flywheel/registry";
import { rawFromStackFile, stackFile, StackNameError } from "../stacks/config/load";
import type { StackConfig } from "../stacks/config/schema";
import { parseConfig } from "../stacks/config/validate";
import { ConfigError } from "../stacks/config/errors";
import { asksHelp } from "./lib/cli";

export const USAGE = `usage: flywheel -- status --stack <stack> [--database-url postgres://…]
       flywheel -- run --stack <stack> --team <team> [--run-id <id>] [--outputs <file>|-]`;

/** The stack output a manual run renders its pod from (stacks/wiring/tenancy.ts). */
export const RUN_IDENTITIES_OUTPUT = "flywheelRunIdentities";

class UsageError extends Error {}

function configOf(stack: string | undefined): StackConfig {
  if (!stack) throw new UsageError("expected --stack <name>, found nothing");
  let file: string;
  try {
    file = fs.existsSync(stack) ? stack : stackFile(stack);
  } catch (e) {
    if (e instanceof StackNameError) throw new UsageError(e.message);
    throw e;
  }
  if (!fs.existsSync(file)) throw new UsageError(`expected a stack config, found no file at ${file}`);
  return parseConfig(rawFromStackFile(file).raw);
}

const str = z.string().min(1);
const runIdentitySchema = z.object({
  serviceAccountName: str,
  env: z.array(z.looseObject({ name: str })),
  caBundle: z.object({ secretName: str, key: str }).optional(),
  // The Secrets holding the keys of the model servers the pod calls (names, not the keys).
  apiKeys: z
    .object({
      baseModel: z.object({ secretName: str, key: str }).optional(),
      guard: z.object({ secretName: str, key: str }).optional(),
    })
    .optional(),
  // The model CA's bundle is in the team's namespace (the eval verifies the guard with it).
  modelCa: z.boolean().optional(),
  controller: z.object({
    image: str,
    postgres: z.object({
      host: str,
      port: z.number().int().positive(),
      database: str,
      sslMode: str,
      secretName: str.optional(),
      iamAuth: z.object({ user: str, region: str }).optional(),
      rootCert: z.union([
        z.object({ configMapName: str, key: str }),
        z.object({ secretName: str, key: str }),
      ]),
    }),
  }),
});

/**
 * The team's pod identity from the deployed stack's outputs (`pulumi stack output --json`), or a
 * UsageError naming the field that is missing or wrong.
 */
export function runIdentityOf(outputs: unknown, team: string, source: string): FlywheelRunIdentity {
  const all = (outputs as Record<string, unknown> | null)?.[RUN_IDENTITIES_OUTPUT];
  if (typeof outputs !== "object" || outputs === null || all === undefined)
    throw new UsageError(
      `expected the stack output ${RUN_IDENTITIES_OUTPUT} in ${source}, found none (deploy the stack with \`pulumi up\` first)`,
    );
  if (typeof all !== "object" || all === null || Array.isArray(all))
    throw new UsageError(
      `expected the stack output ${RUN_IDENTITIES_OUTPUT} in ${source} to map teams to pods, found ${JSON.stringify(all).slice(0, 100)}` +
        (all === "[secret]" ? " (a secret output)" : ""),
    );
  const raw = (all as Record<string, unknown>)[team];
  if (raw === undefined)
    throw new UsageError(
      `expected ${RUN_IDENTITIES_OUTPUT}.${team} in ${source}, found none (is the team's flywheel deployed?)`,
    );
  const r = runIdentitySchema.safeParse(raw);
  if (!r.success)
    throw new UsageError(
      r.error.issues
        .map(
          (i) =>
            `${source}: ${[RUN_IDENTITIES_OUTPUT, team, ...i.path].join(".")}: ${i.message}` +
            (raw === "[secret]" ? " (a secret output)" : ""),
        )
        .join("\n"),
    );
  return r.data;
}

/**
 * The deployed stack's outputs: the JSON in `file` (`-`: stdin), or what
 * `pulumi stack output --json --stack <stack>` prints (no secret values are asked for).
 */
export function readStackOutputs(
  stack: string,
  file: string | undefined,
  env: NodeJS.ProcessEnv,
): { outputs: unknown; source: string } {
  const parse = (text: string, source: string) => {
    try {
      return { outputs: JSON.parse(text) as unknown, source };
    } catch (e) {
      throw new UsageError(
        `expected the JSON of \`pulumi stack output --json\` in ${source}, found: ${(e as Error).message}`,
      );
    }
  };
  if (file !== undefined) {
    if (file !== "-" && !fs.existsSync(file))
      throw new UsageError(`expected a file at --outputs ${file}, found none`);
    return parse(fs.readFileSync(file === "-" ? 0 : file, "utf8"), file === "-" ? "stdin" : file);
  }
  const name = fs.existsSync(stack) ? /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(stack))?.[1] : stack;
  if (!name)
    throw new UsageError(
      `expected --outputs <file> with a stack config file that is not named Pulumi.<stack>.yaml, found ${stack}`,
    );
  const r = spawnSync("pulumi", ["stack", "output", "--json", "--stack", name], {
    cwd: path.resolve(__dirname, ".."),
    encoding: "utf8",
    env,
  });
  if (r.error || r.status !== 0)
    throw new UsageError(
      `expected \`pulumi stack output --json --stack ${name}\` to print the deployed stack's outputs, ` +
        `found ${r.error ? r.error.message : `exit ${r.status}: ${r.stderr.trim().slice(0, 500)}`} ` +
        "(or pass --outputs <file> with its output)",
    );
  return parse(r.stdout, `the outputs of stack ${name}`);
}

/** The `run` manifest for argv (pure apart from reading the stack file and its outputs). */
export function runManifest(
  config: StackConfig,
  team: string | undefined,
  runId: string,
  deployed: () => { outputs: unknown; source: string },
): string {
  const enabled = flywheelTeams(config);
  const f = enabled.find((t) => t.team === team);
  if (!f) {
    const known = config.teams.find((t) => t.name === team);
    throw new UsageError(
      known
        ? `expected team "${team}" to have teams[].flywheel.enabled: true, found it off`
        : `expected --team to be a team with an enabled flywheel [${enabled.map((t) => t.team).join(", ")}], found ${JSON.stringify(team ?? null)}`,
    );
  }
  const { outputs, source } = deployed();
  return stringify(renderFlywheelRunJob(f, runId, runIdentityOf(outputs, f.team, source)));
}

/** The status table from the config and (optionally) the registry rows. */
export function statusText(config: StackConfig, rows?: Awaited<ReturnType<typeof serving>>): string {
  const lines = [
    "| team | enabled | adapter | base model | schedule (UTC) | min new records | quantize |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const t of config.teams) {
    const f = t.flywheel;
    lines.push(
      f
        ? `| ${t.name} | ${f.enabled} | ${f.adapter} | ${f.baseModel} | ${f.schedule} | ${f.minNewRecords} | ${f.quantize} |`
        : `| ${t.name} | false | | | | | |`,
    );
  }
  if (rows === undefined) {
    lines.push("", "registry: not queried (pass --database-url to read what serves now)");
  } else {
    lines.push(
      "",
      "| team | adapter | version | phase | share | since | classification |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const r of rows)
      lines.push(
        `| ${r.team} | ${r.adapter} | ${r.version} | ${r.phase} | ${r.share} | ${r.since} | ${r.classification} |`,
      );
    if (rows.length === 0) lines.push("| (nothing serves from the flywheel yet) | | | | | | |");
  }
  return lines.join("\n");
}

function isPostgresUrl(url: string): boolean {
  if (!/^postgres(ql)?:\/\/./.test(url)) return false;
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

async function readRegistry(url: string): Promise<Awaited<ReturnType<typeof serving>>> {
  const pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000 });
  const client = await pool.connect();
  try {
    await client.query("BEGIN READ ONLY");
    const rows = await serving(client);
    await client.query("ROLLBACK");
    return rows;
  } finally {
    client.release();
    await pool.end();
  }
}

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string; err: string }> {
  if (asksHelp(argv)) return { code: 0, out: `${USAGE}\n`, err: "" };
  try {
    const [command, ...rest] = argv;
    const { values } = parseArgs({
      args: rest,
      options: {
        stack: { type: "string" },
        team: { type: "string" },
        "run-id": { type: "string" },
        "database-url": { type: "string" },
        outputs: { type: "string" },
      },
      strict: true,
    });
    if (command === "status") {
      const config = configOf(values.stack);
      const url = values["database-url"];
      if (url !== undefined && !isPostgresUrl(url))
        throw new UsageError(
          `--database-url: expected a postgres:// or postgresql:// URL, found ${JSON.stringify(url)}`,
        );
      const rows = url ? await readRegistry(url) : undefined;
      return { code: 0, out: statusText(config, rows) + "\n", err: "" };
    }
    if (command === "run") {
      const config = configOf(values.stack);
      const runId = values["run-id"] ?? new Date().toISOString().replace(/[-:T]/g, "").slice(0, 12);
      const stack = values.stack!;
      return {
        code: 0,
        out: runManifest(config, values.team, runId, () => readStackOutputs(stack, values.outputs, env)),
        err: "",
      };
    }
    throw new UsageError(`expected a command (status or run), found ${JSON.stringify(command ?? null)}`);
  } catch (e) {
    if (
      e instanceof UsageError ||
      e instanceof ConfigError ||
      (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    )
      return { code: 2, out: "", err: `flywheel: ${(e as Error).message}\n${USAGE}\n` };
    return { code: 1, out: "", err: `flywheel: ${(e as Error).message}\n` };
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((r) => {
    process.stdout.write(r.out);
    process.stderr.write(r.err);
    process.exitCode = r.code;
  });
}
