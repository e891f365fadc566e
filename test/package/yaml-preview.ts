/**
 * `npm run e2e:package`: a Pulumi YAML program uses the component package through the real
 * Pulumi CLI and YAML language host (scripts/engine-tools.sh), a file backend and the cached
 * kubernetes provider, and previews:
 *
 * 1. the `local` stack's config as a `sovereign:index:ClusterPlatform` resource: the facade
 *    validates, builds the platform, and every resource is registered under it. The kubeconfig
 *    points at no cluster (the kubernetes provider previews without one), and the chart
 *    releases are excluded with what depends on them (`--exclude` / `--exclude-dependents`):
 *    their charts cannot be fetched here (docs/e2e-engine.md). The number of resources the
 *    engine registered must equal what the same facade registers under mocks;
 * 2. the same program with a model on a pool that does not exist: the preview must fail with the
 *    kit's message at the property path `models[0].pool`;
 * 3. separate components: a `ClusterSubstrate` whose `handle` output is the `handle` input of
 *    `Serving`, `Gateway`, `Tenancy`, `Flywheel`, `Policy` and `Observability`, `Serving`'s
 *    `modelApiKeys` output the `modelApiKeys` input of `Gateway` and `Flywheel` (both unknown in
 *    this first preview: the object store's and the model servers' keys are generated at create
 *    time), and `Flywheel`'s `flywheelIdentities` output the `flywheelIdentities` input of
 *    `Policy`, for one team with the flywheel on and the models on a GPU pool (vLLM, so each has a
 *    key). Every resource must be under one of the seven, their number must equal what the same
 *    program registers under mocks, and the gateway's and the team's key Secrets, OPA's
 *    Deployment and the monitoring namespace must be among them.
 *
 * 4. the program of step 3 with `Policy` not given `flywheelIdentities` (its settings turn a
 *    flywheel on): the preview must fail with the part's message at `flywheelIdentities`, without a
 *    stack trace.
 *
 * Prints one row per program; exits non-zero when one does not behave so. `--report <file>`
 * also writes `{passed, failed}` (one per program) as JSON for scripts/test.sh.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ClusterPlatform, type ClusterPlatformArgs } from "../../component-package/platform";
import { installMocks, settle } from "../helpers/mocks";
import { buildAllParts } from "./all-parts";
import { facadeArgs, withVllmModels } from "./facade-args";
import { cliEnv, pluginBinary, ROOT, run } from "./plugin";

type Json = { [k: string]: any };

function tool(name: string): string {
  return execFileSync("bash", [path.join(ROOT, "scripts/engine-tools.sh"), "--print", name], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

/** How many resources the facade registers for `args` under mocks (itself included). */
async function mockedCount(args: ClusterPlatformArgs): Promise<number> {
  const recorder = installMocks({ stack: "dev", project: "sovereign-yaml" });
  new ClusterPlatform("platform", args);
  await settle();
  return recorder.resources.length;
}

/** The separate components, as the YAML program of step 3 declares them. */
const PARTS = ["Serving", "Gateway", "Tenancy", "Flywheel", "Policy", "Observability"] as const;

/** How many resources the separate components register for `args` under mocks. */
async function mockedPartsCount(args: ClusterPlatformArgs): Promise<number> {
  const recorder = installMocks({ stack: "dev", project: "sovereign-yaml" });
  buildAllParts(args);
  await settle();
  return recorder.resources.length;
}

interface Outcome {
  readonly program: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly detail: string;
}

