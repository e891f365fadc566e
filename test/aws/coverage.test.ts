/**
 * Recorded inputs of the AWS substrate that the other suites leave out: NAT per AZ in prod,
 * load-balancer subnet tags, pinned EKS addons per Kubernetes version, admin access entries,
 * the system node group, and Karpenter's interruption queue, rules, identity and settings.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { QUEUE_TLS_DENIED_ACTIONS } from "../../components/aws/karpenter";
import { EKS_ADDON_VERSIONS } from "../../components/aws/versions";
import { KARPENTER } from "../../components/aws/versions";
import { awsSubstrate } from "../../stacks/wiring/aws";
import { installMocks, settle, type RecordedResource, type ResourceRecorder } from "../helpers/mocks";
import { json, KEY_ARN, shippedConfig } from "./harness";

const AZS = ["eu-central-1a", "eu-central-1b", "eu-central-1c"];
const ADDONS = ["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent"] as const;
const ACCOUNT = "123456789012";

/** The mocks give every resource the id `<name>-id-<n>`: matches the id of the resource `name`. */
const idOf = (name: string) => expect.stringMatching(new RegExp(`^${name}-id-\\d+$`));
/** The resource name inside a mock id. */
const nameOfId = (id: string) => id.replace(/-id-\d+$/, "");
/** The `kubernetes.io/*` tags of a resource. */
const k8sTags = (r: RecordedResource) =>
  Object.fromEntries(Object.entries(r.inputs.tags).filter(([k]) => k.startsWith("kubernetes.io/")));
const subnetsOf = (rec: ResourceRecorder, role: string) =>
  rec.ofType("aws:ec2/subnet:Subnet").filter((s) => s.inputs.tags["sovereign:subnet-role"] === role);
const withoutTags = (inputs: Record<string, any>) => {
  const { tags: _tags, ...rest } = inputs;
  return rest;
};

/** What the provider computes and the default mocks leave undefined (queue name/ARN/URL, rule names, LT version). */
const queueName = "substrate-karpenter-interruptions-7f3a9c1";
const queueArn = `arn:aws:sqs:eu-central-1:${ACCOUNT}:${queueName}`;
const queueUrl = `https://sqs.eu-central-1.amazonaws.com/${ACCOUNT}/${queueName}`;
function computedOutputs(r: { type: string; name: string }): Record<string, unknown> {
  switch (r.type) {
    case "aws:sqs/queue:Queue":
      return { name: queueName, arn: queueArn, url: queueUrl };
    case "aws:cloudwatch/eventRule:EventRule":
      return {
        name: `${r.name}-rule`,
        arn: `arn:aws:events:eu-central-1:${ACCOUNT}:rule/${r.name}-rule`,
      };
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return { latestVersion: 3 };
    default:
      return {};
  }
}

/**
 * The substrate of a shipped stack (optionally mutated) under recording mocks that also return
 * the provider-computed outputs above; unlike `build` in the harness it binds no workloads.
 */
async function buildWithOutputs(stack: string, mutate?: (raw: Record<string, any>) => void) {
  const recorder = installMocks({ stack, outputs: computedOutputs });
  const config = shippedConfig(stack, mutate);
  awsSubstrate(config, { stack });
  await settle();
  return { config, recorder };
}

const shippedBuilds = new Map<string, ReturnType<typeof buildWithOutputs>>();
/** The shipped stack, built once per file. */
function shipped(stack: "aws-dev" | "aws-prod") {
  if (!shippedBuilds.has(stack)) shippedBuilds.set(stack, buildWithOutputs(stack));
  return shippedBuilds.get(stack)!;
}

/** Registries aws-prod's images come from when they are not pulled through ECR caches. */
const UPSTREAM_REGISTRIES = ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "public.ecr.aws"];

