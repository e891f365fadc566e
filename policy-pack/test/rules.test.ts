/**
 * Each rule of sovereign-baseline with a compliant and a non-compliant resource. A violation
 * must name the rule id, quote what is wrong, and say how to fix it.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { describe, expect, it } from "vitest";
import { parseImage } from "../lib";
import { RESOURCE_POLICIES, RULES } from "../policies";
import { allowedImages } from "../rules/allowed-images";
import { cmkEncryption } from "../rules/cmk-encryption";
import { controlPlaneLogs } from "../rules/control-plane-logs";
import { gpuThroughKueue } from "../rules/gpu-through-kueue";
import { imdsv2Required } from "../rules/imdsv2-required";
import { noOpenIngress } from "../rules/no-open-ingress";
import { noPublicBuckets } from "../rules/no-public-buckets";
import { noPublicDatabases } from "../rules/no-public-databases";
import { privateEksEndpoint } from "../rules/private-eks-endpoint";
import { prodDataProtection } from "../rules/prod-data-protection";
import { regionAllowlist } from "../rules/region-allowlist";
import { requiredTags } from "../rules/required-tags";
import { s3BucketBaseline } from "../rules/s3-bucket-baseline";
import { s3TlsOnly } from "../rules/s3-tls-only";
import { type FakeResource, validateStackWith, validateWith } from "./harness";

const KEY = "arn:aws:kms:eu-central-1:123456789012:key/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab";
const TAGS = { owner: "platform-team", "cost-center": "cc-1000", "data-classification": "confidential" };
const PROD = { profile: "prod" };
const DEV = { profile: "dev" };
const ECR = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";

/** A Helm release whose values set images. */
const release = (values: Record<string, unknown>): FakeResource => ({
  type: "kubernetes:helm.sh/v3:Release",
  name: "monitoring-stack",
  props: { chart: "kube-prometheus-stack", values },
});

const rds = (over: Record<string, unknown> = {}, protect = true): FakeResource => ({
  type: "aws:rds/instance:Instance",
  name: "platform-db",
  props: {
    engine: "postgres",
    engineVersion: "16",
    storageEncrypted: true,
    kmsKeyId: KEY,
    publiclyAccessible: false,
    deletionProtection: true,
    skipFinalSnapshot: false,
    finalSnapshotIdentifier: "platform-db-final",
    tags: TAGS,
    ...over,
  },
  opts: { protect },
});

const eks = (vpcConfig: Record<string, unknown>, over: Record<string, unknown> = {}): FakeResource => ({
  type: "aws:eks/cluster:Cluster",
  name: "platform-cluster",
  props: {
    version: "1.33",
    vpcConfig: { subnetIds: ["subnet-1", "subnet-2"], ...vpcConfig },
    enabledClusterLogTypes: ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    encryptionConfig: { provider: { keyArn: KEY }, resources: ["secrets"] },
    tags: TAGS,
    ...over,
  },
});

const job = (labels: Record<string, string>, image: string, gpus?: number): FakeResource => ({
  type: "kubernetes:batch/v1:Job",
  name: "legal-finetune",
  props: {
    metadata: { name: "legal-finetune", namespace: "team-legal", labels },
    spec: {
      template: {
        metadata: { labels: { team: "legal" } },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "trainer",
              image,
              resources: gpus ? { limits: { "nvidia.com/gpu": String(gpus) } } : { limits: { cpu: "2" } },
            },
          ],
        },
      },
    },
  },
});

interface Case {
  readonly policy: ResourceValidationPolicy;
  readonly good: FakeResource[];
  readonly bad: FakeResource[];
  readonly config?: Record<string, unknown>;
  /** Words the fix must contain. */
  readonly fix: string;
}

