/**
 * One command to a working local platform, and back:
 *   npm run up:local                    # kind cluster (created if missing), images, deploy, wait, demo key
 *   npm run down:local [-- --delete-cluster]
 *   npm run preview:local
 * State lives in a local file backend (.pulumi-state/, no Pulumi Cloud account). Every missing
 * tool is named with an install hint, and an unset PULUMI_CONFIG_PASSPHRASE is refused, before
 * anything starts. The plan is a pure function (tested); docs/local.md describes each step.
 */
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { IMAGES } from "../components/lib/versions";
import { exitIfHelp } from "./lib/cli";

export type Action = "up" | "down" | "preview";

export const CLUSTER = "sovereign";
export const KIND_NODE_IMAGE = "kindest/node:v1.33.1";
export const CONTEXT = `kind-${CLUSTER}`;
/** The local port the gateway and the database are forwarded to while up:local runs. */
export const GATEWAY_PORT = 8080;
export const DB_PORT = 15432;
export const LOCAL_USAGE =
  "usage: npm run up:local | npm run down:local [-- --delete-cluster] | npm run preview:local";

export interface Tool {
  readonly name: string;
  readonly hint: string;
}

export const TOOLS: Readonly<Record<string, Tool>> = {
  docker: {
    name: "docker",
    hint: "install Docker Desktop, Colima or Podman (docker CLI): https://docs.docker.com/get-docker/",
  },
  kind: {
    name: "kind",
    hint: "install kind 0.29+: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
  },
  kubectl: { name: "kubectl", hint: "install kubectl: https://kubernetes.io/docs/tasks/tools/" },
  pulumi: { name: "pulumi", hint: "install the Pulumi CLI 3.x: https://www.pulumi.com/docs/install/" },
};

/** The tools an action needs. */
export function toolsFor(action: Action, deleteCluster: boolean): string[] {
  if (action === "up") return ["docker", "kind", "kubectl", "pulumi"];
  if (action === "down") return deleteCluster ? ["kind", "kubectl", "pulumi"] : ["kubectl", "pulumi"];
  return ["kubectl", "pulumi"];
}

/** Every problem that stops the action before anything starts (pure). */
export function preflight(
  action: Action,
  env: NodeJS.ProcessEnv,
  has: (tool: string) => boolean,
  deleteCluster = false,
): string[] {
  const problems = toolsFor(action, deleteCluster)
    .filter((t) => !has(t))
    .map((t) => `missing ${t}: ${TOOLS[t].hint}`);
  if (env.PULUMI_CONFIG_PASSPHRASE === undefined)
    problems.push(
      "PULUMI_CONFIG_PASSPHRASE is not set: export one (it encrypts the stack's secrets in .pulumi-state/), e.g. `export PULUMI_CONFIG_PASSPHRASE=local-only`; set it to an empty string only if you mean no passphrase",
    );
  return problems;
}

export type Step =
  | { readonly kind: "run"; readonly title: string; readonly cmd: string; readonly args: string[] }
  /** A background process kept running until the plan ends (port-forwards). */
  | { readonly kind: "background"; readonly title: string; readonly cmd: string; readonly args: string[] }
  /** Creates the demo key through the keys tooling and prints how to call the gateway. */
  | { readonly kind: "demo-key"; readonly title: string };

export interface Plan {
  readonly env: Record<string, string>;
  readonly steps: Step[];
}

/** Pure: the steps and environment of an action. `clusterExists`: whether kind already has it. */
export function localPlan(
  action: Action,
  root: string,
  env: NodeJS.ProcessEnv,
  o: { clusterExists: boolean; deleteCluster?: boolean },
): Plan {
  const stateDir = env.SOVEREIGN_STATE_DIR ?? path.join(root, ".pulumi-state");
  const e: Record<string, string> = {
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) e.PULUMI_CONFIG_PASSPHRASE = env.PULUMI_CONFIG_PASSPHRASE;
  const run = (title: string, cmd: string, ...args: string[]): Step => ({ kind: "run", title, cmd, args });
  const select = run(
    "select the local stack",
    "pulumi",
    "stack",
    "select",
    "local",
    "--create",
    "--cwd",
    root,
  );
  const state = run("state directory", "mkdir", "-p", stateDir);
  if (action === "preview")
    return {
      env: e,
      steps: [state, select, run("preview", "pulumi", "preview", "--stack", "local", "--cwd", root)],
    };
  if (action === "down") {
    const steps = [
      state,
      select,
      run("destroy the stack", "pulumi", "destroy", "--yes", "--stack", "local", "--cwd", root),
    ];
    if (o.deleteCluster)
      steps.push(run("delete the kind cluster", "kind", "delete", "cluster", "--name", CLUSTER));
    return { env: e, steps };
  }
  const steps: Step[] = [];
  if (!o.clusterExists)
    steps.push(
      run(
        "create the kind cluster",
        "kind",
        "create",
        "cluster",
        "--name",
        CLUSTER,
        "--image",
        KIND_NODE_IMAGE,
      ),
    );
  steps.push(
    run("use its context", "kubectl", "config", "use-context", CONTEXT),
    run("build the gateway image", "docker", "build", "-t", IMAGES.gateway, "-f", "gateway/Dockerfile", root),
    run("load it into the cluster", "kind", "load", "docker-image", IMAGES.gateway, "--name", CLUSTER),
    state,
    select,
    run("deploy (pulumi up)", "pulumi", "up", "--yes", "--stack", "local", "--cwd", root),
    run(
      "wait for PostgreSQL",
      "kubectl",
      "-n",
      "sovereign-data",
      "wait",
      "--for=condition=Ready",
      "cluster.postgresql.cnpg.io/postgres",
      "--timeout=10m",
    ),
    run(
      "wait for the object store buckets",
      "kubectl",
      "-n",
      "sovereign-data",
      "wait",
      "--for=condition=complete",
      "job",
      "-l",
      "app.kubernetes.io/name=object-store-buckets",
      "--timeout=10m",
    ),
    run(
      "wait for the gateway",
      "kubectl",
      "-n",
      "sovereign-gateway",
      "rollout",
      "status",
      "deploy/gateway",
      "--timeout=10m",
    ),
    {
      kind: "background",
      title: "forward PostgreSQL",
      cmd: "kubectl",
      args: ["-n", "sovereign-data", "port-forward", "svc/postgres-rw", `${DB_PORT}:5432`],
    },
    {
      kind: "background",
      title: "forward the gateway",
      cmd: "kubectl",
      args: ["-n", "sovereign-gateway", "port-forward", "svc/gateway", `${GATEWAY_PORT}:8080`],
    },
    { kind: "demo-key", title: "create a demo API key for team demo (npm run -s keys)" },
  );
  return { env: e, steps };
}

