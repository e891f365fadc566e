import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { ConfigError } from "../../stacks/config/errors";
import { parseConfig, validateConfig } from "../../stacks/config/validate";
import { resolveSettings } from "../../stacks/config/settings";

function shipped(stack: string): Record<string, unknown> {
  return structuredClone(rawFromStackFile(stackFile(stack)).raw);
}

function issuesOf(raw: unknown): { path: string; message: string }[] {
  const r = validateConfig(raw);
  return r.ok ? [] : [...r.issues];
}

describe("stack config validation", () => {
  it("GIVEN every shipped stack WHEN validated THEN it is valid", () => {
    expect(shippedStacks()).toEqual(["aws-dev", "aws-prod", "local"]);
    for (const s of shippedStacks()) {
      const r = validateConfig(shipped(s));
      expect(r.ok ? [] : r.issues, s).toEqual([]);
    }
  });

  it("GIVEN a valid config WHEN parsed THEN schema defaults are applied", () => {
    const c = parseConfig(shipped("aws-dev"));
    expect(c.models[0].enablePrefixCaching).toBe(true);
    expect(c.teams[0].budgets.requestsPerMinute).toBe(600);
    expect(c.network.egress).toBe("nat");
    expect(c.training.cohort).toBe("sovereign");
  });

  it("GIVEN an unknown key, a wrong type and a missing GPU pool WHEN validated THEN one error lists all three with paths", () => {
    const raw = shipped("aws-prod");
    raw.colour = "blue";
    (raw.models as Record<string, unknown>[])[0].gpusPerReplica = "four";
    (raw.models as Record<string, unknown>[])[1].pool = "serving-a100";
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    try {
      parseConfig(raw);
    } catch (e) {
      const err = e as ConfigError;
      expect(err.issues.map((i) => i.path)).toEqual([
        "sovereign:models[0].gpusPerReplica",
        "sovereign:colour",
        "sovereign:models[1].pool",
      ]);
      expect(err.message).toContain('expected number, found "four"');
      expect(err.message).toContain('found "serving-a100"');
      expect(err.message).toMatch(/3 problems/);
    }
  });

  it("GIVEN a typo in a nested key WHEN validated THEN the error suggests the right key", () => {
    const raw = shipped("local");
    const team = (raw.teams as Record<string, unknown>[])[0];
    team.oidcGroupp = team.oidcGroup;
    delete team.oidcGroup;
    const issues = issuesOf(raw);
    expect(issues).toContainEqual(
      expect.objectContaining({
        path: "sovereign:teams[0].oidcGroupp",
        message: expect.stringContaining('did you mean "oidcGroup"'),
      }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: "sovereign:teams[0].oidcGroup" }));
  });

  it("GIVEN a mistyped substrate kind WHEN validated THEN one error names the path, the value, the allowed kinds and the near miss", () => {
    const raw = shipped("local");
    (raw.substrate as Record<string, unknown>).kind = "existing_cluster";
    expect(() => parseConfig(raw)).toThrow(
      'sovereign:substrate.kind: expected one of "aws", "existing-cluster" (did you mean "existing-cluster"?), found "existing_cluster"',
    );
    expect(issuesOf(raw)).toHaveLength(1);
    // No near miss, no hint; not a string at all, named as what it is.
    (raw.substrate as Record<string, unknown>).kind = "gcp";
    expect(issuesOf(raw)).toEqual([
      { path: "sovereign:substrate.kind", message: 'expected one of "aws", "existing-cluster", found "gcp"' },
    ]);
    delete (raw.substrate as Record<string, unknown>).kind;
    expect(issuesOf(raw)).toEqual([
      {
        path: "sovereign:substrate.kind",
        message: 'expected one of "aws", "existing-cluster", found nothing',
      },
    ]);
  });

  it("GIVEN missing required sections WHEN validated THEN each is reported", () => {
    const raw = shipped("local");
    delete raw.teams;
    delete raw.profile;
    const paths = issuesOf(raw).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["sovereign:teams", "sovereign:profile"]));
  });

  it.each([
    [
      "tensor parallelism that does not divide the GPUs",
      (r: any) => {
        r.models[0].gpusPerReplica = 4;
        r.models[0].tensorParallelSize = 3;
      },
      "sovereign:models[0].tensorParallelSize",
    ],
    [
      "a model larger than its pool's instances",
      (r: any) => {
        r.models[1].gpusPerReplica = 16;
      },
      "sovereign:models[1].gpusPerReplica",
    ],
    [
      "an unknown quantization",
      (r: any) => {
        r.models[0].quantization = "int3";
      },
      "sovereign:models[0].quantization",
    ],
    [
      "a team naming a missing model",
      (r: any) => {
        r.teams[0].allowedModels.push("gpt-9");
      },
      "sovereign:teams[0].allowedModels[3]",
    ],
    [
      "duplicate team names",
      (r: any) => {
        r.teams[1].name = r.teams[0].name;
      },
      "sovereign:teams[1].name",
    ],
    [
      "an empty OIDC group",
      (r: any) => {
        r.teams[0].oidcGroup = "";
      },
      "sovereign:teams[0].oidcGroup",
    ],
    [
      "a team quota above the training pools",
      (r: any) => {
        r.teams[0].gpuQuota = { nominal: 30, borrowingLimit: 8 };
      },
      "sovereign:teams[0].gpuQuota",
    ],
    [
      "an unknown GPU instance family",
      (r: any) => {
        r.gpuPools[0].instanceFamilies = ["x9"];
      },
      "sovereign:gpuPools[0].instanceFamilies[0]",
    ],
    [
      "max below min",
      (r: any) => {
        r.models[0].replicas = { min: 3, max: 1 };
      },
      "sovereign:models[0].replicas.max",
    ],
    [
      "a public endpoint open to the world in prod",
      (r: any) => {
        r.eks.endpointPublicAccess = true;
        r.eks.publicAccessCidrs = ["0.0.0.0/0"];
      },
      "sovereign:eks.publicAccessCidrs[0]",
    ],
    [
      "fewer AZs than prod needs",
      (r: any) => {
        r.network.azCount = 2;
      },
      "sovereign:network.azCount",
    ],
    [
      "an invalid VPC CIDR",
      (r: any) => {
        r.network.cidr = "10.300.0.0/16";
      },
      "sovereign:network.cidr",
    ],
    [
      "a bucket prefix that is not DNS-compatible",
      (r: any) => {
        r.storage.bucketPrefix = "Acme_AI";
      },
      "sovereign:storage.bucketPrefix",
    ],
    [
      "a guard model that is not a guard",
      (r: any) => {
        r.policy.guardModel = "bge-m3";
      },
      "sovereign:policy.guardModel",
    ],
    [
      "an image tagged latest",
      (r: any) => {
        r.images = { vllm: "vllm/vllm-openai:latest" };
      },
      "sovereign:images.vllm",
    ],
    [
      "scale to zero in prod",
      (r: any) => {
        r.models[0].replicas = { min: 0, max: 2 };
      },
      "sovereign:models[0].replicas.min",
    ],
    [
      "an OIDC group that is a Kubernetes system group (the team's Role would go to every signed-in user)",
      (r: any) => {
        r.teams[0].oidcGroup = "system:authenticated";
      },
      "sovereign:teams[0].oidcGroup",
    ],
    [
      "a Kubernetes group that is a system group",
      (r: any) => {
        r.teams[0].kubernetesGroup = "system:serviceaccounts";
      },
      "sovereign:teams[0].kubernetesGroup",
    ],
    [
      "a Kubernetes group another team has by its OIDC group",
      (r: any) => {
        r.teams[1].kubernetesGroup = r.teams[0].oidcGroup;
      },
      "sovereign:teams[1].kubernetesGroup",
    ],
    [
      "a Kubernetes group with a trailing space",
      (r: any) => {
        r.teams[0].kubernetesGroup = "oidc:legal ";
      },
      "sovereign:teams[0].kubernetesGroup",
    ],
    [
      "a blank Kubernetes group",
      (r: any) => {
        r.teams[0].kubernetesGroup = "  ";
      },
      "sovereign:teams[0].kubernetesGroup",
    ],
    [
      "spot capacity for serving",
      (r: any) => {
        r.gpuPools[0].capacityType = "spot";
      },
      "sovereign:gpuPools[0].capacityType",
    ],
  ])("GIVEN %s WHEN validated THEN it is reported at its path", (_what, mutate, expectedPath) => {
    const raw = shipped("aws-prod");
    mutate(raw);
    const issues = issuesOf(raw);
    expect(issues.map((i) => i.path)).toContain(expectedPath);
    for (const i of issues) expect(i.message).toMatch(/expected .+/);
  });

  it("GIVEN database.iamAuth false in prod on aws WHEN validated THEN static passwords are refused; in dev it is an explicit opt-out, and unset means IAM tokens on every aws profile", () => {
    for (const stack of ["aws-dev", "aws-prod"]) {
      const raw = shipped(stack);
      expect((raw.database as Record<string, unknown> | undefined)?.iamAuth, stack).toBeUndefined();
      expect(resolveSettings(parseConfig(raw)).database.iamAuth, stack).toBe(true);
    }
    const prod = shipped("aws-prod");
    prod.database = { ...(prod.database as object), iamAuth: false };
    expect(issuesOf(prod)).toEqual([
      {
        path: "sovereign:database.iamAuth",
        message:
          'expected true in profile "prod" (services log in to RDS with IAM tokens; no static passwords in prod), found false',
      },
    ]);
    const dev = shipped("aws-dev");
    for (const iamAuth of [true, false]) {
      dev.database = { ...(dev.database as object), iamAuth };
      expect(issuesOf(dev), String(iamAuth)).toEqual([]);
    }
    const local = shipped("local");
    local.database = { ...(local.database as object), iamAuth: true };
    expect(issuesOf(local).map((i) => i.path)).toEqual(["sovereign:database.iamAuth"]);
  });

  it("GIVEN secrets set in plain text WHEN validated THEN it is an error; set with --secret THEN it is accepted", () => {
    const raw = shipped("local");
    raw.secrets = { grafanaOidcClientSecret: "s3cr3t" };
    expect(issuesOf(raw).map((i) => i.path)).toEqual(["sovereign:secrets"]);
    expect(validateConfig(raw, { secretKeys: ["secrets"] }).ok).toBe(true);
  });

  it("GIVEN the check-config CLI WHEN a config has mistakes THEN it exits 1 with every problem and no stack trace", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sov-cfg-"));
    const doc = parseYaml(fs.readFileSync(stackFile("aws-prod"), "utf8")) as { config: Record<string, any> };
    doc.config["sovereign:colour"] = "blue";
    doc.config["sovereign:models"][0].gpusPerReplica = "four";
    doc.config["sovereign:models"][1].pool = "serving-a100";
    const file = path.join(dir, "Pulumi.bad.yaml");
    fs.writeFileSync(file, JSON.stringify(doc));
    const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/check-config.ts", file], {
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("3 problems");
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    const ok = spawnSync(process.execPath, ["--import", "tsx", "scripts/check-config.ts", "local"], {
      encoding: "utf8",
    });
    expect(ok.status).toBe(0);
  });

  it("GIVEN the check-config CLI WHEN given a second argument THEN it is refused in one line, exit 2, not ignored", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/check-config.ts", "local", "extra"], {
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe('check-config: unexpected argument "extra" (one stack at a time)');
    expect(r.stdout).toBe("");
  });
});
