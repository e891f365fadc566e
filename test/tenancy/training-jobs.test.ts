import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { baseModelPrefixes } from "../../components/lib/scopes";
import { TRAINER_IMAGE } from "../../components/lib/versions";
import { renderTrainingJob } from "../../components/platform/training-jobs";
import { renderSubmission } from "../../scripts/train-submit";
import { validateObject } from "../helpers/k8s-schema";
import { shippedConfig } from "./wired";

const ROOT = path.resolve(__dirname, "../..");
const devConfig = shippedConfig("aws-dev");

function envOf(job: Record<string, any>): Record<string, string> {
  return Object.fromEntries(
    job.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]),
  );
}

/** `npm run -s train:submit -- ...args` as a process. */
function submit(...args: string[]) {
  return spawnSync(
    process.execPath,
    [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/train-submit.ts", ...args],
    { cwd: ROOT, encoding: "utf8" },
  );
}

describe("training job templates", () => {
  for (const kind of ["lora", "quantize", "eval"] as const) {
    it(`GIVEN a ${kind} job WHEN rendered THEN it is a valid batch/v1 Job that queues, labels, resumes and stays in the team prefix`, async () => {
      const job = renderTrainingJob({
        kind,
        name: `r-${kind}`,
        team: "research",
        costCenter: "cc-2000",
        modelPrefix: "llama-3.1-8b-instruct/",
        dataset: kind === "quantize" ? undefined : "support/train.jsonl",
        gpus: 2,
      });
      expect(await validateObject(job as any)).toEqual({ status: "valid" });
      expect(job.metadata.namespace).toBe("team-research");
      for (const labels of [job.metadata.labels, job.spec.template.metadata.labels])
        expect(labels).toMatchObject({
          team: "research",
          "cost-center": "cc-2000",
          "kueue.x-k8s.io/queue-name": "training",
        });
      expect(job.spec.suspend).toBe(true);
      // Spot interruptions are not failures; the replacement resumes from checkpoints.
      expect(job.spec.podFailurePolicy.rules[0]).toEqual({
        action: "Ignore",
        onPodConditions: [{ type: "DisruptionTarget", status: "True" }],
      });
      const env = envOf(job);
      expect(env.RESUME_FROM_CHECKPOINT).toBe("auto");
      expect(env.CHECKPOINT_URI).toBe(`s3://$(SOVEREIGN_BUCKET_CHECKPOINTS)/teams/research/r-${kind}/`);
      expect(env.OUTPUT_URI).toBe(`s3://$(SOVEREIGN_BUCKET_MODELS)/teams/research/r-${kind}/`);
      expect(env.MODEL_URI).toBe("s3://$(SOVEREIGN_BUCKET_MODELS)/llama-3.1-8b-instruct/");
      if (kind !== "quantize")
        expect(env.DATASET_URI).toBe("s3://$(SOVEREIGN_BUCKET_DATASETS)/teams/research/support/train.jsonl");
      const spec = job.spec.template.spec;
      // Only the GPU taint: a cloud's own tolerations (Karpenter's disruption taint on aws) come
      // from the pool's ResourceFlavor, never from the platform component.
      expect(spec.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
      expect(spec.containers[0].resources.limits["nvidia.com/gpu"]).toBe("2");
      expect(spec.containers[0].envFrom).toEqual([{ configMapRef: { name: "training-env" } }]);
      expect(spec.containers[0].image).toBe(TRAINER_IMAGE);
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.containers[0].securityContext.allowPrivilegeEscalation).toBe(false);
    });
  }

  it("GIVEN a quantize job WHEN rendered THEN it runs llm-compressor with the chosen scheme", () => {
    const job = renderTrainingJob({
      kind: "quantize",
      name: "q",
      team: "t",
      costCenter: "c",
      modelPrefix: "m/",
      dataset: "calib/chats.jsonl",
      scheme: "awq",
    });
    expect(job.spec.template.spec.containers[0].command).toEqual([
      "sovereign-train",
      "quantize",
      "--scheme=awq",
    ]);
  });

  it("GIVEN bad job arguments WHEN rendered THEN one error lists every problem", () => {
    expect(() =>
      renderTrainingJob({
        kind: "lora",
        name: "Bad_Name",
        team: "t",
        costCenter: "c",
        modelPrefix: "m/",
        dataset: "../other-team/x",
        gpus: 0,
        image: "ghcr.io/x/trainer:latest",
      }),
    ).toThrow(
      /found "Bad_Name"[\s\S]*found "\.\.\/other-team\/x"[\s\S]*found 0[\s\S]*found "ghcr.io\/x\/trainer:latest"/,
    );
  });
});

describe("train:submit", () => {
  const lora = (team: string, model: string, extra: string[] = []) => [
    ...["--team", team, "--kind", "lora", "--name", "v1", "--base-model", model],
    ...["--dataset", "train.jsonl", ...extra],
  ];
  const image = (yaml: string) => parseYaml(yaml).spec.template.spec.containers[0].image;

  it("GIVEN aws-prod (no egress) WHEN submitted with --account THEN the runner image comes through the account's ECR cache", () => {
    const prod = shippedConfig("aws-prod");
    const eng = (extra: string[]) => lora("engineering", "llama-3-3-70b-instruct", extra);
    expect(image(renderSubmission(eng(["--account", "123456789012"]), prod))).toBe(
      "123456789012.dkr.ecr.eu-central-1.amazonaws.com/github/sovereign-ai/trainer:0.1.0",
    );
    expect(() => renderSubmission(eng([]), prod)).toThrow(/expected --account <AWS account id>/);
    expect(() => renderSubmission(eng(["--account", "12"]), prod)).toThrow(
      /12-digit AWS account id, found "12"/,
    );
    // an explicit image needs no account
    expect(image(renderSubmission(eng(["--image", "reg.corp/trainer:0.1.0"]), prod))).toBe(
      "reg.corp/trainer:0.1.0",
    );
  });

  it("GIVEN a ghcr.io mirror in the config WHEN submitted THEN the runner image is pulled from the mirror", () => {
    const mirrored = { ...devConfig, registryMirrors: { "ghcr.io": "harbor.corp/ghcr" } };
    expect(image(renderSubmission(lora("research", "llama-3-1-8b-instruct"), mirrored))).toBe(
      "harbor.corp/ghcr/sovereign-ai/trainer:0.1.0",
    );
    expect(image(renderSubmission(lora("research", "llama-3-1-8b-instruct"), devConfig))).toBe(TRAINER_IMAGE);
  });

  it("GIVEN a team and an allowed base model WHEN submitted THEN the YAML is the team's queued Job", () => {
    const yaml = renderSubmission(
      [
        "--stack",
        "aws-dev",
        "--team",
        "research",
        "--kind",
        "lora",
        "--name",
        "support-v2",
        "--base-model",
        "llama-3-1-8b-instruct",
        "--dataset",
        "support/train.jsonl",
      ],
      devConfig,
    );
    const job = parseYaml(yaml);
    expect(job.kind).toBe("Job");
    expect(job.metadata).toMatchObject({
      name: "support-v2",
      namespace: "team-research",
      labels: { "cost-center": "cc-2000" },
    });
    expect(envOf(job).MODEL_URI).toBe("s3://$(SOVEREIGN_BUCKET_MODELS)/llama-3.1-8b-instruct/");
  });

  it("GIVEN a model whose source has no trailing '/' WHEN submitted THEN MODEL_URI names the folder the trainer's read scope covers", () => {
    const config = structuredClone(devConfig);
    const model = config.models.find((m) => m.name === "llama-3-1-8b-instruct")!;
    (model as { source: string }).source = "llama-3.1-8b-instruct"; // the schema allows it
    const job = parseYaml(
      renderSubmission(
        [
          "--team",
          "research",
          "--kind",
          "lora",
          "--name",
          "s",
          "--base-model",
          model.name,
          "--dataset",
          "t.jsonl",
        ],
        config,
      ),
    );
    const key = String(envOf(job).MODEL_URI).replace("s3://$(SOVEREIGN_BUCKET_MODELS)/", "");
    // The trainer lists with this key as its prefix; AWS admits the listing only within a granted folder.
    const scopes = baseModelPrefixes([model.source]);
    expect(scopes).toEqual(["llama-3.1-8b-instruct/"]);
    expect(scopes.some((folder) => key.startsWith(folder))).toBe(true);
  });

  it("GIVEN --from-job WHEN submitted THEN the job starts from the team's earlier output", () => {
    const job = parseYaml(
      renderSubmission(
        [
          "--team",
          "research",
          "--kind",
          "eval",
          "--name",
          "ev",
          "--from-job",
          "support-v2",
          "--dataset",
          "eval.jsonl",
          "--tasks",
          "a,b",
        ],
        devConfig,
      ),
    );
    expect(envOf(job).MODEL_URI).toBe("s3://$(SOVEREIGN_BUCKET_MODELS)/teams/research/support-v2/");
    expect(job.spec.template.spec.containers[0].command).toEqual(["sovereign-train", "eval", "--tasks=a,b"]);
  });

  it("GIVEN --env-json WHEN submitted THEN only the secret references are added", () => {
    const env = [
      { name: "AWS_REGION", value: "x" },
      { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "s3", key: "secret" } } },
    ];
    const job = parseYaml(
      renderSubmission(
        [
          "--team",
          "support",
          "--kind",
          "quantize",
          "--name",
          "q1",
          "--base-model",
          "llama-3-1-8b-instruct",
          "--env-json",
          "env.json",
        ],
        {
          ...devConfig,
          teams: devConfig.teams.map((t) => ({
            ...t,
            allowedModels: [...t.allowedModels, "llama-3-1-8b-instruct"],
          })),
        },
        () => JSON.stringify(env),
      ),
    );
    const names = job.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);
    expect(names).toContain("AWS_SECRET_ACCESS_KEY");
    expect(names).not.toContain("AWS_REGION");
  });

  it("GIVEN an unknown team and a model the team may not use WHEN submitted THEN one error names both", () => {
    expect(() =>
      renderSubmission(
        ["--team", "nobody", "--kind", "lora", "--name", "x", "--base-model", "nope"],
        devConfig,
      ),
    ).toThrow(/--team to be one of \[research, support\], found "nobody"[\s\S]*--base-model to be one of/);
    expect(() =>
      renderSubmission(
        ["--team", "support", "--kind", "lora", "--name", "x", "--base-model", "bge-m3", "--dataset", "d"],
        devConfig,
      ),
    ).toThrow(/a model team "support" may use \[support-lora\], found "bge-m3"/);
  });

  it("GIVEN the local stack (training disabled) WHEN submitted THEN it refuses", () => {
    expect(() =>
      renderSubmission(
        ["--team", "demo", "--kind", "lora", "--name", "x", "--base-model", "tiny-chat", "--dataset", "d"],
        shippedConfig("local"),
      ),
    ).toThrow(/training.enabled/);
  });

  it("GIVEN the npm script WHEN run as a process THEN it prints the Job YAML and exits 0", () => {
    const r = submit(
      "--stack",
      "aws-prod",
      "--team",
      "legal",
      "--kind",
      "quantize",
      "--name",
      "legal-fp8",
      "--base-model",
      "llama-3-3-70b-instruct",
      "--gpus",
      "4",
      "--account",
      "123456789012",
    );
    expect(r.status, r.stderr).toBe(0);
    const job = parseYaml(r.stdout);
    expect(job.metadata).toMatchObject({ name: "legal-fp8", namespace: "team-legal" });
    expect(job.spec.template.spec.containers[0].resources.requests["nvidia.com/gpu"]).toBe("4");
  });

  it("GIVEN --stack=S, or a usage mistake WHEN the npm script runs THEN --stack=S is read like --stack S, and a mistake exits 2 with train:submit: and no stack trace", () => {
    const job = [
      "--team",
      "legal",
      "--kind",
      "quantize",
      "--name",
      "legal-fp8",
      "--base-model",
      "llama-3-3-70b-instruct",
      "--account",
      "123456789012",
    ];
    const ok = submit("--stack=aws-prod", ...job);
    expect(ok.status, ok.stderr).toBe(0);
    expect(parseYaml(ok.stdout).metadata).toMatchObject({ name: "legal-fp8", namespace: "team-legal" });
    for (const [args, msg] of [
      [job, /expected --stack <name>, found nothing/],
      [["--stack", "nope", ...job], /found no file at/],
      [["--stack", "aws-prod", ...job, "--colour", "red"], /Unknown option '--colour'/],
      [["--stack", "aws-prod", ...job.slice(2)], /expected --team to be one of/],
    ] as [string[], RegExp][]) {
      const r = submit(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n")[0], args.join(" ")).toMatch(/^train:submit: /);
      expect(r.stderr, args.join(" ")).toMatch(msg);
      expect(r.stderr, args.join(" ")).not.toMatch(/\n\s+at /);
      expect(r.stdout, args.join(" ")).toBe("");
    }
  }, 120_000);
});
