/**
 * Pure policy builders: least-privilege scopes per workload, no wildcard actions ever, key
 * policies without `kms:*`, and the profile-dependent pieces of the cluster and database.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { addonVersions, endpointConfig, kubeconfig } from "../../components/aws/eks";
import { policyDocument, shortPrefix, wildcardActions } from "../../components/aws/common";
import { parameterFamily, protection } from "../../components/aws/database";
import { scopeStatements } from "../../components/aws/identity";
import { controllerStatements, nodePoolSpec, resolvePool } from "../../components/aws/karpenter";
import { KEY_PURPOSES, keyPolicy } from "../../components/aws/keys";
import { dataBucketPolicy } from "../../components/aws/storage";
import fc from "fast-check";
import { flywheelAdapterPrefix, modelServerPrefixes, workloadScopes } from "../../components/lib/scopes";

/** A model server of `base/` serving the adapters legal's and finance's flywheels train on it. */
const MODEL_SERVER = modelServerPrefixes({
  source: "base/",
  loraAdapters: [],
  flywheelAdapters: [
    { team: "legal", adapter: "legal-assistant" },
    { team: "finance", adapter: "finance-assistant" },
  ],
});
import { partitionKey } from "../../gateway/src/capture";
import { EKS_ADDON_VERSIONS } from "../../components/aws/versions";
import { valueOf } from "../helpers/mocks";

const arns = { models: "arn:m", datasets: "arn:d", checkpoints: "arn:c", inferenceLogs: "arn:l" };
const actionsOf = (st: { Action: string | readonly string[] }[]) => st.flatMap((s) => [s.Action].flat());

