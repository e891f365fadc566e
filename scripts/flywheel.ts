/**
 * The flywheel's command line (docs/flywheel.md):
 *
 *   npm run -s flywheel -- status --stack S [--database-url postgres://…]
 *     Read-only. Each team's flywheel settings from the validated stack config and, with a
 *     database URL, what the registry says serves now (in a READ ONLY transaction).
 *
 *   npm run -s flywheel -- run --stack S --team T [--run-id ID] | kubectl create -f -
 *     Prints the manifest of a manual dataset-build run: the team's CronJob's Job, suspended for
 *     Kueue, in the team's namespace, as the team's flywheel-builder identity. Nothing is applied.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { Pool } from "pg";
import { stringify } from "yaml";
import { flywheelTeams, renderFlywheelRunJob } from "../components/flywheel/plan";
import { serving } from "../gateway/src/flywheel/registry";
import { rawFromStackFile, stackFile } from "../stacks/config/load";
import type { StackConfig } from "../stacks/config/schema";
import { parseConfig } from "../stacks/config/validate";
import { ConfigError } from "../stacks/config/errors";

export const USAGE = `usage: flywheel -- status --stack <stack> [--database-url postgres://…]
       flywheel -- run --stack <stack> --team <team> [--run-id <id>]`;

class UsageError extends Error {}

function configOf(stack: string | undefined): StackConfig {
  if (!stack) throw new UsageError("expected --stack <name>, found nothing");
  const file = fs.existsSync(stack) ? stack : stackFile(stack);
  if (!fs.existsSync(file)) throw new UsageError(`expected a stack config, found no file at ${file}`);
  return parseConfig(rawFromStackFile(file).raw);
}

/** The `run` manifest for argv (pure apart from reading the stack file). */
export function runManifest(config: StackConfig, team: string | undefined, runId: string): string {
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
  return stringify(renderFlywheelRunJob(f, runId));
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

export async function main(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const [command, ...rest] = argv;
    const { values } = parseArgs({
      args: rest,
      options: {
        stack: { type: "string" },
        team: { type: "string" },
        "run-id": { type: "string" },
        "database-url": { type: "string" },
      },
      strict: true,
    });
    if (command === "status") {
      const config = configOf(values.stack);
      const rows = values["database-url"] ? await readRegistry(values["database-url"]) : undefined;
      return { code: 0, out: statusText(config, rows) + "\n", err: "" };
    }
    if (command === "run") {
      const config = configOf(values.stack);
      const runId = values["run-id"] ?? new Date().toISOString().replace(/[-:T]/g, "").slice(0, 12);
      return { code: 0, out: runManifest(config, values.team, runId), err: "" };
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
