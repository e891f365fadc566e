/**
 * How the Pulumi CLI starts a Node.js program, reproduced from the project file so a test can run
 * the program the way `pulumi up` does (test/engine/compile-path.test.ts):
 *
 * - the engine (pkg/engine/project.go, getPwdMain) runs the program in the directory of `main`
 *   (`--pwd stacks`, entry point `index.ts`), not in the project root;
 * - the Node.js language host (pulumi-language-nodejs, execRuntime) turns the runtime options of
 *   Pulumi.yaml into `PULUMI_NODEJS_TYPESCRIPT=true` (`typescript`, default true),
 *   `PULUMI_NODEJS_TSCONFIG_PATH` (`tsconfig`) and arguments before the run script (`nodeargs`),
 *   then starts `node <nodeargs> node_modules/@pulumi/pulumi/cmd/run --monitor … --pwd … <entry>`
 *   with the stack config in `PULUMI_CONFIG`;
 * - @pulumi/pulumi's cmd/run then decides how to compile TypeScript (its own ts-node path when
 *   PULUMI_NODEJS_TYPESCRIPT is set, otherwise whatever `nodeargs` loaded).
 *
 * Only the first two steps are reproduced here; the third is @pulumi/pulumi's own code, run as is.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

export interface NodeRuntime {
  /** Directory the program runs in (`--pwd`). */
  readonly pwd: string;
  /** Entry point, relative to pwd. */
  readonly entry: string;
  readonly typescript: boolean;
  readonly tsconfig?: string;
  readonly nodeargs: string[];
}

/** Reads a Pulumi project file and returns how the Node.js language host would start it. */
export function nodeRuntimeOf(projectFile: string): NodeRuntime {
  const root = path.dirname(projectFile);
  const doc = parseYaml(fs.readFileSync(projectFile, "utf8")) as {
    runtime: string | { name: string; options?: Record<string, unknown> };
    main?: string;
  };
  const runtime = typeof doc.runtime === "string" ? { name: doc.runtime, options: {} } : doc.runtime;
  if (runtime.name !== "nodejs") throw new Error(`${projectFile}: runtime is ${runtime.name}, not nodejs`);
  const opts = runtime.options ?? {};
  const typescript = opts.typescript ?? true;
  if (typeof typescript !== "boolean")
    throw new Error(`${projectFile}: runtime.options.typescript must be a boolean`);
  const tsconfig = opts.tsconfig;
  if (tsconfig !== undefined && typeof tsconfig !== "string")
    throw new Error(`${projectFile}: runtime.options.tsconfig must be a string`);
  const nodeargs = opts.nodeargs ?? "";
  if (typeof nodeargs !== "string")
    throw new Error(`${projectFile}: runtime.options.nodeargs must be a string`);
  if (/["'\\]/.test(nodeargs))
    throw new Error(`${projectFile}: quoted nodeargs are not reproduced by this test`);
  // getPwdMain: a file `main` runs in its own directory with its base name as the entry point.
  let pwd = root;
  let entry = ".";
  if (doc.main) {
    const main = path.resolve(root, doc.main);
    if (fs.statSync(main).isDirectory()) pwd = main;
    else {
      pwd = path.dirname(main);
      entry = path.basename(main);
    }
  }
  return { pwd, entry, typescript, tsconfig, nodeargs: nodeargs.split(/\s+/).filter(Boolean) };
}

/** The command line and environment the language host uses to start the program. */
export function languageHostCommand(
  rt: NodeRuntime,
  opts: { root: string; monitor: string; project: string; stack: string; config: Record<string, string> },
): { args: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {
    PULUMI_CONFIG: JSON.stringify(opts.config),
    PULUMI_CONFIG_SECRET_KEYS: "[]",
  };
  if (rt.typescript) env.PULUMI_NODEJS_TYPESCRIPT = "true";
  if (rt.tsconfig) env.PULUMI_NODEJS_TSCONFIG_PATH = rt.tsconfig;
  const run = path.join(opts.root, "node_modules/@pulumi/pulumi/cmd/run");
  const args = [
    ...rt.nodeargs,
    run,
    "--monitor",
    opts.monitor,
    "--project",
    opts.project,
    "--stack",
    opts.stack,
    "--pwd",
    rt.pwd,
    "--parallel",
    "1",
    rt.entry,
  ];
  return { args, env };
}
