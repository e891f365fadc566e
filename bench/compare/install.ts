/**
 * The third-party programs of `npm run bench:gateway -- --compare ...`, installed on first use
 * OUTSIDE the clone (shared by every clone and worktree) and reused afterwards:
 *   vegeta  ${SOVEREIGN_TOOLS_CACHE:-~/.cache/sovereign}/tools/vegeta@v12.13.0/vegeta (go install)
 *   LiteLLM ${SOVEREIGN_TOOLS_CACHE:-~/.cache/sovereign}/venvs/litellm-<version>   (pip, a venv)
 *   nginx   from the Debian package (apt-get, as root) when `nginx` is not on PATH
 * Each install prints how long it took. A missing prerequisite (go, python3, apt-get or root)
 * fails with a message saying what to install.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkLitellmVersion } from "./report";

export const VEGETA_VERSION = "v12.13.0";
/** The LiteLLM release compared against (BENCH_LITELLM_VERSION overrides it). */
export const litellmVersion = (): string =>
  checkLitellmVersion(process.env.BENCH_LITELLM_VERSION ?? "1.108.7");

const cacheRoot = () => process.env.SOVEREIGN_TOOLS_CACHE ?? path.join(os.homedir(), ".cache", "sovereign");

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env });
  if (r.error) throw new Error(`${cmd}: ${r.error.message} (is it installed?)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status})`);
}

function timed<T>(what: string, f: () => T): T {
  const t0 = Date.now();
  const out = f();
  console.log(`install: ${what} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return out;
}

/** vegeta, the open-loop HTTP load generator, built once with `go install`. */
export function ensureVegeta(): string {
  const dir = path.join(cacheRoot(), "tools", `vegeta@${VEGETA_VERSION}`);
  const bin = path.join(dir, "vegeta");
  if (fs.existsSync(bin)) return bin;
  timed(`vegeta ${VEGETA_VERSION} (go install)`, () => {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    try {
      run("go", ["install", `github.com/tsenart/vegeta/v12@${VEGETA_VERSION}`], {
        ...process.env,
        GOBIN: tmp,
        GOFLAGS: "-p=1", // a shared 2-core machine: one compile at a time
      });
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir); // a static binary: the directory is relocatable
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
  return bin;
}

function which(name: string): string | undefined {
  for (const d of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    const p = path.join(d, name);
    if (d && fs.existsSync(p)) return p;
  }
  return undefined;
}

/** nginx: the one on PATH, else the Debian package (nginx-light: the proxy module is enough). */
export function ensureNginx(): string {
  const found = which("nginx");
  if (found) return found;
  if (process.getuid?.() !== 0 || !which("apt-get")) {
    throw new Error("nginx is not installed: install it (Debian: apt-get install nginx-light) and rerun");
  }
  timed("nginx-light (apt-get)", () => {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const args = ["install", "-y", "--no-install-recommends", "nginx-light"];
    const r = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (r.status !== 0) {
      run("apt-get", ["update"], env);
      run("apt-get", args, env);
    }
  });
  const p = which("nginx");
  if (!p) throw new Error("nginx-light was installed but no nginx binary is on PATH or in /usr/sbin");
  return p;
}

/**
 * LiteLLM's proxy (`litellm[proxy]==<version>`) in its own venv. Venvs are not relocatable, so
 * it is built in place and marked complete with a stamp only after pip succeeds; an incomplete
 * one is removed and rebuilt. Returns the venv's directory.
 */
export function ensureLitellm(version = litellmVersion()): string {
  const venv = path.join(cacheRoot(), "venvs", `litellm-${version}`);
  const stamp = path.join(venv, ".complete");
  if (fs.existsSync(stamp) && fs.existsSync(path.join(venv, "bin", "litellm"))) return venv;
  timed(`litellm[proxy]==${version} (pip, into ${venv})`, () => {
    fs.rmSync(venv, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(venv), { recursive: true });
    run(process.env.PYTHON ?? "python3", ["-m", "venv", venv]);
    run(path.join(venv, "bin", "python"), [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "--no-input",
      `litellm[proxy]==${version}`,
    ]);
    fs.writeFileSync(stamp, new Date().toISOString() + "\n");
  });
  return venv;
}