describe("coverage: aws-prod with NAT egress (one NAT gateway per AZ)", () => {
  let rec: ResourceRecorder;
  beforeAll(async () => {
    // With NAT egress there are no pull-through caches, so images come from the upstream
    // registries: validation rejects the shipped allowlist (only the account's ECR) unless they are added.
    rec = (
      await buildWithOutputs("aws-prod", (r) => {
        r.network.egress = "nat";
        r.policy.allowedRegistries = [...r.policy.allowedRegistries, ...UPSTREAM_REGISTRIES];
      })
    ).recorder;
  });

  it("GIVEN prod with egress nat WHEN built THEN there are 3 NAT gateways, one in each AZ's public subnet with its own EIP", () => {
    const nats = rec.ofType("aws:ec2/natGateway:NatGateway");
    expect(nats.map((n) => n.name)).toEqual([0, 1, 2].map((i) => `substrate-network-nat-${i}`));
    nats.forEach((n, i) =>
      expect(withoutTags(n.inputs)).toEqual({
        allocationId: idOf(`substrate-network-nat-eip-${i}`),
        subnetId: idOf(`substrate-network-public-${i}`),
        connectivityType: "public",
      }),
    );
    expect(rec.ofType("aws:ec2/eip:Eip").map((e) => [e.name, e.inputs.domain])).toEqual(
      [0, 1, 2].map((i) => [`substrate-network-nat-eip-${i}`, "vpc"]),
    );
    expect(subnetsOf(rec, "public").map((s) => [s.name, s.inputs.availabilityZone])).toEqual(
      [0, 1, 2].map((i) => [`substrate-network-public-${i}`, AZS[i]]),
    );
    // The NATs' subnets route to the internet gateway.
    expect(withoutTags(rec.named("substrate-network-public-default").inputs)).toEqual({
      routeTableId: idOf("substrate-network-public-rt"),
      destinationCidrBlock: "0.0.0.0/0",
      gatewayId: idOf("substrate-network-igw"),
    });
  });

  it("THEN each private route table's default route goes to the NAT gateway in its own AZ", () => {
    const routes = rec.ofType("aws:ec2/route:Route").filter((r) => r.inputs.natGatewayId !== undefined);
    expect(routes.map((r) => r.name)).toEqual([0, 1, 2].map((i) => `substrate-network-private-default-${i}`));
    routes.forEach((r, i) =>
      expect(r.inputs).toEqual({
        routeTableId: idOf(`substrate-network-private-rt-${i}`),
        destinationCidrBlock: "0.0.0.0/0",
        natGatewayId: idOf(`substrate-network-nat-${i}`),
      }),
    );
    // Follow the chain: private subnet -> its route table -> default route -> NAT -> NAT subnet.
    const assocs = rec.ofType("aws:ec2/routeTableAssociation:RouteTableAssociation");
    const chain = subnetsOf(rec, "private").map((s) => {
      const rt = nameOfId(assocs.find((a) => nameOfId(a.inputs.subnetId) === s.name)!.inputs.routeTableId);
      const route = routes.find((r) => nameOfId(r.inputs.routeTableId) === rt)!;
      const nat = rec.named(nameOfId(route.inputs.natGatewayId));
      const natSubnet = rec.named(nameOfId(nat.inputs.subnetId));
      return [s.inputs.availabilityZone, natSubnet.inputs.availabilityZone];
    });
    expect(chain).toEqual(AZS.map((az) => [az, az]));
  });

  it("THEN database subnets still have no default route and no pull-through rule is created", () => {
    const defaults = rec
      .ofType("aws:ec2/route:Route")
      .filter((r) => r.inputs.destinationCidrBlock === "0.0.0.0/0")
      .map((r) => nameOfId(r.inputs.routeTableId));
    expect(defaults.sort()).toEqual([
      "substrate-network-private-rt-0",
      "substrate-network-private-rt-1",
      "substrate-network-private-rt-2",
      "substrate-network-public-rt",
    ]);
    expect(rec.ofType("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")).toEqual([]);
  });
});