const CASES: Case[] = [
  {
    policy: cmkEncryption,
    good: [
      rds(),
      eks({ endpointPublicAccess: false, endpointPrivateAccess: true }),
      { type: "aws:kms/key:Key", name: "data-key", props: { enableKeyRotation: true, tags: TAGS } },
      {
        type: "aws:cloudwatch/logGroup:LogGroup",
        name: "eks-logs",
        props: { kmsKeyId: KEY, retentionInDays: 90 },
      },
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: {
          blockDeviceMappings: [
            { deviceName: "/dev/xvda", ebs: { encrypted: "true", kmsKeyId: KEY, volumeSize: 200 } },
          ],
        },
      },
    ],
    bad: [
      rds({ storageEncrypted: false }),
      rds({ kmsKeyId: undefined }),
      eks({}, { encryptionConfig: undefined }),
      { type: "aws:kms/key:Key", name: "data-key", props: { enableKeyRotation: false } },
      { type: "aws:sqs/queue:Queue", name: "interruptions", props: { sqsManagedSseEnabled: true } },
      { type: "aws:cloudwatch/logGroup:LogGroup", name: "eks-logs", props: { retentionInDays: 90 } },
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: {
          blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "false", volumeSize: 200 } }],
        },
      },
    ],
    fix: "key",
  },
  {
    policy: noPublicBuckets,
    good: [
      {
        type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        name: "models-pab",
        props: {
          bucket: "acme-models",
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
      },
      {
        type: "aws:s3/bucketPolicy:BucketPolicy",
        name: "models-tls-only",
        props: {
          bucket: "acme-models",
          policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: "*",
                Condition: { Bool: { "aws:SecureTransport": "false" } },
              },
            ],
          }),
        },
      },
    ],
    bad: [
      { type: "aws:s3/bucket:Bucket", name: "models", props: { bucket: "acme-models", acl: "public-read" } },
      {
        type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        name: "models-pab",
        props: {
          bucket: "acme-models",
          blockPublicAcls: true,
          blockPublicPolicy: false,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
      },
      {
        type: "aws:s3/bucketPolicy:BucketPolicy",
        name: "models-open",
        props: {
          bucket: "acme-models",
          policy: {
            Statement: [
              {
                Effect: "Allow",
                Principal: { AWS: "*" },
                Action: "s3:GetObject",
                Resource: "arn:aws:s3:::acme-models/*",
              },
            ],
          },
        },
      },
      {
        type: "aws:s3/bucketAcl:BucketAcl",
        name: "models-acl",
        props: {
          bucket: "acme-models",
          accessControlPolicy: {
            grants: [
              {
                permission: "READ",
                grantee: { type: "Group", uri: "http://acs.amazonaws.com/groups/global/AllUsers" },
              },
            ],
          },
        },
      },
    ],
    fix: "",
  },
  {
    policy: noPublicDatabases,
    good: [
      rds(),
      {
        type: "kubernetes:core/v1:Service",
        name: "pg",
        props: { spec: { type: "ClusterIP", ports: [{ port: 5432 }] } },
      },
    ],
    bad: [
      rds({ publiclyAccessible: true }),
      {
        type: "kubernetes:core/v1:Service",
        name: "pg-lb",
        props: { spec: { type: "LoadBalancer", ports: [{ port: 5432, targetPort: 5432 }] } },
      },
    ],
    fix: "",
  },
  {
    policy: noOpenIngress,
    config: { publicLoadBalancer: true },
    good: [
      {
        type: "aws:ec2/securityGroup:SecurityGroup",
        name: "nodes",
        props: {
          ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.50.0.0/16"] }],
          tags: TAGS,
        },
      },
      {
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "gateway-lb-https",
        props: {
          ipProtocol: "tcp",
          fromPort: 443,
          toPort: 443,
          cidrIpv4: "0.0.0.0/0",
          tags: { "sovereign:public-listener": "true" },
        },
      },
      {
        type: "kubernetes:core/v1:Service",
        name: "gateway-internal",
        props: {
          metadata: { annotations: { "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal" } },
          spec: { type: "LoadBalancer", ports: [{ port: 443 }] },
        },
      },
    ],
    bad: [
      {
        type: "aws:ec2/securityGroup:SecurityGroup",
        name: "nodes",
        props: { ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }] },
      },
      {
        // Open, on the listener port, but not marked as the listener.
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "gateway-lb-https",
        props: { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" },
      },
      {
        // Marked, but opens SSH.
        type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name: "gateway-lb-ssh",
        props: {
          ipProtocol: "tcp",
          fromPort: 22,
          toPort: 22,
          cidrIpv4: "0.0.0.0/0",
          tags: { "sovereign:public-listener": "true" },
        },
      },
      {
        type: "aws:ec2/securityGroupRule:SecurityGroupRule",
        name: "any",
        props: { type: "ingress", fromPort: 0, toPort: 65535, ipv6CidrBlocks: ["::/0"] },
      },
      {
        type: "kubernetes:core/v1:Service",
        name: "gateway-lb",
        props: { spec: { type: "LoadBalancer", ports: [{ port: 443 }] } },
      },
    ],
    fix: "publicLoadBalancer",
  },
  {
    policy: imdsv2Required,
    good: [
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } },
      },
      {
        type: "aws:eks/nodeGroup:NodeGroup",
        name: "gpu-ng",
        props: { launchTemplate: { id: "lt-123", version: "1" } },
      },
    ],
    bad: [
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: { metadataOptions: { httpTokens: "optional" } },
      },
      { type: "aws:ec2/instance:Instance", name: "bastion", props: {} },
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 5 } },
      },
      { type: "aws:eks/nodeGroup:NodeGroup", name: "gpu-ng", props: {} },
    ],
    fix: "httpTokens",
  },
  {
    policy: privateEksEndpoint,
    config: PROD,
    good: [eks({ endpointPublicAccess: false, endpointPrivateAccess: true })],
    bad: [
      eks({}),
      eks({ endpointPublicAccess: true, endpointPrivateAccess: true, publicAccessCidrs: ["203.0.113.0/24"] }),
    ],
    fix: "endpointPublicAccess: false",
  },
  {
    policy: privateEksEndpoint,
    config: DEV,
    good: [
      eks({ endpointPublicAccess: true, endpointPrivateAccess: true, publicAccessCidrs: ["203.0.113.0/24"] }),
    ],
    bad: [eks({ endpointPublicAccess: true }), eks({ publicAccessCidrs: ["0.0.0.0/0"] })],
    fix: "publicAccessCidrs",
  },
  {
    policy: controlPlaneLogs,
    good: [eks({ endpointPublicAccess: false })],
    bad: [eks({}, { enabledClusterLogTypes: ["api"] }), eks({}, { enabledClusterLogTypes: undefined })],
    fix: "enabledClusterLogTypes",
  },
  {
    policy: prodDataProtection,
    config: PROD,
    good: [
      rds(),
      {
        type: "aws:s3/bucket:Bucket",
        name: "models",
        props: { bucket: "acme-models", forceDestroy: false },
        opts: { protect: true },
      },
      {
        type: "aws:kms/key:Key",
        name: "data-key",
        props: { enableKeyRotation: true },
        opts: { protect: true },
      },
    ],
    bad: [
      rds({}, false),
      rds({ deletionProtection: false }),
      rds({ skipFinalSnapshot: true }),
      rds({ finalSnapshotIdentifier: undefined }),
      {
        type: "aws:s3/bucket:Bucket",
        name: "models",
        props: { bucket: "acme-models", forceDestroy: true },
        opts: { protect: true },
      },
      { type: "kubernetes:postgresql.cnpg.io/v1:Cluster", name: "pg", props: { spec: { instances: 3 } } },
    ],
    fix: "",
  },
  {
    policy: regionAllowlist,
    config: { allowedRegions: ["eu-central-1"] },
    good: [
      { type: "pulumi:providers:aws", name: "aws", props: { region: "eu-central-1" } },
      {
        type: "aws:s3/bucket:Bucket",
        name: "models",
        props: {},
        provider: {
          type: "pulumi:providers:aws",
          name: "aws",
          urn: "urn:p",
          props: { region: "eu-central-1" },
        },
      },
    ],
    bad: [
      { type: "pulumi:providers:aws", name: "aws-us", props: { region: "us-east-1" } },
      { type: "aws:s3/bucket:Bucket", name: "replica", props: { region: "us-west-2" } },
      {
        type: "aws:s3/bucket:Bucket",
        name: "models",
        props: {},
        provider: {
          type: "pulumi:providers:aws",
          name: "aws",
          urn: "urn:p",
          props: { region: "ap-south-1" },
        },
      },
    ],
    fix: "allowedRegions",
  },
  {
    policy: requiredTags,
    good: [
      rds(),
      {
        type: "aws:ec2/vpc:Vpc",
        name: "vpc",
        props: { cidrBlock: "10.50.0.0/16" },
        provider: {
          type: "pulumi:providers:aws",
          name: "aws",
          urn: "urn:p",
          props: { defaultTags: { tags: TAGS } },
        },
      },
    ],
    bad: [
      rds({ tags: { owner: "platform-team" } }),
      { type: "aws:ec2/vpc:Vpc", name: "vpc", props: { cidrBlock: "10.50.0.0/16" } },
    ],
    fix: "tags",
  },
  {
    policy: allowedImages,
    config: { allowedRegistries: [ECR, "docker.io"] },
    good: [
      job({}, `${ECR}/trainer:1.4.2`),
      job({}, "docker.io/vllm/vllm-openai@sha256:" + "a".repeat(64)),
      job({}, "busybox:1.36"),
      release({
        image: { registry: `${ECR}/quay`, repository: "prometheus/prometheus", tag: "v3.6.0" },
        controller: { image: { repository: `${ECR}/ecr-public/karpenter/controller`, tag: "1.8.1" } },
        global: { registry: "docker.io", imageName: "chrislusf/seaweedfs" },
        sidecar: { image: "busybox:1.36" },
        // not image settings: a release name and an empty override
        nameOverride: "repository",
        other: { repository: "" },
      }),
    ],
    bad: [
      job({}, "ghcr.io/evil/miner:1.0"),
      job({}, `${ECR}/trainer:latest`),
      job({}, `${ECR}/trainer`),
      release({ image: { registry: "quay.io", repository: "prometheus/prometheus", tag: "v3.6.0" } }),
      release({ grafana: { sidecar: { image: { repository: "quay.io/kiwigrid/k8s-sidecar" } } } }),
      release({
        image: {
          repository: `${ECR}/docker-hub/openpolicyagent/gatekeeper`,
          crdRepository: "ghcr.io/evil/crds",
        },
      }),
      release({ global: { registry: "ghcr.io", imageName: "evil/miner" } }),
      release({ cosi: { image: "gcr.io/k8s-staging-sig-storage/objectstorage-sidecar:v1" } }),
    ],
    fix: "",
  },
  {
    policy: gpuThroughKueue,
    good: [
      job({ "kueue.x-k8s.io/queue-name": "legal" }, `${ECR}/trainer:1.4.2`, 8),
      job({}, `${ECR}/tool:1`),
    ],
    bad: [
      job({}, `${ECR}/trainer:1.4.2`, 8),
      {
        type: "kubernetes:apps/v1:Deployment",
        name: "rogue-vllm",
        props: {
          spec: {
            template: {
              spec: {
                containers: [
                  { name: "vllm", image: "x:1", resources: { requests: { "nvidia.com/gpu": 1 } } },
                ],
              },
            },
          },
        },
      },
    ],
    fix: "kueue.x-k8s.io/queue-name",
  },
];

