/**
 * Child process of the e2e: runs the real program of one shipped stack under the project's
 * recording mocks (test/helpers/stack.ts) and writes what it registered as JSON.
 *   tsx test/e2e/record.ts <stack> <out.json> [<config overrides as JSON>]
 * Overrides are flat Pulumi config keys (`{"sovereign:charts": "{...}"}`), as `pulumi config set`.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { stackFile } from "../../stacks/config/load";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";

async function record(): Promise<void> {
  const [stack, out, overrides] = process.argv.slice(2);
  const flat = pulumiConfigFromFile(stackFile(stack));
  Object.assign(flat.config, overrides ? (JSON.parse(overrides) as Record<string, string>) : {});
  // AWS ids in their real shapes where a CRD validates them (EC2NodeClass subnet selectors).
  const run = await runProgram(stack, flat, { id: ({ type, name }) => awsId(type, name) });
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

const AWS_ID_PREFIX: Record<string, string> = {
  "aws:ec2/subnet:Subnet": "subnet",
  "aws:ec2/securityGroup:SecurityGroup": "sg",
  "aws:ec2/vpc:Vpc": "vpc",
};

function awsId(type: string, name: string): string | undefined {
  const prefix = AWS_ID_PREFIX[type];
  if (!prefix) return undefined;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 17);
  return `${prefix}-${hash}`;
}

void record();