describe("coverage: aws-dev shares one NAT gateway", () => {
  it("GIVEN dev WHEN built THEN both private default routes go to the one NAT in the first AZ's public subnet", async () => {
    const { recorder: rec } = await shipped("aws-dev");
    const nat = rec.one("aws:ec2/natGateway:NatGateway");
    expect(nat.name).toBe("substrate-network-nat-0");
    expect(nat.inputs.subnetId).toEqual(idOf("substrate-network-public-0"));
    expect(rec.named("substrate-network-public-0").inputs.availabilityZone).toBe("eu-central-1a");
    const routes = rec.ofType("aws:ec2/route:Route").filter((r) => r.inputs.natGatewayId !== undefined);
    expect(routes.map((r) => [nameOfId(r.inputs.routeTableId), nameOfId(r.inputs.natGatewayId)])).toEqual([
      ["substrate-network-private-rt-0", "substrate-network-nat-0"],
      ["substrate-network-private-rt-1", "substrate-network-nat-0"],
    ]);
  });
});

describe("coverage: load-balancer subnet tags", () => {
  it("GIVEN aws-dev with publicLoadBalancer WHEN built THEN public subnets carry the elb and cluster tags, private ones internal-elb", async () => {
    const { recorder: rec } = await buildWithOutputs("aws-dev", (raw) => {
      raw.network.publicLoadBalancer = true;
    });
    const cluster = "kubernetes.io/cluster/sovereign-aws-dev";
    const pub = subnetsOf(rec, "public");
    expect(pub.map((s) => s.name)).toEqual(["substrate-network-public-0", "substrate-network-public-1"]);
    for (const s of pub) {
      expect(k8sTags(s)).toEqual({ [cluster]: "shared", "kubernetes.io/role/elb": "1" });
      expect(s.inputs.mapPublicIpOnLaunch).toBe(false);
    }
    const priv = subnetsOf(rec, "private");
    expect(priv).toHaveLength(2);
    for (const s of priv)
      expect(k8sTags(s)).toEqual({ [cluster]: "shared", "kubernetes.io/role/internal-elb": "1" });
    const db = subnetsOf(rec, "database");
    expect(db).toHaveLength(2);
    for (const s of db) expect(k8sTags(s)).toEqual({});
  });

  it("GIVEN aws-dev as shipped (no public load balancer) WHEN built THEN public subnets carry no kubernetes.io tag at all", async () => {
    const { recorder: rec } = await shipped("aws-dev");
    const pub = subnetsOf(rec, "public");
    expect(pub).toHaveLength(2);
    for (const s of pub) expect(k8sTags(s)).toEqual({});
    for (const s of subnetsOf(rec, "private"))
      expect(k8sTags(s)).toEqual({
        "kubernetes.io/cluster/sovereign-aws-dev": "shared",
        "kubernetes.io/role/internal-elb": "1",
      });
  });
});

/** The addons as recorded: name -> addonVersion, with the common inputs checked. */
function addonsOf(rec: ResourceRecorder, clusterName: string): Record<string, string> {
  const addons = rec.ofType("aws:eks/addon:Addon");
  for (const a of addons) {
    expect(a.name).toBe(`substrate-cluster-${a.inputs.addonName}`);
    expect(a.inputs).toMatchObject({
      clusterName,
      resolveConflictsOnCreate: "OVERWRITE",
      resolveConflictsOnUpdate: "OVERWRITE",
    });
  }
  return Object.fromEntries(addons.map((a) => [a.inputs.addonName, a.inputs.addonVersion]));
}