describe("sovereign-baseline rules", () => {
  for (const c of CASES) {
    const cfg = c.config ? ` (config ${JSON.stringify(c.config)})` : "";
    it(`GIVEN compliant resources WHEN ${c.policy.name} validates them${cfg} THEN there is no violation`, async () => {
      for (const r of c.good)
        expect(await validateWith(c.policy, r, c.config), `${r.type} ${r.name}`).toEqual([]);
    });

    it(`GIVEN non-compliant resources WHEN ${c.policy.name} validates them${cfg} THEN each violation names the rule, the bad value and the fix`, async () => {
      for (const r of c.bad) {
        const messages = await validateWith(c.policy, r, c.config);
        expect(messages.length, `${r.type} ${r.name}: ${JSON.stringify(r.props)}`).toBeGreaterThan(0);
        for (const m of messages) {
          expect(m.startsWith(`${c.policy.name}: `), m).toBe(true);
          expect(m, m).toContain(r.name);
          expect(m).toMatch(/\. Fix: .{10,}\.$/);
        }
        if (c.fix) expect(messages.join("\n")).toContain(c.fix);
      }
    });
  }

  it("GIVEN every resource rule WHEN the cases are listed THEN each rule has compliant and non-compliant cases", () => {
    const covered = new Set(
      CASES.filter((c) => c.good.length > 0 && c.bad.length > 0).map((c) => c.policy.name),
    );
    expect([...covered].sort()).toEqual(RESOURCE_POLICIES.map((p) => p.name).sort());
  });
});

