/**
 * The seam between the dataset builder and the training jobs: the LoRA and eval Jobs rendered for
 * a dataset version read exactly the objects the builder writes (same bucket, same keys), which
 * the REAL runner confirms with `--dry-run`, and candidate and incumbent are evaluated on the
 * same held-out file.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { candidateJobs } from "../../components/flywheel/pipeline";
import { flywheelEnvData, type FlywheelTeamInput } from "../../components/flywheel/plan";
import { trainingEnvData } from "../../components/platform/tenancy";

const ROOT = path.resolve(__dirname, "../..");
let PY = "";
beforeAll(() => {
  const r = spawnSync("bash", [path.join(ROOT, "trainer/setup-tests.sh")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`trainer/setup-tests.sh failed:\n${r.stderr}`);
  PY = path.join(r.stdout.trim().split("\n").pop()!, "bin/python");
}, 3_600_000);

const buckets = { models: "acme-models", datasets: "acme-datasets", checkpoints: "acme-checkpoints" };
const trainingEnv = trainingEnvData({
  endpoint: "http://s3:8333",
  region: "r",
  forcePathStyle: true,
  buckets,
  team: "research",
});
const team: FlywheelTeamInput = {
  team: "research",
  costCenter: "cc",
  adapter: "support",
  baseModel: "llama-chat",
  schedule: "0 3 * * *",
  minNewRecords: 1,
  modelClassifications: {},
  redactPatterns: [],
};
const builderEnv = flywheelEnvData(team, {
  buckets: { inferenceLogs: "acme-logs", datasets: buckets.datasets },
  opaUrl: "http://opa",
  endpoint: "http://s3:8333",
  region: "r",
  forcePathStyle: true,
});

function plan(job: Record<string, any>): Record<string, any> {
  const env: Record<string, string> = { ...trainingEnv, PATH: process.env.PATH ?? "" };
  for (const e of job.spec.template.spec.containers[0].env as { name: string; value?: string }[])
    if (e.value !== undefined)
      env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
  const [, ...argv] = job.spec.template.spec.containers[0].command as string[];
  const r = spawnSync(PY, ["-m", "sovereign_train", "--dry-run", ...argv], {
    cwd: path.join(ROOT, "trainer"),
    env,
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe("dataset version -> LoRA and eval jobs", () => {
  it("GIVEN a dataset version WHEN its jobs are rendered THEN the runner reads the builder's files and both evals use one held-out set", () => {
    const version = "20261205T030000Z-0123456789ab";
    const written = `${builderEnv.DATASETS_URI}${version}/`;
    const jobs = candidateJobs({
      team: "research",
      costCenter: "cc",
      adapter: "support",
      baseModelSource: "llama-3.1-8b-instruct/",
      datasetVersion: version,
      candidate: "c7",
      incumbentJob: "support-c6",
    });
    const lora = plan(jobs.lora);
    expect(lora).toMatchObject({
      kind: "lora",
      dataset: `${written}train.jsonl`,
      model: "s3://acme-models/llama-3.1-8b-instruct/",
      output: "s3://acme-models/teams/research/support-c7/",
    });
    const cand = plan(jobs.evalCandidate);
    const inc = plan(jobs.evalIncumbent);
    expect(cand.dataset).toBe(`${written}eval.jsonl`);
    expect(inc.dataset).toBe(cand.dataset);
    expect(cand.model).toBe(lora.output);
    expect(inc.model).toBe("s3://acme-models/teams/research/support-c6/");
    for (const j of Object.values(jobs)) expect(j.metadata.namespace).toBe("team-research");
  });

  it("GIVEN no promoted version yet WHEN rendered THEN the incumbent is the base model", () => {
    const jobs = candidateJobs({
      team: "research",
      costCenter: "cc",
      adapter: "support",
      baseModelSource: "llama-3.1-8b-instruct/",
      datasetVersion: "v1",
      candidate: "c1",
    });
    expect(plan(jobs.evalIncumbent).model).toBe("s3://acme-models/llama-3.1-8b-instruct/");
  });
});
