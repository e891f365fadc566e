/**
 * The training runner (trainer/): its Python test suite (CLI checks, S3 sync against moto,
 * checkpoint discovery, SIGTERM, dataset checks, the real LoRA / eval / quantize jobs on a tiny
 * model with real torch, the flywheel's dataset builder against a real OPA and its gate) runs in
 * the venv trainer/setup-tests.sh installs from requirements.txt (cached outside the clone) with
 * nothing skipped, and every command the Job templates render is accepted by the runner's own
 * parser and environment checks.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TRAINER_IMAGE } from "../../components/lib/versions";
import { trainingEnvData } from "../../components/platform/tenancy";
import { renderTrainingJob, type TrainingJobArgs } from "../../components/platform/training-jobs";

const ROOT = path.resolve(__dirname, "../..");
const TRAINER = path.join(ROOT, "trainer");
let PY = "";

// A cold install downloads about 4 GB (torch's CUDA build and the nvidia-* libraries that
// `import torch` needs even on a CPU-only machine); docs/flywheel.md has the measured time.
beforeAll(() => {
  const r = spawnSync("bash", [path.join(TRAINER, "setup-tests.sh")], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`trainer/setup-tests.sh failed (${r.status}):\n${r.stderr}`);
  PY = path.join(r.stdout.trim().split("\n").pop()!, "bin/python");
}, 3_600_000);

/** The container env of a rendered Job, with $(VAR) expanded from the training-env ConfigMap. */
function containerEnv(job: Record<string, any>, configMap: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...configMap, PATH: process.env.PATH ?? "" };
  for (const e of job.spec.template.spec.containers[0].env as { name: string; value?: string }[])
    if (e.value !== undefined)
      env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
  return env;
}

