/**
 * Runs a Pulumi program directory the way the Node.js language host would (`node --import tsx`,
 * its `main` file), under the recording mocks, with the config of one of its stack files.
 * Prints one JSON line: the registered resources (type, name, chart) or the error.
 *
 *   node --import tsx test/helpers/run-program-dir.ts <program dir> <stack>
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { installMocks, settle } from "./mocks";
import { pulumiConfigFromFile } from "./stack";

async function run(): Promise<void> {
  const [dir, stack] = process.argv.slice(2);
  const project = parseYaml(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { main?: string };
  const recorder = installMocks({ stack });
  const flat = pulumiConfigFromFile(path.join(dir, `Pulumi.${stack}.yaml`));
  pulumi.runtime.setAllConfig(flat.config, flat.secretKeys);
  let error: string | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path.resolve(dir, project.main ?? "index.ts"));
  } catch (e) {
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  await settle();
  const resources = recorder.resources.map((r) => ({
    type: r.type,
    name: r.name,
    ...(typeof r.inputs.chart === "string" ? { chart: r.inputs.chart } : {}),
  }));
  console.log(JSON.stringify({ error, resources }));
}

void run();
