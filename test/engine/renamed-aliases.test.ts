/**
 * The real Pulumi engine keeps URNs across the renames of decision 0005 the way
 * test/helpers/urns.ts assumes (and test/stacks/renamed-types.test.ts relies on): a stack is
 * brought up with the 0.1.0 component types, then previewed with the new types and
 * `formerType()` aliases. The engine must carry a component's alias down to its children, custom
 * resources included, so nothing is created or deleted; without the aliases it would replace them.
 * Same set-up as engine-path.test.ts: the real CLI, an inline program, a file backend, the
 * `random` stand-in provider (fixtures/).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as random from "@pulumi/random";
import { afterAll, describe, expect, it } from "vitest";
import { formerType } from "../../components/lib/aliases";

const ROOT = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-renamed-aliases-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

type Mode = "0.1.0" | "renamed" | "renamed without aliases";

/** A component under its new type, or its former one. */
class Renamed extends pulumi.ComponentResource {
  constructor(
    type: string,
    former: string,
    name: string,
    mode: Mode,
    opts: pulumi.ComponentResourceOptions = {},
  ) {
    super(mode === "0.1.0" ? former : type, name, {}, mode === "renamed" ? formerType(opts, former) : opts);
  }
}

/** The shapes the renames touch: a renamed parent of a renamed child, and a renamed child. */
function program(mode: Mode) {
  return async () => {
    const sub = new Renamed(
      "sovereign:existingCluster:Substrate",
      "sovereign:cluster:ClusterSubstrate",
      "substrate",
      mode,
    );
    const pg = new Renamed(
      "sovereign:existingCluster:Postgres",
      "sovereign:cluster:Postgres",
      "substrate-postgres",
      mode,
      { parent: sub },
    );
    new random.RandomPassword("substrate-postgres-gateway-password", { length: 16 }, { parent: pg });
    new random.RandomPassword("substrate-operator-access-key", { length: 16 }, { parent: sub });
    const aws = new pulumi.ComponentResource("sovereign:aws:Substrate", "aws-substrate", {}, {});
    const eks = new Renamed("sovereign:aws:Eks", "sovereign:aws:Cluster", "substrate-cluster", mode, {
      parent: aws,
    });
    new random.RandomPassword("substrate-cluster-eks", { length: 16 }, { parent: eks });
    return {};
  };
}

describe("renamed component types through the real Pulumi engine", () => {
  it("GIVEN a stack up with the 0.1.0 types WHEN previewed with the new types THEN nothing is replaced with the aliases, everything renamed without", async () => {
    const cli = execFileSync("bash", [path.join(ROOT, "scripts/engine-tools.sh"), "--print", "pulumi"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    process.env.PATH = `${path.dirname(cli)}:${process.env.PATH ?? ""}`;
    const state = path.join(work, "state");
    fs.mkdirSync(state);
    const envVars = {
      PULUMI_CONFIG_PASSPHRASE: "renamed-aliases-test",
      PULUMI_BACKEND_URL: `file://${state}`,
      PULUMI_HOME: path.join(work, "home"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PATH: process.env.PATH,
    };
    const projectSettings = {
      name: "sovereign",
      runtime: "nodejs" as const,
      backend: { url: `file://${state}` },
      plugins: { providers: [{ name: "random", path: path.join(__dirname, "fixtures/random-provider") }] },
    };
    const stack = (mode: Mode) =>
      LocalWorkspace.createOrSelectStack(
        { projectName: "sovereign", stackName: "renames", program: program(mode) },
        { workDir: work, projectSettings, envVars },
      );

    const up = await (await stack("0.1.0")).up();
    expect(up.summary.resourceChanges).toEqual({ create: 8 }); // the stack, 4 components, 3 passwords

    const renamed = await (await stack("renamed")).preview();
    expect(renamed.changeSummary).toEqual({ same: 8 });

    // The check can fail: without the aliases the three components and the three passwords
    // under them would be created anew and the old ones deleted.
    const bare = await (await stack("renamed without aliases")).preview();
    expect(bare.changeSummary).toEqual({ create: 6, delete: 6, same: 2 });
  }, 300_000);
});