describe("IAM policy documents", () => {
  it("GIVEN a statement with a wildcard action WHEN a document is built THEN it throws naming the action", () => {
    expect(() => policyDocument([{ Effect: "Allow", Action: "s3:*", Resource: "*" }])).toThrow("s3:*");
    expect(() => policyDocument([{ Effect: "Allow", Action: ["ec2:Describe*"], Resource: "*" }])).toThrow(
      "ec2:Describe*",
    );
    expect(wildcardActions([{ Effect: "Allow", Action: ["s3:GetObject", "*"] }])).toEqual(["*"]);
    // A Deny may use a wildcard (it only takes rights away): the TLS-only bucket statement does.
    expect(wildcardActions([{ Effect: "Deny", Action: "s3:*" }])).toEqual([]);
    expect(() => policyDocument([{ Effect: "Deny", Action: "s3:*", Resource: "*" }])).not.toThrow();
  });

  it("GIVEN every workload kind WHEN scoped THEN statements hold exactly its prefixes and never a wildcard action", () => {
    for (const kind of ["model-server", "gateway", "policy", "training"] as const) {
      const st = scopeStatements(workloadScopes(kind, "research", kind === "model-server" ? ["base/"] : []), {
        bucketArns: arns,
        kmsKeyArn: "arn:key",
        region: "eu-central-1",
      });
      expect(wildcardActions(st)).toEqual([]);
      expect(actionsOf(st)).not.toContain("s3:*");
    }
    const ms = scopeStatements(workloadScopes("model-server", undefined, ["base/"]), {
      bucketArns: arns,
      kmsKeyArn: "arn:key",
      region: "r",
    });
    expect(
      actionsOf(ms)
        .filter((a) => a.startsWith("s3:"))
        .sort(),
    ).toEqual(["s3:GetObject", "s3:GetObjectAttributes", "s3:GetObjectVersion", "s3:ListBucket"].sort());
    expect(ms.find((s) => s.Sid === "BucketKey")!.Action).toEqual(["kms:Decrypt"]);
  });

  it("GIVEN a training job WHEN scoped THEN it reads its team's datasets and writes its team's checkpoints and models only", async () => {
    const st = scopeStatements(workloadScopes("training", "research", ["llama-8b/", "bge-m3"]), {
      bucketArns: arns,
      kmsKeyArn: "k",
      region: "r",
    });
    const objects = st.filter((s) => s.Sid?.startsWith("Objects")) as any[];
    expect(objects).toHaveLength(5);
    // Reads of the models bucket: the team's prefix and the named base models, never the
    // whole bucket (so never another team's adapters).
    const resources = await Promise.all(objects.map((s) => valueOf<string>(s.Resource)));
    const modelReads = resources.filter((r) => r.startsWith(`${arns.models}/`)).sort();
    expect(modelReads).toEqual(
      [`${arns.models}/bge-m3/*`, `${arns.models}/llama-8b/*`, `${arns.models}/teams/research/*`].sort(),
    );
    for (const s of st.filter((x) => x.Sid?.startsWith("List")) as any[])
      if (s.Action.includes("s3:ListBucket")) expect(s.Condition?.StringLike?.["s3:prefix"]).toBeDefined();
    const list = st.filter((s) => s.Sid?.startsWith("List")) as any[];
    expect(list[0].Condition).toEqual({ StringLike: { "s3:prefix": ["teams/research/*"] } });
    const writes = objects.filter((s) => [s.Action].flat().includes("s3:PutObject")).length;
    expect(writes).toBe(2);
    expect(st.find((s) => s.Sid === "BucketKey")!.Action).toEqual(["kms:Decrypt", "kms:GenerateDataKey"]);
  });

  it("GIVEN every IAM role of two teams (and a look-alike) WHEN it reads or lists captures THEN only the team's own flywheel role reaches its own team= partition", async () => {
    const resolve = async (scopes: ReturnType<typeof workloadScopes>) =>
      Promise.all(
        scopeStatements(scopes, { bucketArns: arns, kmsKeyArn: "k", region: "r" }).map(async (st) => ({
          ...st,
          Resource: await valueOf<string>(st.Resource as string),
        })),
      );
    const teams = ["legal", "finance", "legal-2"];
    const roles: [string, Awaited<ReturnType<typeof resolve>>][] = [
      // a model server of base/ whose adapters legal's and finance's flywheels train (not legal-2's)
      ["model-server", await resolve(workloadScopes("model-server", undefined, MODEL_SERVER))],
      ["gateway", await resolve(workloadScopes("gateway"))],
      ["policy", await resolve(workloadScopes("policy"))],
    ];
    for (const t of teams) {
      roles.push([`training:${t}`, await resolve(workloadScopes("training", t, ["base/"]))]);
      roles.push([`flywheel:${t}`, await resolve(workloadScopes("flywheel", t, ["base/"]))]);
    }
    fc.assert(
      fc.property(
        fc.constantFrom(...teams),
        fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,30}$/),
        (team, batch) => {
          // The key the gateway really writes for the team (gateway/src/capture.ts).
          const key = partitionKey("captures/", { ts: "2026-12-05T10:00:00.000Z", team, model: "m" }, batch);
          for (const [who, st] of roles) {
            const own = who === `flywheel:${team}`;
            expect(iamAllows(st, "s3:GetObject", `${arns.inferenceLogs}/${key}`), `${who} reads ${key}`).toBe(
              own,
            );
            expect(
              iamAllows(st, "s3:ListBucket", arns.inferenceLogs, `captures/team=${team}/date=2026-12-05/`),
              `${who} lists`,
            ).toBe(own);
            // Nobody lists captures/ as a whole (which would name every team's objects).
            expect(iamAllows(st, "s3:ListBucket", arns.inferenceLogs, "captures/"), who).toBe(false);
            // Nobody but the team's own flywheel and trainer reads a team's models...
            const otherModels = `${arns.models}/teams/${team}/adapter/w.safetensors`;
            expect(iamAllows(st, "s3:GetObject", otherModels), `${who} reads ${otherModels}`).toBe(
              who === `flywheel:${team}` || who === `training:${team}`,
            );
            // ...but the model server of the base model reads the flywheel adapters trained on it
            // (versions and serving.json), and only those.
            const adapter = `${arns.models}/${flywheelAdapterPrefix(team, `${team}-assistant`)}`;
            const version = `${adapter}v1/adapter/w.safetensors`;
            expect(iamAllows(st, "s3:GetObject", version), `${who} reads ${version}`).toBe(
              who === `flywheel:${team}` || (who === "model-server" && team !== "legal-2"),
            );
            // Only the team's flywheel identity (kit code only) writes the adapter's versions and
            // serving.json, which every replica of the base model loads: never its trainer.
            for (const k of [version, `${adapter}serving.json`])
              for (const action of ["s3:PutObject", "s3:DeleteObject"])
                expect(iamAllows(st, action, k), `${who} ${action} ${k}`).toBe(who === `flywheel:${team}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("GIVEN the Karpenter controller WHEN its EC2 statements are resolved THEN launch, tag and terminate carry the reference policy's conditions with this cluster's values", async () => {
    const st = controllerStatements({
      clusterName: "sovereign-x",
      clusterArn: "arn:c",
      region: "eu-central-1",
      partition: "aws",
      nodeRoleArn: "arn:role",
      queueArn: "arn:q",
      queueKeyArn: "arn:qk",
      ebsKeyArn: "arn:k",
    });
    const resolved = await Promise.all(
      st.map(async (s) => ({ ...s, Resource: await valueOf(pulumi.output(s.Resource as any)) })),
    );
    const ec2Mutating = resolved.filter((s) =>
      [s.Action]
        .flat()
        .some((a) =>
          /^ec2:(RunInstances|CreateFleet|CreateLaunchTemplate|CreateTags|TerminateInstances|DeleteLaunchTemplate)$/.test(
            String(a),
          ),
        ),
    );
    // No mutating EC2 action on "*": every resource is an ARN of this region.
    for (const s of ec2Mutating)
      for (const r of [s.Resource].flat() as string[])
        expect(r, s.Sid).toMatch(/^arn:aws:ec2:eu-central-1:(\*)?:[a-z-]+\/\*$/);
    const bySid = Object.fromEntries(resolved.map((s) => [s.Sid, s]));
    const owned = { "aws:RequestTag/kubernetes.io/cluster/sovereign-x": "owned" };
    // Only images, snapshots, subnets, security groups, templates, spot requests and reservations without tags.
    expect(bySid.LaunchFromExisting.Condition).toBeUndefined();
    expect((bySid.LaunchFromExisting.Resource as string[]).map((r) => r.split(":").pop()).sort()).toEqual([
      "capacity-reservation/*",
      "image/*",
      "launch-template/*",
      "security-group/*",
      "snapshot/*",
      "spot-instances-request/*",
      "subnet/*",
    ]);
    expect([bySid.LaunchFromExisting.Action].flat()).toEqual(["ec2:RunInstances", "ec2:CreateFleet"]);
    // Everything created is tagged as this cluster's and a NodePool's.
    expect(bySid.CreateOwnedCapacity.Condition).toEqual({
      StringEquals: owned,
      StringLike: { "aws:RequestTag/karpenter.sh/nodepool": "*" },
    });
    expect((bySid.CreateOwnedCapacity.Resource as string[]).map((r) => r.split(":").pop()).sort()).toEqual([
      "fleet/*",
      "instance/*",
      "launch-template/*",
      "network-interface/*",
      "volume/*",
    ]);
    // Tags only while creating, with the same tags.
    expect(bySid.TagOnCreate.Action).toEqual(["ec2:CreateTags"]);
    expect(bySid.TagOnCreate.Condition).toEqual({
      StringEquals: { ...owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"] },
      StringLike: { "aws:RequestTag/karpenter.sh/nodepool": "*" },
    });
    // Later tags: only nodeclaim and Name, only on its own NodePool instances.
    expect(bySid.TagOwnedInstances.Condition).toEqual({
      StringEquals: { "aws:ResourceTag/kubernetes.io/cluster/sovereign-x": "owned" },
      StringLike: { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
      "ForAllValues:StringEquals": { "aws:TagKeys": ["karpenter.sh/nodeclaim", "Name"] },
    });
    expect(bySid.TagOwnedInstances.Resource).toBe("arn:aws:ec2:eu-central-1:*:instance/*");
    // Termination: instances and templates owned by this cluster AND tagged by a NodePool at creation.
    expect(bySid.TerminateOwned.Condition).toEqual({
      StringEquals: { "aws:ResourceTag/kubernetes.io/cluster/sovereign-x": "owned" },
      StringLike: { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
    });
    expect(bySid.TerminateOwned.Resource).toEqual([
      "arn:aws:ec2:eu-central-1:*:instance/*",
      "arn:aws:ec2:eu-central-1:*:launch-template/*",
    ]);
    // Only these statements mutate EC2.
    expect(ec2Mutating.map((s) => s.Sid)).toEqual([
      "LaunchFromExisting",
      "CreateOwnedCapacity",
      "TagOnCreate",
      "TagOwnedInstances",
      "TerminateOwned",
    ]);
  });

  it("GIVEN the Karpenter controller WHEN its policy is built THEN actions are explicit and termination is limited to the cluster's instances", () => {
    const st = controllerStatements({
      clusterName: "c",
      clusterArn: "arn:c",
      region: "eu-central-1",
      partition: "aws",
      nodeRoleArn: "arn:role",
      queueArn: "arn:q",
      queueKeyArn: "arn:qk",
      ebsKeyArn: "arn:k",
    });
    expect(wildcardActions(st)).toEqual([]);
    expect(st.find((s) => s.Sid === "TerminateOwned")!.Condition).toEqual({
      StringEquals: { "aws:ResourceTag/kubernetes.io/cluster/c": "owned" },
      StringLike: { "aws:ResourceTag/karpenter.sh/nodepool": "*" },
    });
    expect(st.find((s) => s.Sid === "PassNodeRole")!.Resource).toBe("arn:role");
    // Instance profiles: only those Karpenter created for this cluster, region and a node class.
    const mutating = st.filter((s) =>
      [s.Action]
        .flat()
        .some((a) => /^iam:(Create|Tag|Delete|AddRoleTo|RemoveRoleFrom)InstanceProfile$/.test(String(a))),
    );
    expect(mutating.map((s) => s.Sid)).toEqual([
      "CreateOwnedInstanceProfiles",
      "TagOwnedInstanceProfiles",
      "ManageOwnedInstanceProfiles",
    ]);
    const owned = {
      "kubernetes.io/cluster/c": "owned",
      "topology.kubernetes.io/region": "eu-central-1",
    };
    const tags = (kind: string) =>
      Object.fromEntries(Object.entries(owned).map(([k, v]) => [`aws:${kind}/${k}`, v]));
    expect(mutating[0].Condition).toEqual({
      StringEquals: tags("RequestTag"),
      StringLike: { "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*" },
    });
    expect(mutating[1].Condition).toEqual({
      StringEquals: { ...tags("ResourceTag"), ...tags("RequestTag") },
      StringLike: {
        "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
      },
    });
    expect(mutating[2].Condition).toEqual({
      StringEquals: tags("ResourceTag"),
      StringLike: { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*" },
    });
    expect(st.find((s) => s.Sid === "ReadInstanceProfiles")!.Action).toEqual([
      "iam:GetInstanceProfile",
      "iam:ListInstanceProfiles",
    ]);
  });

  it("GIVEN each key purpose WHEN its key policy is built THEN administration never uses kms:* and use goes through exactly the owning services", () => {
    // EKS secrets encryption calls KMS with the cluster role directly: that key has no kms:ViaService.
    const via: Record<(typeof KEY_PURPOSES)[number], string[] | undefined> = {
      eks: undefined,
      s3: ["s3.eu-central-1.amazonaws.com"],
      rds: ["rds.eu-central-1.amazonaws.com", "secretsmanager.eu-central-1.amazonaws.com"],
      logs: ["logs.eu-central-1.amazonaws.com", "sqs.eu-central-1.amazonaws.com"],
      ebs: ["ec2.eu-central-1.amazonaws.com"],
    };
    expect([...KEY_PURPOSES].sort()).toEqual(Object.keys(via).sort());
    for (const p of KEY_PURPOSES) {
      const st = keyPolicy(p, { accountId: "123456789012", partition: "aws", region: "eu-central-1" });
      expect(wildcardActions(st)).toEqual([]);
      const use = st.find((s) => s.Sid === "UseThroughOwningService")!;
      expect(use.Condition, p).toEqual({
        StringEquals: {
          "kms:CallerAccount": "123456789012",
          ...(via[p] === undefined ? {} : { "kms:ViaService": via[p] }),
        },
      });
    }
  });

  it("GIVEN a data bucket WHEN its policy is built THEN there are TLS-only and KMS-only denies without wildcard actions", () => {
    const st = dataBucketPolicy("arn:aws:s3:::b", "arn:key");
    expect(st.map((s) => s.Sid)).toEqual([
      "DenyInsecureTransport",
      "DenyNonKmsUploads",
      "DenyOtherKmsKeys",
      "DenyKmsWithoutKeyId",
    ]);
    expect(wildcardActions(st)).toEqual([]);
    // Every statement denies everyone; its condition operators and the keys they test.
    const conditionKeys = (c: Record<string, Record<string, unknown>> | undefined) =>
      Object.fromEntries(Object.entries(c ?? {}).map(([op, keys]) => [op, Object.keys(keys)]));
    expect(st.map((s) => [s.Sid, s.Effect, s.Principal, conditionKeys(s.Condition)])).toEqual([
      ["DenyInsecureTransport", "Deny", "*", { Bool: ["aws:SecureTransport"] }],
      ["DenyNonKmsUploads", "Deny", "*", { StringNotEqualsIfExists: ["s3:x-amz-server-side-encryption"] }],
      [
        "DenyOtherKmsKeys",
        "Deny",
        "*",
        { StringNotEqualsIfExists: ["s3:x-amz-server-side-encryption-aws-kms-key-id"] },
      ],
      [
        "DenyKmsWithoutKeyId",
        "Deny",
        "*",
        {
          StringEquals: ["s3:x-amz-server-side-encryption"],
          Null: ["s3:x-amz-server-side-encryption-aws-kms-key-id"],
        },
      ],
    ]);
  });
});

describe("profile-dependent settings", () => {
  it("GIVEN a narrow allowlist is required WHEN the endpoint opens to 0.0.0.0/0 or a /7 THEN it throws; without an allowlist it throws; private by default", () => {
    expect(() => endpointConfig(true, ["0.0.0.0/0"], true)).toThrow('"0.0.0.0/0"');
    expect(() => endpointConfig(true, ["2.0.0.0/7"], true)).toThrow('"2.0.0.0/7"');
    expect(() => endpointConfig(true, [], false)).toThrow("allowlist");
    expect(endpointConfig(false, ["1.2.3.0/24"], true)).toEqual({
      endpointPrivateAccess: true,
      endpointPublicAccess: false,
    });
    expect(endpointConfig(true, ["0.0.0.0/0"], false).endpointPublicAccess).toBe(true);
  });

  it("GIVEN prod and dev WHEN database protection is derived THEN only prod keeps a final snapshot and deletion protection", () => {
    expect(protection(true, "db")).toEqual({
      multiAz: true,
      deletionProtection: true,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: "db-final",
      deleteAutomatedBackups: false,
    });
    expect(protection(false, "db")).toMatchObject({
      deletionProtection: false,
      skipFinalSnapshot: true,
      finalSnapshotIdentifier: undefined,
    });
    expect(parameterFamily("17.2")).toBe("postgres17");
    expect(() => parameterFamily("15")).toThrow('"15"');
  });

  it("GIVEN a Kubernetes version WHEN addons are looked up THEN every addon is pinned (no latest), an unknown version throws", () => {
    for (const v of Object.keys(EKS_ADDON_VERSIONS)) {
      const a = addonVersions(v);
      expect(Object.keys(a).sort()).toEqual([
        "aws-ebs-csi-driver",
        "coredns",
        "eks-pod-identity-agent",
        "kube-proxy",
        "vpc-cni",
      ]);
      for (const ver of Object.values(a)) expect(ver).toMatch(/^v\d+\.\d+\.\d+-eksbuild\.\d+$/);
      expect(a["kube-proxy"].startsWith(`v${v}.`)).toBe(true);
    }
    expect(() => addonVersions("1.20")).toThrow('"1.20"');
  });

  it("GIVEN a cluster WHEN its kubeconfig is built THEN it authenticates through aws eks get-token and holds no credential", () => {
    const k = JSON.parse(
      kubeconfig({ clusterName: "c", endpoint: "https://e", caData: "Y2E=", region: "eu-central-1" }),
    );
    expect(k.users[0].user.exec.args).toEqual([
      "eks",
      "get-token",
      "--cluster-name",
      "c",
      "--region",
      "eu-central-1",
      "--output",
      "json",
    ]);
    expect(JSON.stringify(k)).not.toMatch(/"token"|password|client-key-data/i);
  });

  it("GIVEN long names WHEN a short prefix is made THEN it fits IAM's 38-character namePrefix and ends in '-'", () => {
    const p = shortPrefix("platform-serving-model-llama-3-3-70b-instruct-identity");
    expect(p.length).toBeLessThanOrEqual(38);
    expect(p.endsWith("-")).toBe(true);
  });
});

describe("GPU pools", () => {
  it("GIVEN a pool WHEN resolved THEN the GPU type and GPUs per node come from the catalog", () => {
    const p = resolvePool({
      name: "s",
      purpose: "serving",
      instanceFamilies: ["p5"],
      capacityType: "on-demand",
      maxGpus: 16,
    });
    expect(p).toMatchObject({ gpuType: "nvidia-h100", gpusPerNode: 8, volumeGiB: 200 });
    const spec = nodePoolSpec(p, "s") as any;
    expect(spec.template.spec.requirements).toContainEqual({
      key: "karpenter.k8s.aws/instance-gpu-count",
      operator: "In",
      values: ["8"],
    });
  });

  it("GIVEN bad pools WHEN resolved THEN an unknown family, mixed GPU types, spot serving or a small volume throw", () => {
    const base = { name: "x", purpose: "training" as const, capacityType: "spot" as const, maxGpus: 8 };
    expect(() => resolvePool({ ...base, instanceFamilies: ["x9"] })).toThrow('"x9"');
    expect(() => resolvePool({ ...base, instanceFamilies: ["g6", "g6e"] })).toThrow("nvidia-l4");
    expect(() => resolvePool({ ...base, purpose: "serving", instanceFamilies: ["g6"] })).toThrow('"spot"');
    expect(() => resolvePool({ ...base, instanceFamilies: ["g6"], volumeGiB: 100 })).toThrow("100");
  });
});

/** IAM's Allow evaluation for the statements the kit writes: action, resource glob, s3:prefix StringLike. */
function iamAllows(
  statements: readonly {
    Effect?: string;
    Action: string | readonly string[];
    Resource?: unknown;
    Condition?: any;
  }[],
  action: string,
  resource: string,
  prefix?: string,
): boolean {
  const glob = (pattern: string, value: string) =>
    new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);
  return statements.some((s) => {
    if (s.Effect !== "Allow" || ![s.Action].flat().includes(action)) return false;
    if (!([s.Resource].flat() as string[]).some((r) => glob(r, resource))) return false;
    const like = s.Condition?.StringLike?.["s3:prefix"] as string[] | undefined;
    if (like) return prefix !== undefined && like.some((p) => glob(p, prefix));
    return true;
  });
}
