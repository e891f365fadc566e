/**
 * The gateway image, replayed without docker (test/helpers/dockerfile.ts): gateway/Dockerfile's
 * own COPY and RUN steps install from gateway/package.json and gateway/package-lock.json alone
 * (npm ci, the kit's node_modules nowhere in reach), compile with the gateway's locked
 * TypeScript, and the image's entry point then loads every module: started without
 * configuration it stops at the configuration check (exit 2, one clear message), never at
 * "Cannot find module". Every compiled module of the image is required once as well.
 *
 * Not replayed (they change the machine, not the image's files): the runtime stage's user,
 * group and spill-directory commands, and `npm cache clean` (it would empty this machine's
 * npm cache). The base image is this machine's Node, which must match the pinned major.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replay, stagesOf, type Replay } from "../helpers/dockerfile";

const ROOT = path.resolve(__dirname, "../..");
const DOCKERFILE = fs.readFileSync(path.join(ROOT, "gateway/Dockerfile"), "utf8");

function compiledModules(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith(".js") && !f.split(path.sep).includes("node_modules"))
    .map((f) => path.join(dir, f))
    .sort();
}

describe("gateway/Dockerfile replayed from the gateway's own manifest and lockfile", () => {
  let image: Replay;
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-image-"));
    const stages = stagesOf(DOCKERFILE);
    const last = stages[stages.length - 1].name;
    image = replay(stages, ROOT, dir, (stage, cmd) => stage === last || /^npm cache clean\b/.test(cmd));
  }, 600_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("GIVEN the Dockerfile WHEN read THEN its base image's Node major is the one running this test", () => {
    const pinned = /^ARG NODE_IMAGE=\S+:(\d+)\./m.exec(DOCKERFILE)?.[1];
    expect(pinned).toBe(process.versions.node.split(".")[0]);
  });

  it("GIVEN the replayed image WHEN its dependencies are listed THEN they are exactly the gateway's locked runtime dependencies", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "gateway/package-lock.json"), "utf8")) as {
      packages: Record<string, { version: string; dev?: boolean }>;
    };
    const runtime = Object.entries(lock.packages)
      .filter(([k, p]) => k.startsWith("node_modules/") && !p.dev)
      .map(([k, p]) => `${k.slice("node_modules/".length)}@${p.version}`)
      .sort();
    const modules = path.join(image.workdir, "node_modules");
    const installed = Object.keys(lock.packages)
      .filter((k) => k.startsWith("node_modules/") && fs.existsSync(path.join(image.workdir, k)))
      .map((k) => {
        const pkg = JSON.parse(fs.readFileSync(path.join(image.workdir, k, "package.json"), "utf8"));
        return `${k.slice("node_modules/".length)}@${pkg.version as string}`;
      })
      .sort();
    expect(installed).toEqual(runtime);
    expect(fs.readdirSync(modules)).not.toContain("typescript");
    expect(runtime.map((r) => r.replace(/@[^@]+$/, ""))).toEqual(
      expect.arrayContaining(["jose", "pg", "prom-client", "re2js"]),
    );
  });

  it("GIVEN the replayed image WHEN its entry point starts without configuration THEN every module loaded and it stops at the configuration check", () => {
    const [cmd, ...args] = image.entrypoint;
    expect(cmd).toBe("node");
    const r = spawnSync(process.execPath, args, {
      cwd: image.workdir,
      env: { PATH: process.env.PATH ?? "", ...image.env, GATEWAY_SPILL_DIR: path.join(dir, "spool") },
      encoding: "utf8",
    });
    const out = r.stdout + r.stderr;
    expect(out).not.toMatch(/Cannot find module/);
    expect(out).toMatch(/invalid gateway configuration/);
    expect(r.status, out).toBe(2);
  });

  it("GIVEN the replayed image WHEN each compiled module is required THEN every import resolves inside the image", () => {
    const modules = compiledModules(image.workdir).filter((f) => !f.endsWith(`${path.sep}main.js`));
    expect(modules.length).toBeGreaterThan(10);
    const r = spawnSync(
      process.execPath,
      ["-e", "for (const m of JSON.parse(process.argv[1])) require(m);", JSON.stringify(modules)],
      {
        cwd: image.workdir,
        env: { PATH: process.env.PATH ?? "" },
        encoding: "utf8",
      },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