function dryRun(args: string[], env: Record<string, string>) {
  const r = spawnSync(PY, ["-m", "sovereign_train", "--dry-run", ...args], {
    cwd: TRAINER,
    env,
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const configMap = trainingEnvData({
  endpoint: "http://seaweedfs-s3.sovereign-storage.svc:8333",
  region: "us-east-1",
  forcePathStyle: true,
  buckets: { models: "acme-models", datasets: "acme-datasets", checkpoints: "acme-checkpoints" },
  team: "research",
});

describe("training runner", () => {
  it("GIVEN the runner and its tests WHEN trainer/typecheck.sh runs ruff format --check, ruff check and mypy --strict (pinned) against the ML venv THEN they find nothing", () => {
    // ruff (pinned in requirements-test.txt) runs from the ML venv; the config is trainer/
    // pyproject.toml [tool.ruff]. typecheck.sh installs mypy and the boto3 stubs once into their
    // own small cached venv and runs mypy with --python-executable of the ML venv (so torch,
    // transformers, peft and llmcompressor are checked against); the config is [tool.mypy].
    const r = spawnSync("bash", [path.join(TRAINER, "typecheck.sh")], { cwd: ROOT, encoding: "utf8" });
    expect(r.error).toBeUndefined();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+ files already formatted$/m);
    expect(r.stdout).toMatch(/^All checks passed!$/m);
    // the configured files were checked (not an empty run): sovereign_train/ and tests/
    const checked = Number(r.stdout.match(/^Success: no issues found in (\d+) source files$/m)?.[1]);
    expect(checked, r.stdout).toBeGreaterThanOrEqual(
      fs.readdirSync(path.join(TRAINER, "sovereign_train")).filter((f) => f.endsWith(".py")).length +
        fs.readdirSync(path.join(TRAINER, "tests")).filter((f) => f.endsWith(".py")).length,
    );
  }, 900_000);

  it("GIVEN the runner's pytest suite WHEN run with the ML dependencies THEN every test passes and none is skipped", () => {
    const env = { ...process.env };
    delete env.SOVEREIGN_ALLOW_SKIPS; // a skip fails the suite (tests/conftest.py)
    const r = spawnSync(PY, ["-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"], {
      cwd: TRAINER,
      encoding: "utf8",
      env,
    });
    const summary = r.stdout.trim().split("\n").pop() ?? "";
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(summary).toMatch(/^\d+ passed/);
    expect(summary).not.toMatch(/failed|error|skipped|deselected/);
    expect(Number(summary.match(/^(\d+) passed/)![1])).toBeGreaterThanOrEqual(80);
    // the ML tests ran for real: LoRA + eval, fp8 and awq quantization, SIGTERM during training
    const ml = spawnSync(
      PY,
      ["-m", "pytest", "tests/test_ml_tiny.py", "-q", "--co", "-p", "no:cacheprovider"],
      {
        cwd: TRAINER,
        encoding: "utf8",
      },
    );
    expect(ml.stdout).toMatch(/^4 tests collected/m);
  }, 1_800_000);

  const cases: Array<{ label: string; args: Omit<TrainingJobArgs, "team" | "costCenter"> }> = [
    {
      label: "lora",
      args: {
        kind: "lora",
        name: "support-v2",
        modelPrefix: "llama-3.1-8b-instruct/",
        dataset: "support/train.jsonl",
      },
    },
    {
      label: "quantize fp8",
      args: { kind: "quantize", name: "llama-fp8", modelPrefix: "llama-3.1-8b-instruct/" },
    },
    {
      label: "quantize awq",
      args: {
        kind: "quantize",
        name: "llama-awq",
        modelPrefix: "llama-3.1-8b-instruct/",
        scheme: "awq",
        dataset: "calib/chats.jsonl",
      },
    },
    {
      label: "eval",
      args: {
        kind: "eval",
        name: "support-v2-eval",
        modelPrefix: "teams/research/support-v2/",
        dataset: "support/eval.jsonl",
      },
    },
    {
      label: "eval with tasks",
      args: {
        kind: "eval",
        name: "ev2",
        modelPrefix: "teams/research/support-v2/",
        dataset: "support/eval.jsonl",
        tasks: ["perplexity", "exact-match"],
      },
    },
  ];
  for (const c of cases) {
    it(`GIVEN a rendered ${c.label} Job WHEN its command and env go to the runner THEN it accepts them with the right plan`, () => {
      const job = renderTrainingJob({
        ...c.args,
        team: "research",
        costCenter: "cc-2000",
      });
      const [exe, ...argv] = job.spec.template.spec.containers[0].command as string[];
      expect(exe).toBe("sovereign-train");
      const r = dryRun(argv, containerEnv(job, configMap));
      expect(r.status, r.stderr).toBe(0);
      const plan = JSON.parse(r.stdout);
      expect(plan).toMatchObject({
        kind: c.args.kind,
        job_name: c.args.name,
        model: `s3://acme-models/${c.args.modelPrefix}`,
        output: `s3://acme-models/teams/research/${c.args.name}/`,
        checkpoints: `s3://acme-checkpoints/teams/research/${c.args.name}/`,
        dataset: c.args.dataset ? `s3://acme-datasets/teams/research/${c.args.dataset}` : null,
        resume: "auto",
        checkpoint_on_sigterm: true,
        scratch: "/scratch",
      });
      if (c.args.kind === "quantize") expect(plan.args.scheme).toBe(c.args.scheme ?? "fp8");
      if (c.args.kind === "eval") expect(plan.args.tasks).toEqual(c.args.tasks ?? ["team-dataset"]);
    });
  }

  it("GIVEN a Job whose training-env ConfigMap is missing WHEN the runner starts THEN it exits 2 naming the unexpanded variable", () => {
    const job = renderTrainingJob({
      ...cases[0].args,
      team: "research",
      costCenter: "cc-2000",
    });
    const [, ...argv] = job.spec.template.spec.containers[0].command as string[];
    const r = dryRun(argv, containerEnv(job, {}));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('found "s3://$(SOVEREIGN_BUCKET_MODELS)/llama-3.1-8b-instruct/"');
  });

  it("GIVEN an awq quantize job without calibration data WHEN rendered or run THEN both refuse it", () => {
    const args = {
      kind: "quantize",
      name: "q",
      team: "research",
      costCenter: "c",
      modelPrefix: "m/",
      scheme: "awq",
    } as const;
    expect(() => renderTrainingJob(args)).toThrow(
      /calibration chats\) for an awq quantize job, found nothing/,
    );
    const job = renderTrainingJob({ ...args, scheme: "fp8" });
    const env = containerEnv(job, configMap);
    const r = dryRun(["quantize", "--scheme=awq"], env);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/DATASET_URI .*found nothing \(AWQ/);
  });

  it("GIVEN the image build files WHEN read THEN the base, the deps and the version are pinned and the user is not root", () => {
    const dockerfile = fs.readFileSync(path.join(TRAINER, "Dockerfile"), "utf8");
    const base = dockerfile.match(/^ARG BASE_IMAGE=(\S+)$/m)?.[1];
    expect(base).toMatch(/^pytorch\/pytorch:\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-runtime$/);
    const torchTag = base!.split(":")[1].split("-")[0];
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    const reqs = fs
      .readFileSync(path.join(TRAINER, "requirements.txt"), "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"));
    for (const r of reqs) expect(r).toMatch(/^[A-Za-z0-9_.[\]-]+==[\w.]+$/);
    expect(reqs).toContain(`torch==${torchTag}`);
    const pyproject = fs.readFileSync(path.join(TRAINER, "pyproject.toml"), "utf8");
    expect(pyproject).toMatch(/^sovereign-train = "sovereign_train.cli:main"$/m);
    const version = pyproject.match(/^version = "([^"]+)"$/m)?.[1];
    expect(TRAINER_IMAGE.split(":").pop()).toBe(version);
  });
});
