/**
 * What the cloud or the API server would reject is a config error before anything is registered:
 * one test per mistake class, each through `validateConfig` (the rules on the parsed config and
 * its settings) and, for the ones the stack name or `aws:region` decide, through the program.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterEach, describe, expect, it } from "vitest";
import { AWS_CATALOG, isEc2InstanceType, isRdsInstanceClass } from "../../stacks/config/catalog/aws";
import { GPU_FAMILIES } from "../../components/aws/gpu-families";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { validateConfig, type ValidateOptions } from "../../stacks/config/validate";
import { existingClusterSubstrateArgs } from "../../stacks/wiring/existing-cluster";
import { pulumiConfigFromFile, runProgram } from "../helpers/stack";

type Raw = Record<string, any>;

function shipped(stack: string): Raw {
  return structuredClone(rawFromStackFile(stackFile(stack)).raw);
}

function issuesOf(raw: unknown, opts: ValidateOptions = {}): { path: string; message: string }[] {
  const r = validateConfig(raw, opts);
  return r.ok ? [] : [...r.issues];
}

/** The issues of `raw` at `path`; fails when validation finds problems elsewhere too. */
function only(raw: unknown, at: string, opts: ValidateOptions = {}): string[] {
  const issues = issuesOf(raw, opts);
  expect(
    issues.filter((i) => i.path !== at),
    "problems other than the one planted",
  ).toEqual([]);
  return issues.map((i) => i.message);
}