describe("s3-bucket-baseline (stack rule)", () => {
  const bucket: FakeResource = {
    type: "aws:s3/bucket:Bucket",
    name: "models",
    urn: "urn:bucket",
    props: { bucket: "acme-models" },
  };
  const pab: FakeResource = {
    type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    name: "models-pab",
    props: {
      bucket: "models-id-1",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    dependsOn: ["urn:bucket"],
  };
  const sse: FakeResource = {
    type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    name: "models-sse",
    // Attached by bucket name, with no recorded dependency.
    props: {
      bucket: "acme-models",
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY } }],
    },
  };

  it("GIVEN a bucket with its public access block and KMS encryption WHEN validated THEN there is no violation", async () => {
    expect(await validateStackWith(s3BucketBaseline, [bucket, pab, sse])).toEqual([]);
  });

  it("GIVEN a bucket encrypted with AES256 WHEN validated THEN the SSE-S3 default is reported with the KMS fix", async () => {
    const aes: FakeResource = {
      ...sse,
      urn: "urn:sse",
      props: {
        bucket: "acme-models",
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
      },
    };
    const v = await validateStackWith(s3BucketBaseline, [bucket, pab, aes]);
    expect(v).toEqual([
      {
        policy: "s3-bucket-baseline",
        urn: "urn:sse",
        message:
          's3-bucket-baseline: bucket "models" is encrypted with "AES256", not aws:kms. Fix: set applyServerSideEncryptionByDefault to { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }.',
      },
    ]);
  });

  it("GIVEN the server-access-log target bucket WHEN it uses SSE-S3 THEN it is accepted, and KMS on it is reported (AWS cannot deliver logs there)", async () => {
    const logs: FakeResource = {
      type: "aws:s3/bucket:Bucket",
      name: "access-logs",
      urn: "urn:logs",
      props: { bucket: "acme-logs" },
    };
    const logsPab: FakeResource = { ...pab, name: "access-logs-pab", dependsOn: ["urn:logs"] };
    // As recorded under mocks: both inputs are the target bucket's id.
    const logsSse = (algorithm: string): FakeResource => ({
      type: sse.type,
      name: "access-logs-sse",
      urn: "urn:logs-sse",
      props: {
        bucket: "access-logs-id-4",
        rules: [
          {
            applyServerSideEncryptionByDefault: {
              sseAlgorithm: algorithm,
              kmsMasterKeyId: algorithm === "AES256" ? undefined : KEY,
            },
          },
        ],
      },
      dependsOn: ["urn:logs"],
    });
    const logging: FakeResource = {
      type: "aws:s3/bucketLogging:BucketLogging",
      name: "models-logging",
      props: { bucket: "models-id-1", targetBucket: "access-logs-id-4", targetPrefix: "models/" },
      dependsOn: ["urn:bucket", "urn:logs"],
    };
    expect(
      await validateStackWith(s3BucketBaseline, [
        bucket,
        pab,
        sse,
        logs,
        logsPab,
        logsSse("AES256"),
        logging,
      ]),
    ).toEqual([]);
    const v = await validateStackWith(s3BucketBaseline, [
      bucket,
      pab,
      sse,
      logs,
      logsPab,
      logsSse("aws:kms"),
      logging,
    ]);
    expect(v.map((x) => x.message)).toEqual([
      's3-bucket-baseline: bucket "access-logs" is an access-log target with "aws:kms". Fix: use sseAlgorithm "AES256" (S3 server access logging cannot deliver to SSE-KMS buckets).',
    ]);
    // Without the logging link, the same SSE-S3 bucket is an ordinary bucket and must use KMS.
    const alone = await validateStackWith(s3BucketBaseline, [logs, logsPab, logsSse("AES256")]);
    expect(alone.map((x) => x.message.split(". Fix:")[0])).toEqual([
      's3-bucket-baseline: bucket "access-logs" is encrypted with "AES256", not aws:kms',
    ]);
  });

  it("GIVEN a bucket without companions WHEN validated THEN both are reported against the bucket with a fix", async () => {
    const v = await validateStackWith(s3BucketBaseline, [
      bucket,
      { ...sse, props: { ...sse.props, bucket: "other" } },
    ]);
    expect(v.map((x) => x.urn)).toEqual(["urn:bucket", "urn:bucket"]);
    expect(v[0].message).toMatch(
      /^s3-bucket-baseline: bucket "models" has no BucketPublicAccessBlock\. Fix: add aws\.s3\.BucketPublicAccessBlock/,
    );
    expect(v[1].message).toContain('sseAlgorithm "aws:kms"');
  });
});

