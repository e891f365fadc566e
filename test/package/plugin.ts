/**
 * The component package as the Pulumi CLI loads it, for the tests of test/package.
 *
 * The CLI runs a `runtime: nodejs` plugin (component-package/PulumiPlugin.yaml) through the
 * Node.js language host, which cannot be built here (docs/e2e-engine.md): it would run
 * `node <@pulumi/pulumi>/cmd/run-plugin <plugin dir> <engine address>` in the plugin's folder.
 * `pluginBinary()` writes exactly that command as an executable named `pulumi-resource-sovereign`,
 * which the CLI runs as a provider binary. Everything else (the runner, the component analyzer,
 * the provider server, the facades) is the shipped code.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";

export const ROOT = path.resolve(__dirname, "../..");
export const PACKAGE_DIR = path.join(ROOT, "component-package");

/** A temporary folder holding `pulumi-resource-sovereign`; returns the binary's path. */
export function pluginBinary(): { binary: string; dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-package-"));
  const binary = path.join(dir, "pulumi-resource-sovereign");
  const runner = path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/run-plugin");
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(
    binary,
    `#!/bin/sh\ncd ${q(PACKAGE_DIR)} && exec node ${q(runner)} ${q(PACKAGE_DIR)} "$@"\n`,
    {
      mode: 0o755,
    },
  );
  return { binary, dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Environment for the CLI: an isolated PULUMI_HOME, no update checks, no plugin downloads. */
export function cliEnv(home: string, extraPath: readonly string[] = []): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PULUMI_HOME: home,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // The runner's ts-node compiles nothing here (index.js hands .ts to tsx); no cache folder.
    TS_NODE_CACHE: "false",
    PATH: [...extraPath, process.env.PATH ?? ""].join(":"),
  };
}

export const run = promisify(execFile);
