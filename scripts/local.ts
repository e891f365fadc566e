/**
 * `npm run up:local` / `npm run down:local` / `npm run preview:local`: deploys the `local` stack
 * to the current kubeconfig context with a local file state backend (no Pulumi Cloud account).
 * Prerequisites: the Pulumi CLI and a running kind/k3d/minikube cluster (see README).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

export type Action = "up" | "down" | "preview";

export interface Invocation {
  readonly steps: { readonly cmd: string; readonly args: string[] }[];
  readonly env: Record<string, string>;
}

/** Pure: the commands and environment for an action (tested). */
export function localInvocation(action: Action, root: string, env: NodeJS.ProcessEnv): Invocation {
  const stateDir = env.SOVEREIGN_STATE_DIR ?? path.join(root, ".pulumi-state");
  const e: Record<string, string> = {
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    // The local stack holds no real secrets; an explicit passphrase keeps the CLI non-interactive.
    PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE ?? "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  const select = { cmd: "pulumi", args: ["stack", "select", "local", "--create", "--cwd", root] };
  const verb =
    action === "up"
      ? ["up", "--yes", "--stack", "local", "--cwd", root]
      : action === "down"
        ? ["destroy", "--yes", "--stack", "local", "--cwd", root]
        : ["preview", "--stack", "local", "--cwd", root];
  return { steps: [{ cmd: "mkdir", args: ["-p", stateDir] }, select, { cmd: "pulumi", args: verb }], env: e };
}

if (require.main === module) {
  const action = process.argv[2] as Action;
  if (!["up", "down", "preview"].includes(action)) {
    console.error("usage: local.ts up|down|preview");
    process.exit(2);
  }
  const inv = localInvocation(action, path.resolve(__dirname, ".."), process.env);
  for (const s of inv.steps) {
    const r = spawnSync(s.cmd, s.args, { stdio: "inherit", env: { ...process.env, ...inv.env } });
    if (r.error) {
      console.error(`local: cannot run ${s.cmd}: ${r.error.message} (is the Pulumi CLI installed?)`);
      process.exit(1);
    }
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}