describe("image reference parsing", () => {
  it("GIVEN image references WHEN parsed THEN registry, tag and digest are what a container runtime uses", () => {
    expect(parseImage("busybox")).toEqual({
      registry: "docker.io",
      repository: "busybox",
      tag: undefined,
      digest: undefined,
    });
    expect(parseImage("vllm/vllm-openai:v0.11.0")).toMatchObject({ registry: "docker.io", tag: "v0.11.0" });
    expect(parseImage("localhost:5000/a/b:1")).toMatchObject({
      registry: "localhost:5000",
      repository: "a/b",
      tag: "1",
    });
    expect(parseImage(`${ECR}/x@sha256:${"b".repeat(64)}`)).toMatchObject({
      registry: ECR,
      tag: undefined,
      digest: `sha256:${"b".repeat(64)}`,
    });
  });
});

/** The models bucket (BucketV2), as the kit creates it. */
const MODELS_BUCKET: FakeResource = {
  type: "aws:s3/bucketV2:BucketV2",
  name: "models",
  urn: "urn:bucket",
  props: { bucket: "acme-models" },
};
/** The statement s3-tls-only asks for: deny s3:* over plain HTTP on the bucket and its objects. */
const TLS_ONLY = {
  Sid: "DenyInsecureTransport",
  Effect: "Deny",
  Principal: "*",
  Action: "s3:*",
  Resource: ["arn:aws:s3:::acme-models", "arn:aws:s3:::acme-models/*"],
  Condition: { Bool: { "aws:SecureTransport": false } },
};
/** The models bucket's policy with one statement. */
const modelsPolicy = (statement: Record<string, unknown>): FakeResource => ({
  type: "aws:s3/bucketPolicy:BucketPolicy",
  name: "models-policy",
  props: { bucket: "acme-models", policy: JSON.stringify({ Version: "2012-10-17", Statement: [statement] }) },
});