/** What up:local prints at the end (pure). */
export function howToCall(key: string, port = GATEWAY_PORT): string {
  return [
    `The platform is up. The gateway: http://localhost:${port} (keep a port-forward running:`,
    `  kubectl -n sovereign-gateway port-forward svc/gateway ${port}:8080 &)`,
    "",
    "curl:",
    `  curl -s http://localhost:${port}/v1/chat/completions \\`,
    `    -H "Authorization: Bearer ${key}" -H 'Content-Type: application/json' \\`,
    `    -d '{"model": "tiny-chat", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'`,
    "",
    "openai (Python):",
    "  from openai import OpenAI",
    `  client = OpenAI(base_url="http://localhost:${port}/v1", api_key="${key}")`,
    '  print(client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "Hello!"}]).choices[0].message.content)',
  ].join("\n");
}

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

async function execute(plan: Plan, root: string): Promise<void> {
  const env = { ...process.env, ...plan.env };
  const background: ReturnType<typeof spawn>[] = [];
  try {
    for (const [i, s] of plan.steps.entries()) {
      console.error(`[${i + 1}/${plan.steps.length}] ${s.title}`);
      if (s.kind === "run") {
        const r = spawnSync(s.cmd, s.args, { stdio: "inherit", env, cwd: root });
        if (r.error || r.status !== 0)
          throw new Error(
            `${s.title} failed: ${[s.cmd, ...s.args].join(" ")} (${r.error?.message ?? `exit ${r.status}`})`,
          );
      } else if (s.kind === "background") {
        background.push(spawn(s.cmd, s.args, { stdio: "ignore", env }));
        await new Promise((r) => setTimeout(r, 2000));
      } else {
        const pw = spawnSync(
          "kubectl",
          ["-n", "sovereign-gateway", "get", "secret", "gateway-postgres", "-o", "jsonpath={.data.password}"],
          { encoding: "utf8", env },
        );
        if (pw.status !== 0) throw new Error(`cannot read the gateway's database login: ${pw.stderr.trim()}`);
        const password = Buffer.from(pw.stdout.trim(), "base64").toString("utf8");
        const url = `postgres://gateway:${encodeURIComponent(password)}@127.0.0.1:${DB_PORT}/gateway?sslmode=no-verify`;
        const k = spawnSync(
          process.execPath,
          [
            "--import",
            "tsx",
            path.join(root, "scripts/keys.ts"),
            "create",
            "--stack",
            "local",
            "--team",
            "demo",
            "--description",
            "up:local demo",
          ],
          { encoding: "utf8", env: { ...env, SOVEREIGN_DATABASE_URL: url } },
        );
        if (k.status !== 0) throw new Error(`creating the demo key failed: ${k.stderr.trim()}`);
        console.log(howToCall(k.stdout.trim()));
      }
    }
  } finally {
    for (const b of background) b.kill();
  }
}

if (require.main === module) {
  exitIfHelp(process.argv.slice(2), LOCAL_USAGE);
  const [action, ...rest] = process.argv.slice(2) as [Action, ...string[]];
  const deleteCluster = rest.includes("--delete-cluster");
  const unknown = rest.filter((a) => a !== "--delete-cluster" || action !== "down");
  if (!["up", "down", "preview"].includes(action) || unknown.length) {
    console.error(
      `local: ${unknown.length ? `unknown argument ${unknown[0]}` : "expected up, down or preview"}\n${LOCAL_USAGE}`,
    );
    process.exit(2);
  }
  const problems = preflight(action, process.env, onPath, deleteCluster);
  if (problems.length) {
    console.error(`local: cannot start, nothing was changed:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    process.exit(2);
  }
  const clusterExists =
    action === "up" &&
    (spawnSync("kind", ["get", "clusters"], { encoding: "utf8" }).stdout ?? "").split("\n").includes(CLUSTER);
  const root = path.resolve(__dirname, "..");
  execute(localPlan(action, root, process.env, { clusterExists, deleteCluster }), root).catch(
    (e: unknown) => {
      console.error(`local: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
