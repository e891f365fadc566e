/**
 * The `local` stack through the real Pulumi engine (issue 13, part 3): `preview`, `up`, a second
 * `up` that must change nothing, and `destroy`, with the Pulumi CLI and the kubernetes provider
 * built by scripts/engine-tools.sh, a file state backend in a temporary directory and a
 * passphrase secrets provider, against the Kubernetes API server given by a kubeconfig.
 *
 * The Node.js language host (pulumi-language-nodejs) cannot be built here (docs/e2e-engine.md),
 * so the program runs as an Automation API inline program: the CLI is started with `--client`
 * and talks to a language server inside this Node process, which runs `main()` of stacks/main.ts.
 * The program is compiled by the test runner (tsx/esbuild), not by the CLI's Node.js runtime;
 * that compile path is test/engine/compile-path.test.ts.
 *
 * `random` is the stand-in provider of fixtures/random-provider (a test fixture).
 *
 *   npx tsx test/engine/engine.ts <kubeconfig>    # prints the steps and a timing table
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, type EngineEvent, type OpMap } from "@pulumi/pulumi/automation";
import { main } from "../../stacks/main";

const ROOT = path.resolve(__dirname, "../..");

export interface EngineStep {
  readonly step: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly changes: OpMap | undefined;
  readonly error?: string;
}

/** Paths of the cached tools; builds them when missing (a failed build throws). */
export function engineTools(): { pulumi: string; kubernetes: string } {
  const out = execFileSync(
    "bash",
    [path.join(ROOT, "scripts/engine-tools.sh"), "--print", "pulumi", "pulumi-resource-kubernetes"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  )
    .trim()
    .split("\n");
  return { pulumi: out[0], kubernetes: out[1] };
}

/** Changes other than `same` in a summary. */
export function changesOf(ops: OpMap | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(ops ?? {}).filter(([op, n]) => op !== "same" && (n ?? 0) > 0));
}

const RELEASE_TYPE = "kubernetes:helm.sh/v3:Release";
/** What the provider answers when a chart's repository cannot be reached or the chart fetched. */
const CHART_FETCH = /repo|chart|dial tcp|no such host|lookup|connection refused|oci:/i;

export interface Blocked {
  readonly urn: string;
  readonly name: string;
  readonly message: string;
}

export async function runEngine(opts: {
  kubeconfig: string;
  log: (s: string) => void;
}): Promise<{ steps: EngineStep[]; blocked: Blocked[]; workDir: string }> {
  const tools = engineTools();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-engine-"));
  const state = path.join(work, "state");
  fs.mkdirSync(state);
  // The shipped stack config, as is (its substrate context is kind-sovereign: the kubeconfig
  // given here names its context so).
  fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.local.yaml"), path.join(work, "Pulumi.local.yaml"));
  const logFile = path.join(work, "engine.log");
  const envVars = {
    PULUMI_CONFIG_PASSPHRASE: "sovereign-engine-test",
    PULUMI_BACKEND_URL: `file://${state}`,
    PULUMI_HOME: path.join(work, "home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    KUBECONFIG: opts.kubeconfig,
    PATH: `${path.dirname(tools.pulumi)}:${process.env.PATH ?? ""}`,
  };
  process.env.PATH = envVars.PATH;
  const projectSettings = {
    name: "sovereign",
    runtime: "nodejs" as const,
    backend: { url: `file://${state}` },
    // Providers from the tool cache and the test fixture, never downloaded.
    plugins: {
      providers: [
        { name: "kubernetes", path: path.dirname(tools.kubernetes) },
        { name: "random", path: path.join(__dirname, "fixtures/random-provider") },
      ],
    },
  };
  const stack = await LocalWorkspace.createOrSelectStack(
    { projectName: "sovereign", stackName: "local", program: async () => main() },
    { workDir: work, projectSettings, envVars },
  );
  const onOutput = (s: string) => fs.appendFileSync(logFile, s);
  const results: EngineStep[] = [];
  const timed = async (step: string, f: () => Promise<OpMap | undefined>) => {
    const start = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
    try {
      results.push({ step, ok: true, seconds: seconds(), changes: await f() });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      results.push({ step, ok: false, seconds: seconds(), changes: undefined, error });
    }
    const r = results[results.length - 1];
    opts.log(
      `engine: ${step}: ${r.ok ? "ok" : "FAILED"} in ${r.seconds.toFixed(1)} s ${JSON.stringify(changesOf(r.changes))}`,
    );
    return r;
  };
  opts.log(`engine: work dir ${work} (log: ${logFile})`);

  // 1. The whole stack. Errors are collected per resource from the engine's events.
  const errors = new Map<string, string[]>();
  const onEvent = (e: EngineEvent) => {
    const d = e.diagnosticEvent;
    if (d?.severity === "error" && d.urn) errors.set(d.urn, [...(errors.get(d.urn) ?? []), d.message.trim()]);
  };
  await timed(
    "preview (whole stack)",
    async () => (await stack.preview({ onOutput, onEvent })).changeSummary,
  );
  // 2. Chart releases whose chart cannot be fetched here are excluded, by name, with what depends
  //    on them (the engine's own --exclude/--exclude-dependents). Any other error fails the run.
  const blocked: Blocked[] = [];
  const other: string[] = [];
  for (const [urn, msgs] of errors) {
    if (urn.includes(`::${RELEASE_TYPE}::`) && msgs.some((m) => CHART_FETCH.test(m)))
      blocked.push({
        urn,
        name: urn.split("::").pop() ?? urn,
        message: msgs.find((m) => CHART_FETCH.test(m)) ?? "",
      });
    else if (!urn.endsWith(`::pulumi:pulumi:Stack::sovereign-local`))
      other.push(`${urn}: ${msgs.join(" / ")}`);
  }
  for (const b of blocked)
    opts.log(`engine: excluded (chart not obtainable here): ${b.name}: ${b.message.split("\n")[0]}`);
  if (other.length > 0) {
    results.push({
      step: "errors other than chart fetches",
      ok: false,
      seconds: 0,
      changes: undefined,
      error: other.join("\n"),
    });
    return { steps: results, blocked, workDir: work };
  }
  const scope = { exclude: blocked.map((b) => b.urn), excludeDependents: true, onOutput };
  // 3. Everything else: preview, up, up again (must change nothing), destroy.
  const preview = await timed("preview", async () => (await stack.preview(scope)).changeSummary);
  if (preview.ok) {
    const up = await timed("up", async () => (await stack.up(scope)).summary.resourceChanges);
    if (up.ok) await timed("up (again)", async () => (await stack.up(scope)).summary.resourceChanges);
  }
  await timed("destroy", async () => (await stack.destroy({ onOutput })).summary.resourceChanges);
  return { steps: results, blocked, workDir: work };
}

if (require.main === module) {
  const kubeconfig = process.argv[2];
  if (!kubeconfig) {
    console.error("usage: tsx test/engine/engine.ts <kubeconfig with context kind-sovereign>");
    process.exit(2);
  }
  runEngine({ kubeconfig, log: (s) => console.log(s) }).then(
    ({ steps }) => {
      console.table(
        steps.map((s) => ({
          step: s.step,
          ok: s.ok,
          seconds: s.seconds.toFixed(1),
          error: s.error?.slice(0, 200),
        })),
      );
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