describe("s3-tls-only (stack rule)", () => {
  it("GIVEN a bucket policy denying s3:* over HTTP on the bucket and its objects WHEN validated THEN there is no violation", async () => {
    expect(await validateStackWith(s3TlsOnly, [MODELS_BUCKET, modelsPolicy(TLS_ONLY)])).toEqual([]);
  });

  it.each([
    [
      "the 64 listed actions instead of s3:*",
      { Action: ["s3:GetObject", "s3:PutObject"] },
      'actions ["s3:GetObject","s3:PutObject"] (not s3:*)',
    ],
    ["an Allow", { Effect: "Allow" }, 'effect "Allow"'],
    ["the condition's value true", { Condition: { Bool: { "aws:SecureTransport": true } } }, "condition"],
    ["only the bucket ARN", { Resource: ["arn:aws:s3:::acme-models"] }, "need the bucket and its objects"],
    ["one principal", { Principal: { AWS: "arn:aws:iam::123456789012:root" } }, "principal"],
  ])(
    "GIVEN %s WHEN validated THEN the bucket is reported with the value found",
    async (_what, change, found) => {
      const v = await validateStackWith(s3TlsOnly, [MODELS_BUCKET, modelsPolicy({ ...TLS_ONLY, ...change })]);
      expect(v).toHaveLength(1);
      expect(v[0]).toMatchObject({ policy: "s3-tls-only", urn: "urn:bucket" });
      expect(v[0].message).toContain(found);
    },
  );

  it("GIVEN a bucket without a policy WHEN validated THEN it is reported", async () => {
    const v = await validateStackWith(s3TlsOnly, [MODELS_BUCKET]);
    expect(v.map((x) => x.message)).toEqual([
      expect.stringContaining('s3-tls-only: bucket "models" allows plain HTTP: no such statement'),
    ]);
  });
});

// ---------------------------------------------------------------------------------------
// Values, not keys: each rule is given the key it looks for, holding a wrong value
// ---------------------------------------------------------------------------------------

