/**
 * Child process of the e2e: runs the real program of one shipped stack under the project's
 * recording mocks (test/helpers/stack.ts) and writes what it registered as JSON.
 *   tsx test/e2e/record.ts <stack> <out.json> [<config overrides as JSON>]
 * Overrides are flat Pulumi config keys (`{"sovereign:charts": "{...}"}`), as `pulumi config set`.
 */
import * as fs from "node:fs";
import { stackFile } from "../../stacks/config/load";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";

async function record(): Promise<void> {
  const [stack, out, overrides] = process.argv.slice(2);
  const flat = pulumiConfigFromFile(stackFile(stack));
  Object.assign(flat.config, overrides ? (JSON.parse(overrides) as Record<string, string>) : {});
  const run = await runProgram(stack, flat);
  if (run.error) {
    process.stderr.write(
      `the program of stack ${stack} failed: ${String((run.error as Error).message ?? run.error)}\n`,
    );
    process.exit(1);
  }
  const resources = run.recorder.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    custom: r.custom,
    inputs: r.inputs,
    parent: r.parent,
    dependencies: r.dependencies,
  }));
  fs.writeFileSync(out, JSON.stringify(resources));
}

void record();