describe("the pinned AWS catalog", () => {
  it("GIVEN the catalog THEN it has a date, a source, and every shipped default and GPU family", () => {
    expect(AWS_CATALOG.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(AWS_CATALOG.source.length).toBeGreaterThan(20);
    expect(isEc2InstanceType("m7i.xlarge")).toBe(true);
    expect(isRdsInstanceClass("db.t4g.medium")).toBe(true);
    // Karpenter launches these families: the catalog must know them.
    for (const f of Object.keys(GPU_FAMILIES)) expect(AWS_CATALOG.ec2InstanceTypes[f], f).toBeDefined();
    expect(isEc2InstanceType("m7i")).toBe(false);
    expect(isEc2InstanceType("constructor.xlarge")).toBe(false);
  });
});

describe("regions and availability zones", () => {
  it("GIVEN azCount 5 in a 3-AZ region WHEN validated THEN it is an error at network.azCount, not an exception mid-program", () => {
    const raw = shipped("aws-prod");
    raw.network.azCount = 5;
    const [msg] = only(raw, "sovereign:network.azCount");
    expect(msg).toBe("expected at most 3 (the availability zones of eu-central-1), found 5");
    raw.network.azCount = 3;
    expect(issuesOf(raw)).toEqual([]);
  });

  it("GIVEN us-east-1 (6 AZs) WHEN azCount is 6 THEN it is accepted", () => {
    const raw = shipped("aws-dev");
    raw.substrate.region = "us-east-1";
    raw.network.azCount = 6;
    expect(issuesOf(raw)).toEqual([]);
  });

  it("GIVEN a region that does not exist WHEN validated THEN the error names the path, the catalog date and the refresh command", () => {
    const raw = shipped("aws-dev");
    raw.substrate.region = "eu-middle-1";
    const [msg] = only(raw, "sovereign:substrate.region");
    expect(msg).toContain('found "eu-middle-1"');
    expect(msg).toContain(AWS_CATALOG.date);
    expect(msg).toContain("npm run -s catalog:aws");
    expect(msg).toContain("eu-central-1");
  });

  it("GIVEN an allowed region that does not exist WHEN validated THEN it is an error at its index", () => {
    const raw = shipped("aws-prod");
    raw.policy.allowedRegions = ["eu-central-1", "eu-centrall-1"];
    expect(only(raw, "sovereign:policy.allowedRegions[1]")).toHaveLength(1);
  });

  it("GIVEN an aws:region that disagrees with the substrate region WHEN validated THEN it is an error; agreeing, it is accepted", () => {
    const raw = shipped("aws-dev");
    const [msg] = only(raw, "sovereign:substrate.region", { awsRegion: "us-east-1" });
    expect(msg).toContain('"aws:region" (us-east-1)');
    expect(issuesOf(raw, { awsRegion: "eu-central-1" })).toEqual([]);
    // The loader reads it from the stack file.
    expect(rawFromStackFile(stackFile("aws-dev")).awsRegion).toBe("eu-central-1");
  });
});

describe("instance types", () => {
  it("GIVEN an EC2 type AWS does not offer WHEN validated THEN it is an error listing the family's sizes", () => {
    const raw = shipped("aws-prod");
    raw.eks.systemNodes.instanceType = "m7i.xxlarge";
    const [msg] = only(raw, "sovereign:eks.systemNodes.instanceType");
    expect(msg).toContain('found "m7i.xxlarge"');
    expect(msg).toContain("2xlarge");
    raw.eks.systemNodes.instanceType = "m7i.2xlarge";
    expect(issuesOf(raw)).toEqual([]);
  });

  it("GIVEN an RDS class AWS does not offer WHEN validated THEN it is an error at database.instanceClass", () => {
    const raw = shipped("aws-prod");
    raw.database.instanceClass = "db.r7g.huge";
    expect(only(raw, "sovereign:database.instanceClass")[0]).toContain('found "db.r7g.huge"');
    raw.database.instanceClass = "r7g.large"; // the EC2 name, without db.
    expect(only(raw, "sovereign:database.instanceClass")).toHaveLength(1);
  });

  it("GIVEN the cluster substrate WHEN the AWS-only types are odd THEN nothing is reported (they are not used)", () => {
    const raw = shipped("local");
    raw.database.instanceClass = "whatever";
    expect(issuesOf(raw)).toEqual([]);
  });
});

describe("Kubernetes label values and names", () => {
  const cases: [string, (r: Raw) => void, string, RegExp][] = [
    [
      "an emoji in tags.costCenter",
      (r) => (r.tags.costCenter = "cc-💰"),
      "sovereign:tags.costCenter",
      /emoji/,
    ],
    [
      "a space in tags.costCenter",
      (r) => (r.tags.costCenter = "cc 1000"),
      "sovereign:tags.costCenter",
      /spaces/,
    ],
    [
      "non-ASCII letters in a team's costCenter",
      (r) => (r.teams[0].costCenter = "Forschung-Zürich"),
      "sovereign:teams[0].costCenter",
      /non-ASCII letters/,
    ],
    [
      "a costCenter longer than 63",
      (r) => (r.teams[1].costCenter = "c".repeat(64)),
      "sovereign:teams[1].costCenter",
      /at most 63 characters, found 64/,
    ],
    [
      "a costCenter ending in '-'",
      (r) => (r.teams[0].costCenter = "cc-"),
      "sovereign:teams[0].costCenter",
      /starting and ending with a letter or digit/,
    ],
  ];
  for (const [what, edit, at, why] of cases)
    it(`GIVEN ${what} WHEN validated THEN it is an error naming ${at}`, () => {
      const raw = shipped("aws-dev");
      edit(raw);
      const [msg] = only(raw, at);
      expect(msg).toMatch(/^expected a value that makes a valid Kubernetes label value/);
      expect(msg).toMatch(why);
    });

  it("GIVEN an emoji in tags.owner (an AWS tag) WHEN validated THEN it is an error; an e-mail address with a space is accepted", () => {
    const raw = shipped("aws-dev");
    raw.tags.owner = "platform 🚀";
    expect(only(raw, "sovereign:tags.owner")[0]).toMatch(/AWS tag value .*emoji/);
    raw.tags.owner = "Platform Team platform@acme.example";
    expect(issuesOf(raw)).toEqual([]);
  });

  it("GIVEN a GPU type and node selector that are not labels (cluster substrate) WHEN validated THEN each is an error at its path", () => {
    const raw = shipped("local");
    raw.gpuPools = [
      {
        name: "gpus",
        purpose: "serving",
        gpusPerNode: 1,
        gpuType: "nvidia l4",
        nodeSelector: { "gpu type": "l4", "example.com/pool": "Grüne" },
        maxGpus: 2,
      },
    ];
    const issues = issuesOf(raw);
    // (the kit's images are not allowed by the local stack's registries with a GPU pool: not this test's matter)
    expect(
      issues
        .map((i) => i.path)
        .filter((p) => p.startsWith("sovereign:gpuPools"))
        .sort(),
    ).toEqual([
      "sovereign:gpuPools[0].gpuType",
      "sovereign:gpuPools[0].nodeSelector",
      "sovereign:gpuPools[0].nodeSelector.example.com/pool",
    ]);
  });

  it("GIVEN a flywheel adapter name with capitals WHEN validated THEN the CronJob name the flywheel builds is an error at the adapter", () => {
    const raw = shipped("aws-dev");
    // The team's shipped flywheel adapter is replaced, so its name leaves allowedModels too.
    const shippedAdapter = raw.teams[0].flywheel?.adapter;
    raw.teams[0].allowedModels = raw.teams[0].allowedModels.filter((m: string) => m !== shippedAdapter);
    raw.teams[0].flywheel = { enabled: true, baseModel: "llama-3-1-8b-instruct", adapter: "Research_LoRA" };
    raw.teams[0].allowedModels.push("Research_LoRA");
    const [msg] = only(raw, "sovereign:teams[0].flywheel.adapter");
    expect(msg).toContain('the CronJob name "flywheel-Research_LoRA"');
    raw.teams[0].flywheel.adapter = "research-lora";
    raw.teams[0].allowedModels = raw.teams[0].allowedModels.filter((m: string) => m !== "Research_LoRA");
    raw.teams[0].allowedModels.push("research-lora");
    expect(issuesOf(raw).filter((i) => i.path.includes("flywheel.adapter"))).toEqual([]);
  });

  it("GIVEN a cluster substrate with an annotation key that is not a key WHEN validated THEN it is an error", () => {
    const raw = shipped("local");
    raw.substrate.loadBalancerAnnotations = { internal: { "metallb.universe.tf/address pool": "x" } };
    expect(only(raw, "sovereign:substrate.loadBalancerAnnotations.internal")).toHaveLength(1);
  });
});

describe("AWS names built from the stack name and the bucket prefix", () => {
  it("GIVEN a stack name with a '.' WHEN validated THEN the EKS cluster name it makes is an error", () => {
    const raw = shipped("aws-dev");
    const [msg] = only(raw, "sovereign:substrate", { stack: "team.dev" });
    expect(msg).toContain('found stack "team.dev"');
    expect(msg).toContain('the EKS cluster name "sovereign-team.dev"');
  });

  it("GIVEN a stack name of 60 characters WHEN validated THEN the RDS identifier it makes (over 63) is an error; 50 is accepted", () => {
    const raw = shipped("aws-dev");
    const [msg] = only(raw, "sovereign:substrate", { stack: "a".repeat(60) });
    expect(msg).toContain("RDS identifier");
    expect(msg).toContain("found 73");
    expect(issuesOf(raw, { stack: "a".repeat(50) })).toEqual([]);
  });

  it("GIVEN an odd stack name on the cluster substrate WHEN validated THEN nothing is reported (no AWS names)", () => {
    expect(issuesOf(shipped("local"), { stack: "my.local_stack" })).toEqual([]);
  });

  it("GIVEN a bucket prefix that makes an invalid bucket name WHEN validated THEN it names the bucket", () => {
    for (const stack of ["aws-dev", "local"]) {
      const raw = shipped(stack);
      raw.storage.bucketPrefix = "Acme_AI";
      const [msg] = only(raw, "sovereign:storage.bucketPrefix");
      expect(msg).toMatch(/makes the bucket name "Acme_AI-/);
    }
    const raw = shipped("aws-dev");
    raw.storage.bucketPrefix = "a".repeat(40); // 40 + "-inference-logs" = 55: fine
    expect(issuesOf(raw)).toEqual([]);
    raw.storage.bucketPrefix = "acme--ai";
    expect(only(raw, "sovereign:storage.bucketPrefix")).toHaveLength(1);
  });

  it("GIVEN the program with a stack name that makes an invalid EKS name WHEN run THEN one RunError, before any resource", async () => {
    const run = await runProgram("acme.prod", pulumiConfigFromFile(stackFile("aws-dev")));
    expect(run.error).toBeInstanceOf(pulumi.RunError);
    expect((run.error as Error).message).toContain('found stack "acme.prod"');
    expect(run.recorder.resources).toEqual([]);
  });

  it("GIVEN the program with an aws:region that disagrees WHEN run THEN one RunError, before any resource", async () => {
    const flat = pulumiConfigFromFile(stackFile("aws-dev"));
    flat.config["aws:region"] = "eu-west-1";
    const run = await runProgram("aws-dev", flat);
    expect(run.error).toBeInstanceOf(pulumi.RunError);
    expect((run.error as Error).message).toContain('"aws:region" (eu-west-1)');
    expect(run.recorder.resources).toEqual([]);
  });
});

describe("capacity arithmetic", () => {
  it("GIVEN replicas.max x GPUs per replica above the pool's maxGpus WHEN validated THEN it is an error at replicas.max", () => {
    const raw = shipped("aws-prod");
    raw.models[0].replicas.max = 5; // 5 x 4 GPUs on serving-h100 (maxGpus 16)
    const [msg] = only(raw, "sovereign:models[0].replicas.max");
    expect(msg).toBe(
      'expected at most 4 (replicas.max x 4 GPUs per replica must fit pool "serving-h100", maxGpus 16), found 5 (20 GPUs)',
    );
  });

  it("GIVEN the models' replicas.min on one pool above its maxGpus together WHEN validated THEN it is an error at the pool", () => {
    const raw = shipped("aws-dev");
    for (const m of raw.models) m.replicas = { min: 3, max: 3 }; // 3 models x 3 x 1 GPU = 9 > 8
    const [msg] = only(raw, "sovereign:gpuPools[0].maxGpus");
    expect(msg).toContain("expected at least 9");
    expect(msg).toContain("llama-3-1-8b-instruct 3 x 1 + llama-guard-3-1b 3 x 1 + bge-m3 3 x 1");
  });

  it("GIVEN team quotas that together exceed their training pool WHEN validated THEN it is an error naming the teams", () => {
    const raw = shipped("aws-prod");
    raw.teams[2].gpuQuota = { nominal: 20, borrowingLimit: 0 }; // 8 + 8 + 20 = 36 > 32
    const [msg] = only(raw, "sovereign:gpuPools[2].maxGpus");
    expect(msg).toContain("legal 8 + finance 8 + engineering 20");
    expect(msg).toContain("expected at least 36");
  });
});

describe("identity provider URLs", () => {
  it("GIVEN a plain-http OIDC issuer in prod WHEN validated THEN it is an error; in dev it is accepted", () => {
    const raw = shipped("aws-prod");
    raw.gateway.oidc.issuer = "http://login.acme.example/realms/ai";
    expect(only(raw, "sovereign:gateway.oidc.issuer")[0]).toMatch(/^expected an https URL in prod/);
    const dev = shipped("aws-dev");
    dev.gateway.oidc.issuer = "http://login.acme.example/realms/ai";
    expect(issuesOf(dev)).toEqual([]);
  });

  it("GIVEN a Grafana OIDC endpoint over http in prod, or a non-http scheme anywhere WHEN validated THEN each is an error", () => {
    const raw = shipped("aws-prod");
    raw.observability.grafana = {
      oidc: {
        issuer: "https://login.acme.example",
        clientId: "g",
        tokenUrl: "http://login.acme.example/token",
      },
    };
    raw.secrets = { grafanaOidcClientSecret: "s" };
    expect(
      only(raw, "sovereign:observability.grafana.oidc.tokenUrl", { secretKeys: ["secrets"] }),
    ).toHaveLength(1);
    const dev = shipped("aws-dev");
    dev.gateway.oidc.jwksUri = "ftp://login.acme.example/jwks";
    expect(only(dev, "sovereign:gateway.oidc.jwksUri")[0]).toContain("expected an http(s) URL");
  });
});

describe("the kubeconfig path", () => {
  const home = process.env.HOME;
  afterEach(() => {
    process.env.HOME = home;
  });

  it("GIVEN kubeconfig ~/.kube/config that exists WHEN validated THEN it is accepted, and the substrate gets the expanded path", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "home-"));
    fs.mkdirSync(path.join(dir, ".kube"));
    fs.writeFileSync(
      path.join(dir, ".kube", "config"),
      "apiVersion: v1\nkind: Config\ncontexts:\n  - name: kind-sovereign\n    context: { cluster: c, user: u }\n",
    );
    process.env.HOME = dir;
    try {
      const raw = shipped("local");
      raw.substrate.kubeconfig = "~/.kube/config";
      const r = validateConfig(raw);
      expect(r.ok ? [] : r.issues).toEqual([]);
      if (!r.ok) return;
      expect(existingClusterSubstrateArgs(r.config).kubeconfig).toBe(path.join(dir, ".kube", "config"));
      raw.substrate.context = "kind-other";
      expect(only(raw, "sovereign:substrate.context")[0]).toContain(path.join(dir, ".kube", "config"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