const bucketStack = (sse: Record<string, unknown>, statement: Record<string, unknown>): FakeResource[] => [
  MODELS_BUCKET,
  {
    type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    name: "models-pab",
    props: {
      bucket: "acme-models",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
  },
  {
    type: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    name: "models-sse",
    props: { bucket: "acme-models", rules: [{ applyServerSideEncryptionByDefault: sse }] },
  },
  modelsPolicy({ ...TLS_ONLY, ...statement }),
];

const SG = "aws:ec2/securityGroup:SecurityGroup";
const GPU_POD = (labels: Record<string, string>) => job(labels, `${ECR}/trainer:1.2.3`, 1);

/**
 * Per rule: a resource that has every key the rule reads, with one value wrong, and the quoted
 * value the violation must name. A rule that only checked the key would pass these.
 */
const WRONG_VALUES: {
  rule: string;
  what: string;
  resources: FakeResource[];
  config?: Record<string, unknown>;
  found: string;
}[] = [
  {
    rule: "cmk-encryption",
    what: "kmsKeyId the AWS-managed alias",
    resources: [rds({ kmsKeyId: "alias/aws/rds" })],
    found: '"alias/aws/rds", an AWS-managed key',
  },
  {
    rule: "cmk-encryption",
    what: "kmsKeyId an empty string",
    resources: [rds({ kmsKeyId: "" })],
    found: 'kmsKeyId is ""',
  },
  {
    rule: "cmk-encryption",
    what: "a log group's kmsKeyId an IAM role ARN",
    resources: [
      {
        type: "aws:cloudwatch/logGroup:LogGroup",
        name: "eks-logs",
        props: { kmsKeyId: "arn:aws:iam::123456789012:role/x" },
      },
    ],
    found: "not a KMS key ARN",
  },
  {
    rule: "cmk-encryption",
    what: "an SQS queue on the AWS-managed SQS key",
    resources: [
      { type: "aws:sqs/queue:Queue", name: "interruptions", props: { kmsMasterKeyId: "alias/aws/sqs" } },
    ],
    found: '"alias/aws/sqs", an AWS-managed key',
  },
  {
    rule: "control-plane-logs",
    what: "log types present but without audit",
    resources: [eks({}, { enabledClusterLogTypes: ["api", "authenticator", "scheduler"] })],
    found: 'missing ["audit"]',
  },
  {
    rule: "gpu-through-kueue",
    what: "the queue label not a queue name",
    resources: [GPU_POD({ "kueue.x-k8s.io/queue-name": "Team Queue!" })],
    found: '"Team Queue!", which is not a LocalQueue name',
  },
  {
    rule: "gpu-through-kueue",
    what: "the admission constraint only warning, on another label",
    resources: [
      {
        type: "kubernetes:constraints.gatekeeper.sh/v1beta1:K8sGpuThroughQueue",
        name: "gatekeeper-constraint-gpu-through-queue",
        props: {
          spec: {
            enforcementAction: "warn",
            parameters: { queueLabel: "queue", gpuResource: "nvidia.com/gpu", teamNamespaces: ["team-a"] },
          },
        },
      },
    ],
    found: 'spec.enforcementAction "warn", parameters.queueLabel "queue"',
  },
  {
    rule: "imdsv2-required",
    what: "httpTokens optional",
    resources: [
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: { metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } },
      },
    ],
    found: 'httpTokens "optional"',
  },
  {
    rule: "imdsv2-required",
    what: "a hop limit of 0",
    resources: [
      {
        type: "aws:ec2/launchTemplate:LaunchTemplate",
        name: "gpu-lt",
        props: { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 0 } },
      },
    ],
    found: "httpPutResponseHopLimit 0",
  },
  {
    rule: "imdsv2-required",
    what: "a node group's launch template id empty",
    resources: [
      {
        type: "aws:eks/nodeGroup:NodeGroup",
        name: "system",
        props: { launchTemplate: { id: "", version: "1" } },
      },
    ],
    found: 'launchTemplate {"id":"","version":"1"}',
  },
  {
    rule: "no-open-ingress",
    what: "an ingress rule from ::/0",
    resources: [
      {
        type: SG,
        name: "nodes",
        props: { ingress: [{ fromPort: 22, toPort: 22, protocol: "tcp", ipv6CidrBlocks: ["::/0"] }] },
      },
    ],
    found: '"::/0" on ports 22-22',
  },
  {
    rule: "no-public-buckets",
    what: 'a public access block switch the string "false"',
    resources: [
      {
        type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        name: "pab",
        props: {
          blockPublicAcls: true,
          blockPublicPolicy: "false",
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
      },
    ],
    found: 'blockPublicPolicy="false"',
  },
  {
    rule: "no-public-databases",
    what: 'publiclyAccessible the string "true"',
    resources: [rds({ publiclyAccessible: "true" })],
    found: 'publiclyAccessible "true"',
  },
  {
    rule: "private-eks-endpoint",
    what: 'endpointPrivateAccess the string "false" in prod',
    resources: [eks({ endpointPublicAccess: false, endpointPrivateAccess: "false" })],
    config: PROD,
    found: 'endpointPrivateAccess "false"',
  },
  {
    rule: "prod-data-protection",
    what: "a final snapshot identifier that is no identifier",
    resources: [rds({ finalSnapshotIdentifier: "1-final--" })],
    config: PROD,
    found: 'finalSnapshotIdentifier "1-final--"',
  },
  {
    rule: "prod-data-protection",
    what: "skipFinalSnapshot unset (the provider default is true)",
    resources: [rds({ skipFinalSnapshot: undefined })],
    config: PROD,
    found: "skipFinalSnapshot unset",
  },
  {
    rule: "region-allowlist",
    what: "a provider in another region",
    resources: [{ type: "pulumi:providers:aws", name: "aws", props: { region: "us-east-1" } }],
    config: { allowedRegions: ["eu-central-1"] },
    found: '"us-east-1", outside ["eu-central-1"]',
  },
  {
    rule: "required-tags",
    what: "data-classification not a level",
    resources: [
      {
        type: "aws:kms/key:Key",
        name: "data-key",
        props: { enableKeyRotation: true, tags: { ...TAGS, "data-classification": "secret-ish" } },
      },
    ],
    found: 'data-classification "secret-ish"',
  },
  {
    rule: "required-tags",
    what: "owner blank",
    resources: [{ type: "aws:kms/key:Key", name: "data-key", props: { tags: { ...TAGS, owner: "  " } } }],
    found: '["owner"]',
  },
  {
    rule: "allowed-images",
    what: "a truncated digest",
    resources: [job({}, `${ECR}/trainer@sha256:abc`)],
    config: { allowedRegistries: [ECR] },
    found: 'digest "sha256:abc"',
  },
  {
    rule: "allowed-images",
    what: "an empty tag",
    resources: [job({}, `${ECR}/trainer:`)],
    config: { allowedRegistries: [ECR] },
    found: "resolves to latest",
  },
  {
    rule: "s3-bucket-baseline",
    what: "SSE-KMS with the AWS-managed S3 key",
    resources: bucketStack({ sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/aws/s3" }, {}),
    found: '"alias/aws/s3", an AWS-managed key',
  },
  {
    rule: "s3-tls-only",
    what: 'SecureTransport compared with the string "true"',
    resources: bucketStack(
      { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY },
      { Condition: { Bool: { "aws:SecureTransport": "true" } } },
    ),
    found: 'condition {"Bool":{"aws:SecureTransport":"true"}}',
  },
];

describe("every rule checks values, not keys", () => {
  it.each(WRONG_VALUES.map((w) => [w.rule, w.what, w] as const))(
    "GIVEN %s and %s WHEN validated THEN the wrong value is flagged, quoted",
    async (rule, _what, w) => {
      const policy = RULES.find((r) => r.name === rule)!;
      const messages =
        "validateStack" in policy
          ? (await validateStackWith(policy, w.resources, w.config)).map((v) => v.message)
          : (await Promise.all(w.resources.map((r) => validateWith(policy, r, w.config)))).flat();
      expect(messages.length, rule).toBeGreaterThan(0);
      expect(messages.join("\n")).toContain(w.found);
      for (const m of messages) expect(m.startsWith(`${rule}: `), m).toBe(true);
    },
  );

  it("GIVEN the mandatory rules WHEN the wrong-value cases are listed THEN every rule has one", () => {
    expect([...new Set(WRONG_VALUES.map((w) => w.rule))].sort()).toEqual(RULES.map((r) => r.name).sort());
  });
});