describe("coverage: EKS addons pinned per Kubernetes version", () => {
  for (const stack of ["aws-dev", "aws-prod"] as const) {
    it(`GIVEN ${stack} (Kubernetes 1.33) WHEN built THEN the five addons exist with the 1.33 pins`, async () => {
      const { recorder: rec } = await shipped(stack);
      const versions = addonsOf(rec, `sovereign-${stack}`);
      expect(Object.keys(versions).sort()).toEqual([...ADDONS].sort());
      for (const addon of ADDONS) expect(versions[addon], addon).toBe(EKS_ADDON_VERSIONS["1.33"][addon]);
      expect(versions).toEqual({
        "vpc-cni": "v1.20.3-eksbuild.1",
        coredns: "v1.12.4-eksbuild.1",
        "kube-proxy": "v1.33.3-eksbuild.10",
        "aws-ebs-csi-driver": "v1.50.1-eksbuild.1",
        "eks-pod-identity-agent": "v1.3.8-eksbuild.2",
      });
    });
  }

  for (const version of ["1.34", "1.32"]) {
    it(`GIVEN cluster.version ${version} WHEN built THEN the control plane and every addon take the ${version} row`, async () => {
      const { recorder: rec } = await buildWithOutputs("aws-dev", (raw) => {
        raw.eks.version = version;
      });
      expect(rec.one("aws:eks/cluster:Cluster").inputs.version).toBe(version);
      const versions = addonsOf(rec, "sovereign-aws-dev");
      expect(versions).toEqual(EKS_ADDON_VERSIONS[version]);
      expect(versions["kube-proxy"]).toBe(version === "1.34" ? "v1.34.0-eksbuild.4" : "v1.32.6-eksbuild.2");
      // Every addon whose pin differs between the rows moved off the 1.33 pin.
      const moved = ADDONS.filter((a) => versions[a] !== EKS_ADDON_VERSIONS["1.33"][a]);
      expect(moved).toEqual(
        version === "1.34" ? ["kube-proxy"] : ["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"],
      );
    });
  }

  it("GIVEN the addons WHEN ordered THEN networking and Pod Identity precede the system nodes; CoreDNS and EBS CSI (with its Pod Identity role) follow them", async () => {
    const { recorder: rec } = await shipped("aws-prod");
    const urn = (name: string) => rec.named(name).urn;
    const ng = rec.one("aws:eks/nodeGroup:NodeGroup");
    expect(ng.dependsOn).toEqual(
      expect.arrayContaining(
        ["vpc-cni", "kube-proxy", "eks-pod-identity-agent"].map((a) => urn(`substrate-cluster-${a}`)),
      ),
    );
    for (const a of ["coredns", "aws-ebs-csi-driver"])
      expect(rec.named(`substrate-cluster-${a}`).dependsOn).toContain(ng.urn);
    for (const a of ["vpc-cni", "kube-proxy", "eks-pod-identity-agent"])
      expect(rec.named(`substrate-cluster-${a}`).dependsOn).not.toContain(ng.urn);
    expect(rec.named("substrate-cluster-aws-ebs-csi-driver").inputs.podIdentityAssociations).toEqual([
      {
        roleArn: "arn:aws:iam::123456789012:role/substrate-cluster-ebs-csi-role",
        serviceAccount: "ebs-csi-controller-sa",
      },
    ]);
  });
});