async function main(): Promise<number> {
  const tools = {
    pulumi: tool("pulumi"),
    kubernetes: tool("pulumi-resource-kubernetes"),
    yaml: tool("pulumi-language-yaml"),
  };
  const plugin = pluginBinary();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-yaml-"));
  const kubeconfig = path.join(work, "kubeconfig");
  // No cluster: the kubernetes provider previews against an unreachable server.
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "none", cluster: { server: "https://127.0.0.1:1" } }],
      users: [{ name: "none", user: { token: "none" } }],
      contexts: [{ name: "kind-sovereign", context: { cluster: "none", user: "none" } }],
      "current-context": "kind-sovereign",
    }),
  );
  const env = {
    ...cliEnv(path.join(work, "home"), [
      path.dirname(tools.pulumi),
      path.dirname(tools.yaml),
      path.join(ROOT, ".tools/bin"), // opa, which builds the gateway's policy
    ]),
    PULUMI_CONFIG_PASSPHRASE: "sovereign-package-test",
  };
  const local = facadeArgs("local");
  const args: ClusterPlatformArgs = { ...local, substrate: { ...local.substrate, kubeconfig } };
  const outcomes: Outcome[] = [];
  try {
    await previews();
  } catch (e) {
    plugin.cleanup();
    console.error(`${e instanceof Error ? e.message : String(e)}\nwork dir kept: ${work}`);
    return 1;
  }

  async function previews(): Promise<void> {
    const preview = async (
      program: string,
      properties: ClusterPlatformArgs,
      extra: string[],
      resources: Json = { platform: { type: "sovereign:index:ClusterPlatform", properties } },
      outputs: Json = { models: "${platform.models}", teams: "${platform.teams}" },
    ) => {
      const dir = path.join(work, program);
      fs.mkdirSync(path.join(dir, "state"), { recursive: true });
      const penv = { ...env, PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}` };
      // JSON is YAML: the program is the facade with the stack's config as its properties.
      const project = {
        name: "sovereign-yaml",
        runtime: "yaml",
        plugins: {
          providers: [
            { name: "sovereign", path: plugin.dir },
            { name: "kubernetes", path: path.dirname(tools.kubernetes) },
            { name: "random", path: path.join(ROOT, "test/engine/fixtures/random-provider") },
          ],
        },
        resources,
        outputs,
      };
      fs.writeFileSync(path.join(dir, "Pulumi.yaml"), JSON.stringify(project, null, 2));
      await run(tools.pulumi, ["stack", "init", "dev", "--non-interactive"], { cwd: dir, env: penv });
      const start = process.hrtime.bigint();
      let stdout = "";
      let failed = false;
      try {
        stdout = (
          await run(tools.pulumi, ["preview", "--non-interactive", "--json", ...extra], {
            cwd: dir,
            env: penv,
            maxBuffer: 256 * 1024 * 1024,
          })
        ).stdout;
      } catch (e) {
        failed = true;
        stdout = (e as { stdout?: string }).stdout ?? "";
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      let result: Json = {};
      try {
        result = JSON.parse(stdout) as Json;
      } catch {
        result = { diagnostics: [{ severity: "error", message: stdout.slice(0, 500) || "no output" }] };
      }
      const errors = ((result.diagnostics ?? []) as Json[])
        .filter((d) => d.severity === "error")
        .map((d) => String(d.message).trim());
      return { failed, seconds, result, errors };
    };

    // 1. The local stack through the package.
    {
      const p = await preview("local", args, [
        "--exclude",
        "**kubernetes:helm.sh/v3:Release::**",
        "--exclude-dependents",
      ]);
      const steps = (p.result.steps ?? []) as Json[];
      const summary = (p.result.changeSummary ?? {}) as Record<string, number>;
      const registered = Object.values(summary).reduce((a, b) => a + b, 0);
      const expected = (await mockedCount(args)) + 1; // and the YAML program's stack
      const outside = steps
        .map((s) => String(s.urn))
        .filter(
          (u) => !u.includes("::sovereign:index:ClusterPlatform") && !u.includes("::pulumi:pulumi:Stack::"),
        );
      const problems = [
        ...(p.failed ? [`preview failed: ${p.errors[0] ?? "no error"}`] : []),
        ...(registered !== expected ? [`registered ${registered} resources, expected ${expected}`] : []),
        ...(outside.length ? [`not under the facade: ${outside.slice(0, 3).join(", ")}`] : []),
      ];
      outcomes.push({
        program: "local stack as ClusterPlatform",
        ok: problems.length === 0,
        seconds: p.seconds,
        detail:
          problems.join("; ") ||
          `${registered} resources registered (${JSON.stringify(summary)}), all under the facade`,
      });
    }
    // 2. A mistake: reported by the kit's validator at its property path, nothing created.
    {
      const bad = { ...args, models: [{ ...args.models[0], pool: "no-such-pool" }, ...args.models.slice(1)] };
      const p = await preview("mistake", bad, []);
      const named = p.errors.find((m) => m.includes("models[0].pool"));
      outcomes.push({
        program: "models[0].pool: no-such-pool",
        ok: p.failed && named !== undefined,
        seconds: p.seconds,
        detail:
          named
            ?.split("\n")
            .find((l) => l.includes("models[0].pool"))
            ?.trim() ?? `no error names models[0].pool: ${p.errors.join(" / ")}`,
      });
    }
    // 3. Separate components, joined by the substrate's handle and Serving's keys: one team with
    //    the flywheel on, its models on a GPU pool (vLLM: each has a key, unknown in this
    //    preview, which the gateway and the team hold in Secrets).
    {
      const gpu = withVllmModels();
      const settings: ClusterPlatformArgs = { ...gpu, substrate: { ...gpu.substrate, kubeconfig } };
      const resources: Json = {
        substrate: { type: "sovereign:index:ClusterSubstrate", properties: settings },
      };
      for (const part of PARTS)
        resources[part.toLowerCase()] = {
          type: `sovereign:index:${part}`,
          properties: {
            ...settings,
            handle: "${substrate.handle}",
            ...(part === "Flywheel" ? { teamNamespaces: "${tenancy.teamNamespaces}" } : {}),
            ...(part === "Gateway" || part === "Flywheel" ? { modelApiKeys: "${serving.modelApiKeys}" } : {}),
            ...(part === "Policy" ? { flywheelIdentities: "${flywheel.flywheelIdentities}" } : {}),
          },
        };
      const p = await preview(
        "parts",
        settings,
        ["--exclude", "**kubernetes:helm.sh/v3:Release::**", "--exclude-dependents"],
        resources,
        {
          gatewayUrl: "${gateway.gatewayUrl}",
          teamNamespaces: "${tenancy.teamNamespaces}",
          opaUrl: "${policy.opaUrl}",
          grafanaUrl: "${observability.grafanaUrl}",
        },
      );
      const steps = (p.result.steps ?? []) as Json[];
      const summary = (p.result.changeSummary ?? {}) as Record<string, number>;
      const registered = Object.values(summary).reduce((a, b) => a + b, 0);
      const expected = (await mockedPartsCount(settings)) + 1; // and the YAML program's stack
      const types = ["ClusterSubstrate", ...PARTS].map((t) => `::sovereign:index:${t}`);
      const urns = steps.map((s) => String(s.urn));
      const outside = urns.filter(
        (u) => !types.some((t) => u.includes(t)) && !u.includes("::pulumi:pulumi:Stack::"),
      );
      // The key Secrets the parts create from the (unknown) keys: the gateway's, and the team's
      // for its base model and the guard.
      const team = settings.teams[0].name;
      const keySecrets = [
        ["Gateway", "gateway-model-api-keys"],
        ["Flywheel", `flywheel-${team}-baseModel-api-key`],
        ["Flywheel", `flywheel-${team}-guard-api-key`],
      ].filter(
        ([part, name]) =>
          !urns.some(
            (u) => u.includes(`sovereign:index:${part}$`) && u.endsWith(`kubernetes:core/v1:Secret::${name}`),
          ),
      );
      // OPA and the monitoring namespace, under their parts.
      const policyObjects = [
        ["Policy", "kubernetes:apps/v1:Deployment::opa-deployment"],
        ["Observability", "kubernetes:core/v1:Namespace::observability-namespace"],
      ].filter(
        ([part, tail]) => !urns.some((u) => u.includes(`sovereign:index:${part}$`) && u.endsWith(tail)),
      );
      const problems = [
        ...(p.failed ? [`preview failed: ${p.errors[0] ?? "no error"}`] : []),
        ...(registered !== expected ? [`registered ${registered} resources, expected ${expected}`] : []),
        ...(outside.length ? [`not under a component: ${outside.slice(0, 3).join(", ")}`] : []),
        ...(keySecrets.length ? [`no key Secret ${keySecrets.map(([, n]) => n).join(", ")}`] : []),
        ...(policyObjects.length ? [`missing ${policyObjects.map(([p, t]) => `${p} ${t}`).join(", ")}`] : []),
      ];
      outcomes.push({
        program: "ClusterSubstrate + Serving, Gateway, Tenancy, Flywheel, Policy, Observability",
        ok: problems.length === 0,
        seconds: p.seconds,
        detail:
          problems.join("; ") ||
          `${registered} resources registered (${JSON.stringify(summary)}), all under the seven components`,
      });

      // 4. The same program with `Policy` not given the flywheel's identities: the preview must
      //    fail with the part's input-property error at `flywheelIdentities`, no stack trace.
      const { flywheelIdentities: _dropped, ...policy } = resources.policy.properties as Json;
      const q = await preview(
        "parts-no-identities",
        settings,
        ["--exclude", "**kubernetes:helm.sh/v3:Release::**", "--exclude-dependents"],
        { ...resources, policy: { ...resources.policy, properties: policy } },
        { opaUrl: "${policy.opaUrl}" },
      );
      const said = q.errors.find((m) =>
        m.includes("flywheelIdentities: expected Flywheel's flywheelIdentities"),
      );
      const traced = q.errors.some((m) => /\n\s+at /.test(m));
      outcomes.push({
        program: "Policy without flywheelIdentities",
        ok: q.failed && said !== undefined && !traced,
        seconds: q.seconds,
        detail: said
          ? `${traced ? "STACK TRACE; " : ""}${said.replace(/\s+/g, " ").slice(0, 160)}`
          : `no error names flywheelIdentities: ${q.errors.join(" / ").slice(0, 300)}`,
      });
    }
  }

  const rows = outcomes.map((o) => [o.program, o.ok ? "ok" : "FAILED", o.seconds.toFixed(1), o.detail]);
  const head = ["program", "result", "wall s", "detail"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log([line(head), ...rows.map(line)].join("\n"));
  const ok = outcomes.every((o) => o.ok);
  const passed = outcomes.filter((o) => o.ok).length;
  console.log(`e2e:package: ${passed} passed, ${outcomes.length - passed} failed`);
  const at = process.argv.indexOf("--report");
  if (at > 0 && process.argv[at + 1])
    fs.writeFileSync(process.argv[at + 1], JSON.stringify({ passed, failed: outcomes.length - passed }));
  if (ok) {
    fs.rmSync(work, { recursive: true, force: true });
    plugin.cleanup();
  } else console.log(`work dir kept: ${work}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
