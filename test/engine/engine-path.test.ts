/**
 * The engine path of `npm run e2e:engine` (engine.ts), on a program small enough for every run:
 * the real Pulumi CLI (built by scripts/engine-tools.sh; a missing or failed build fails this
 * test), an Automation API inline program, a file backend in a temporary directory, the
 * passphrase secrets provider, a project-level provider plugin and no plugin downloads. It runs
 * preview, up, a second up that must change nothing, and destroy. The program's one resource is a
 * RandomPassword of the kit's own shape, served by the `random` stand-in (fixtures/; a test
 * fixture, never shipped). The kit's own program needs the kubernetes provider and a control
 * plane: that run is `npm run e2e:engine` (docs/e2e-engine.md).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as random from "@pulumi/random";
import { afterAll, describe, expect, it } from "vitest";
import { changesOf } from "./engine";
import { execFileSync } from "node:child_process";

const ROOT = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-engine-path-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("the real Pulumi engine runs an inline program with a file backend", () => {
  it("preview, up, up again with zero changes, destroy", async () => {
    const cli = execFileSync("bash", [path.join(ROOT, "scripts/engine-tools.sh"), "--print", "pulumi"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    process.env.PATH = `${path.dirname(cli)}:${process.env.PATH ?? ""}`;
    fs.mkdirSync(path.join(work, "state"));
    const projectSettings = {
      name: "engine-path",
      runtime: "nodejs" as const,
      backend: { url: `file://${path.join(work, "state")}` },
      plugins: { providers: [{ name: "random", path: path.join(__dirname, "fixtures/random-provider") }] },
    };
    const stack = await LocalWorkspace.createOrSelectStack(
      {
        projectName: "engine-path",
        stackName: "test",
        program: async () => {
          const p = new random.RandomPassword("db-password", { length: 40, special: false });
          return { length: p.result.apply((r) => r.length), password: p.result };
        },
      },
      {
        workDir: work,
        projectSettings,
        envVars: {
          PULUMI_CONFIG_PASSPHRASE: "engine-path-test",
          PULUMI_HOME: path.join(work, "home"),
          PULUMI_SKIP_UPDATE_CHECK: "true",
          PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        },
      },
    );
    const preview = await stack.preview();
    expect(preview.changeSummary).toEqual({ create: 2 });
    const up = await stack.up();
    expect(changesOf(up.summary.resourceChanges)).toEqual({ create: 2 });
    expect(up.outputs.length.value).toBe(40);
    expect(up.outputs.password.secret).toBe(true);
    // The state file holds the password encrypted, never in plain text.
    const state = JSON.stringify(await stack.exportStack());
    expect(state).not.toContain(JSON.stringify(up.outputs.password.value));
    const again = await stack.up();
    expect(changesOf(again.summary.resourceChanges)).toEqual({});
    expect(again.outputs.password.value).toBe(up.outputs.password.value);
    const destroy = await stack.destroy();
    expect(changesOf(destroy.summary.resourceChanges)).toEqual({ delete: 2 });
  }, 900_000);
});