describe("coverage: cluster-admin access entries", () => {
  const CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

  it("GIVEN aws-prod's admin role WHEN built THEN it gets a STANDARD access entry and the cluster-admin policy at cluster scope", async () => {
    const { recorder: rec } = await shipped("aws-prod");
    const entry = rec.one("aws:eks/accessEntry:AccessEntry", "substrate-cluster-admin-0");
    expect(withoutTags(entry.inputs)).toEqual({
      clusterName: "sovereign-aws-prod",
      principalArn: "arn:aws:iam::123456789012:role/PlatformAdmins",
      type: "STANDARD",
    });
    const assoc = rec.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation");
    expect(assoc.name).toBe("substrate-cluster-admin-0-policy");
    expect(assoc.inputs).toEqual({
      clusterName: "sovereign-aws-prod",
      principalArn: "arn:aws:iam::123456789012:role/PlatformAdmins",
      policyArn: CLUSTER_ADMIN,
      accessScope: { type: "cluster" },
    });
    expect(assoc.dependsOn).toContain(entry.urn);
  });

  it("GIVEN two admin roles on aws-dev WHEN built THEN each gets its own entry and cluster-admin association, in order", async () => {
    const admins = ["arn:aws:iam::123456789012:role/OpsA", "arn:aws:iam::123456789012:role/OpsB"];
    const { recorder: rec } = await buildWithOutputs("aws-dev", (raw) => {
      raw.eks.adminRoleArns = admins;
    });
    const entries = rec
      .ofType("aws:eks/accessEntry:AccessEntry")
      .filter((e) => e.name.startsWith("substrate-cluster-admin-"));
    expect(entries.map((e) => [e.name, e.inputs.principalArn, e.inputs.type])).toEqual([
      ["substrate-cluster-admin-0", admins[0], "STANDARD"],
      ["substrate-cluster-admin-1", admins[1], "STANDARD"],
    ]);
    const assocs = rec.ofType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation");
    expect(assocs.map((a) => [a.name, a.inputs])).toEqual(
      admins.map((arn, i) => [
        `substrate-cluster-admin-${i}-policy`,
        {
          clusterName: "sovereign-aws-dev",
          principalArn: arn,
          policyArn: CLUSTER_ADMIN,
          accessScope: { type: "cluster" },
        },
      ]),
    );
    assocs.forEach((a, i) => expect(a.dependsOn).toContain(entries[i].urn));
  });

  it("GIVEN aws-dev as shipped (no admin roles) WHEN built THEN the only access entry is Karpenter's node role", async () => {
    const { recorder: rec } = await shipped("aws-dev");
    expect(
      rec
        .ofType("aws:eks/accessEntry:AccessEntry")
        .map((e) => [e.name, e.inputs.principalArn, e.inputs.type]),
    ).toEqual([
      [
        "substrate-karpenter-node-access",
        "arn:aws:iam::123456789012:role/substrate-karpenter-node-role",
        "EC2_LINUX",
      ],
    ]);
    expect(rec.ofType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")).toEqual([]);
  });
});

describe("coverage: the system node group", () => {
  for (const [stack, azs, min, max] of [
    ["aws-dev", 2, 2, 4],
    ["aws-prod", 3, 3, 6],
  ] as const) {
    it(`GIVEN ${stack} WHEN built THEN the system node group is on-demand in all ${azs} private subnets, ${min}..${max} nodes, on the IMDSv2 launch template`, async () => {
      const { recorder: rec } = await shipped(stack);
      const ng = rec.one("aws:eks/nodeGroup:NodeGroup");
      expect(ng.name).toBe("substrate-cluster-system");
      expect(withoutTags(ng.inputs)).toEqual({
        clusterName: `sovereign-${stack}`,
        nodeRoleArn: "arn:aws:iam::123456789012:role/substrate-cluster-node-role",
        subnetIds: Array.from({ length: azs }, (_, i) => idOf(`substrate-network-private-${i}`)),
        amiType: "AL2023_x86_64_STANDARD",
        capacityType: "ON_DEMAND",
        instanceTypes: ["m7i.xlarge"],
        scalingConfig: { minSize: min, maxSize: max, desiredSize: min },
        launchTemplate: { id: idOf("substrate-cluster-system-lt"), version: "3" },
        labels: { "sovereign.ai/node-role": "system" },
        updateConfig: { maxUnavailable: 1 },
      });
      expect(subnetsOf(rec, "private").map((s) => s.inputs.availabilityZone)).toEqual(AZS.slice(0, azs));
      const lt = rec.one("aws:ec2/launchTemplate:LaunchTemplate");
      expect(lt.name).toBe("substrate-cluster-system-lt");
      expect(lt.inputs.metadataOptions).toEqual({
        httpEndpoint: "enabled",
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: "disabled",
      });
    });
  }
});

describe("coverage: Karpenter interruption handling and controller", () => {
  for (const stack of ["aws-dev", "aws-prod"] as const) {
    describe(stack, () => {
      let rec: ResourceRecorder;
      const prod = stack === "aws-prod";
      beforeAll(async () => {
        rec = (await shipped(stack)).recorder;
      });

      it(`GIVEN ${stack} WHEN built THEN the interruption queue is encrypted with the substrate's logs key`, () => {
        const q = rec.one("aws:sqs/queue:Queue");
        expect(q.name).toBe("substrate-karpenter-interruptions");
        expect(withoutTags(q.inputs)).toEqual({
          messageRetentionSeconds: 300,
          kmsMasterKeyId: KEY_ARN("logs"),
          kmsDataKeyReusePeriodSeconds: 300,
        });
      });

      it("THEN the queue policy lets only EventBridge and SQS send messages to this queue, and only over TLS", () => {
        const qp = rec.one("aws:sqs/queuePolicy:QueuePolicy");
        expect(qp.inputs.queueUrl).toBe(queueUrl);
        expect(json(qp.inputs.policy)).toEqual({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "EventBridge",
              Effect: "Allow",
              Principal: { Service: ["events.amazonaws.com", "sqs.amazonaws.com"] },
              Action: ["sqs:SendMessage"],
              Resource: queueArn,
            },
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: QUEUE_TLS_DENIED_ACTIONS,
              Resource: queueArn,
              Condition: { Bool: { "aws:SecureTransport": false } },
            },
          ],
        });
        for (const a of [
          "sqs:SendMessage",
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:SetQueueAttributes",
        ])
          expect(QUEUE_TLS_DENIED_ACTIONS).toContain(a);
      });

      it("THEN four EventBridge rules (health, spot, rebalance, state change) each target the queue", () => {
        const rules = rec.ofType("aws:cloudwatch/eventRule:EventRule");
        expect(rules.map((r) => [r.name, r.inputs.description, json(r.inputs.eventPattern)])).toEqual([
          [
            "substrate-karpenter-health",
            "Karpenter interruption: AWS Health Event",
            { source: ["aws.health"], "detail-type": ["AWS Health Event"] },
          ],
          [
            "substrate-karpenter-spot",
            "Karpenter interruption: EC2 Spot Instance Interruption Warning",
            { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
          ],
          [
            "substrate-karpenter-rebalance",
            "Karpenter interruption: EC2 Instance Rebalance Recommendation",
            { source: ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"] },
          ],
          [
            "substrate-karpenter-state",
            "Karpenter interruption: EC2 Instance State-change Notification",
            { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"] },
          ],
        ]);
        const targets = rec.ofType("aws:cloudwatch/eventTarget:EventTarget");
        expect(targets.map((t) => [t.name, t.inputs])).toEqual(
          rules.map((r) => [`${r.name}-target`, { rule: `${r.name}-rule`, arn: queueArn }]),
        );
      });

      it("THEN the controller gets a Pod Identity association for service account karpenter in kube-system, and its policy reads this queue", () => {
        const pia = rec.one(
          "aws:eks/podIdentityAssociation:PodIdentityAssociation",
          "substrate-karpenter-controller-identity",
        );
        expect(withoutTags(pia.inputs)).toEqual({
          clusterName: `sovereign-${stack}`,
          namespace: "kube-system",
          serviceAccount: "karpenter",
          roleArn: "arn:aws:iam::123456789012:role/substrate-karpenter-controller-role",
        });
        const trust = json(rec.named("substrate-karpenter-controller-role").inputs.assumeRolePolicy);
        expect(trust.Statement).toEqual([
          {
            Effect: "Allow",
            Principal: { Service: "pods.eks.amazonaws.com" },
            Action: ["sts:AssumeRole", "sts:TagSession"],
            Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } },
          },
        ]);
        const st = json(rec.named("substrate-karpenter-controller-policy").inputs.policy).Statement;
        expect(st.find((s: any) => s.Sid === "InterruptionQueue")).toEqual({
          Sid: "InterruptionQueue",
          Effect: "Allow",
          Action: ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
          Resource: queueArn,
        });
        expect(st.find((s: any) => s.Sid === "InterruptionQueueKey")).toEqual({
          Sid: "InterruptionQueueKey",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: KEY_ARN("logs"),
          Condition: { StringEquals: { "kms:ViaService": "sqs.eu-central-1.amazonaws.com" } },
        });
      });

      it(`THEN the Helm values name the queue, the service account and isolatedVPC=${prod}`, () => {
        const rel = rec.one("kubernetes:helm.sh/v3:Release", "substrate-karpenter-controller").inputs;
        expect(rel).toMatchObject({
          name: "karpenter",
          chart: KARPENTER.chart,
          version: KARPENTER.version,
          namespace: "kube-system",
        });
        expect(rel.values.settings).toEqual({
          clusterName: `sovereign-${stack}`,
          clusterEndpoint: "https://substrate-cluster-eks.eks.example",
          interruptionQueue: queueName,
          isolatedVPC: prod,
        });
        expect(rel.values.serviceAccount).toEqual({ name: "karpenter" });
        expect(rel.values.replicas).toBe(prod ? 2 : 1);
      });
    });
  }
});
