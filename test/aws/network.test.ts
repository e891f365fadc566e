/**
 * The network per profile and egress mode, and the ECR pull-through plan, from the recorded
 * inputs of the real substrate under mocks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { INTERFACE_ENDPOINTS } from "../../components/aws/network";
import { pullThroughMirrors, pullThroughPlan } from "../../components/aws/registries";
import { mirrorImage, registryOf } from "../../components/lib/images";
import { valueOf } from "../helpers/mocks";
import { build, type Built } from "./harness";

describe("network: aws-dev (NAT egress, 2 AZs)", () => {
  let b: Built;
  beforeAll(async () => {
    b = await build("aws-dev");
  });

  it("GIVEN dev WHEN built THEN there are private and database subnets in 2 AZs and one shared NAT", () => {
    const subnets = b.recorder.ofType("aws:ec2/subnet:Subnet");
    const role = (r: string) => subnets.filter((s) => s.inputs.tags["sovereign:subnet-role"] === r);
    expect(role("private").map((s) => s.inputs.cidrBlock)).toEqual(["10.40.0.0/19", "10.40.32.0/19"]);
    expect(role("private").map((s) => s.inputs.availabilityZone)).toEqual(["eu-central-1a", "eu-central-1b"]);
    expect(role("database")).toHaveLength(2);
    expect(b.recorder.ofType("aws:ec2/natGateway:NatGateway")).toHaveLength(1);
    const routes = b.recorder.ofType("aws:ec2/route:Route").filter((r) => r.inputs.natGatewayId);
    expect(routes).toHaveLength(2);
  });

  it("THEN public subnets exist only to host the NAT (not tagged for load balancers) and never map public IPs", () => {
    const pub = b.recorder
      .ofType("aws:ec2/subnet:Subnet")
      .filter((s) => s.inputs.tags["sovereign:subnet-role"] === "public");
    expect(pub).toHaveLength(2);
    for (const s of pub) {
      expect(s.inputs.tags["kubernetes.io/role/elb"]).toBeUndefined();
      expect(s.inputs.mapPublicIpOnLaunch).toBe(false);
    }
  });

  it("THEN no pull-through rules are created (there is egress)", () => {
    expect(b.recorder.ofType("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")).toEqual([]);
    expect(b.recorder.resources.filter((r) => r.name.endsWith("pull-through"))).toEqual([]);
  });
});

describe("network: aws-prod (private egress, 3 AZs)", () => {
  let b: Built;
  beforeAll(async () => {
    // Without the gateway override every image but the NVIDIA ones comes from a public
    // registry, which is what the pull-through rules are for.
    b = await build("aws-prod", (raw) => {
      delete raw.images;
    });
  });

  it("GIVEN private egress WHEN built THEN there is no NAT, no internet gateway and no public subnet", () => {
    expect(b.recorder.ofType("aws:ec2/natGateway:NatGateway")).toEqual([]);
    expect(b.recorder.ofType("aws:ec2/internetGateway:InternetGateway")).toEqual([]);
    expect(b.recorder.ofType("aws:ec2/eip:Eip")).toEqual([]);
    const subnets = b.recorder.ofType("aws:ec2/subnet:Subnet");
    expect(subnets.filter((s) => s.inputs.tags["sovereign:subnet-role"] === "public")).toEqual([]);
    expect(subnets.filter((s) => s.inputs.tags["sovereign:subnet-role"] === "private")).toHaveLength(3);
    expect(
      b.recorder.ofType("aws:ec2/route:Route").filter((r) => r.inputs.destinationCidrBlock === "0.0.0.0/0"),
    ).toEqual([]);
  });

  it("THEN S3 is a gateway endpoint on every private and database route table, and the AWS APIs are private interface endpoints", () => {
    const eps = b.recorder.ofType("aws:ec2/vpcEndpoint:VpcEndpoint");
    const s3 = eps.find((e) => e.inputs.serviceName === "com.amazonaws.eu-central-1.s3")!;
    expect(s3.inputs.vpcEndpointType).toBe("Gateway");
    expect(s3.inputs.routeTableIds).toHaveLength(4);
    const iface = eps.filter((e) => e.inputs.vpcEndpointType === "Interface");
    expect(iface.map((e) => e.inputs.serviceName).sort()).toEqual(
      INTERFACE_ENDPOINTS.map((s) => `com.amazonaws.eu-central-1.${s}`).sort(),
    );
    for (const svc of [
      "ecr.api",
      "ecr.dkr",
      "sts",
      "kms",
      "secretsmanager",
      "logs",
      "ec2",
      "eks",
      "eks-auth",
    ])
      expect(INTERFACE_ENDPOINTS).toContain(svc);
    for (const e of iface) {
      expect(e.inputs.privateDnsEnabled).toBe(true);
      expect(e.inputs.subnetIds).toHaveLength(3);
    }
  });

  it("THEN every upstream registry the stack's images use gets a pull-through rule (with its credential); the mirrored nvcr.io gets none", async () => {
    const rules = b.recorder.ofType("aws:ecr/pullThroughCacheRule:PullThroughCacheRule");
    expect(
      rules
        .map((r) => [r.inputs.ecrRepositoryPrefix, r.inputs.upstreamRegistryUrl, !!r.inputs.credentialArn])
        .sort(),
    ).toEqual([
      ["docker-hub", "registry-1.docker.io", true],
      ["ecr-public", "public.ecr.aws", false],
      ["github", "ghcr.io", true],
      ["k8s", "registry.k8s.io", false],
      ["quay", "quay.io", false],
    ]);
    // Nodes may populate the cache, for the rules' prefixes only.
    for (const n of ["substrate-cluster-node-pull-through", "substrate-karpenter-node-pull-through"]) {
      const st = JSON.parse(b.recorder.one("aws:iam/rolePolicy:RolePolicy", n).inputs.policy).Statement[0];
      expect(st.Action).toEqual(["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]);
      expect([...st.Resource].sort()).toEqual(
        ["docker-hub", "ecr-public", "github", "k8s", "quay"].map(
          (p) => `arn:aws:ecr:eu-central-1:123456789012:repository/${p}/*`,
        ),
      );
    }
  });

  it("THEN the substrate's registry mirrors combine the pull-through prefixes and the configured nvcr.io mirror", async () => {
    const mirrors = await valueOf(b.substrate.registryMirrors);
    const ecr = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
    expect(mirrors).toEqual({
      "docker.io": `${ecr}/docker-hub`,
      "ghcr.io": `${ecr}/github`,
      "public.ecr.aws": `${ecr}/ecr-public`,
      "quay.io": `${ecr}/quay`,
      "registry.k8s.io": `${ecr}/k8s`,
      "nvcr.io": `${ecr}/mirror/nvcr`,
    });
    const karpenter = b.recorder.one("kubernetes:helm.sh/v3:Release", "substrate-karpenter-controller");
    expect(karpenter.inputs.values.controller.image).toEqual({
      repository: `${ecr}/ecr-public/karpenter/controller`,
      tag: "1.8.1",
    });
  });

  it("THEN flow logs of all traffic go to a KMS-encrypted log group", () => {
    const fl = b.recorder.one("aws:ec2/flowLog:FlowLog");
    expect(fl.inputs).toMatchObject({ trafficType: "ALL", logDestinationType: "cloud-watch-logs" });
    const lg = b.recorder.one("aws:cloudwatch/logGroup:LogGroup", "substrate-network-flow-logs");
    expect(lg.inputs.kmsKeyId).toMatch(/key\/substrate-keys-logs$/);
    expect(lg.inputs.name).toBe("/sovereign/sovereign-aws-prod/vpc-flow-logs");
  });

  it("THEN the default security group of the VPC admits nothing", () => {
    const sg = b.recorder.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup");
    expect(sg.inputs.ingress ?? []).toEqual([]);
    expect(sg.inputs.egress ?? []).toEqual([]);
  });
});

describe("network: private egress with a credential for Docker Hub and a mirror for GHCR", () => {
  let b: Built;
  const ecr = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
  beforeAll(async () => {
    b = await build("aws-prod", (raw) => {
      delete raw.images;
      raw.network.registryCredentialArns = {
        "docker.io":
          "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf",
      };
      raw.registryMirrors = { ...raw.registryMirrors, "ghcr.io": `${ecr}/mirror/ghcr` };
    });
  });

  it("GIVEN a Docker Hub credential WHEN built THEN Docker Hub gets a rule with it; the mirrored GHCR gets no rule", async () => {
    const rules = b.recorder.ofType("aws:ecr/pullThroughCacheRule:PullThroughCacheRule");
    const hub = rules.find((r) => r.inputs.ecrRepositoryPrefix === "docker-hub")!;
    expect(hub.inputs.upstreamRegistryUrl).toBe("registry-1.docker.io");
    expect(hub.inputs.credentialArn).toMatch(/ecr-pullthroughcache\/docker-hub/);
    expect(rules.find((r) => r.inputs.ecrRepositoryPrefix === "github")).toBeUndefined();
    const mirrors = await valueOf(b.substrate.registryMirrors);
    expect(mirrors["docker.io"]).toBe(`${ecr}/docker-hub`);
    expect(mirrors["ghcr.io"]).toBe(`${ecr}/mirror/ghcr`);
  });

  it("THEN the Postgres login job pulls its image through the ECR Public cache", () => {
    const jobs = b.recorder.ofType("kubernetes:batch/v1:Job");
    expect(jobs.length).toBeGreaterThan(0);
    for (const j of jobs)
      expect(j.inputs.spec.template.spec.containers[0].image).toBe(
        `${ecr}/ecr-public/docker/library/postgres:16.10-alpine`,
      );
  });
});

describe("access entries for team roles", () => {
  let b: Built;
  beforeAll(async () => {
    b = await build("aws-dev", (raw) => {
      raw.teams[1].iamRoleArn = "arn:aws:iam::123456789012:role/SupportAi";
    });
  });

  it("GIVEN a team role WHEN built THEN its access entry maps it to the team's Kubernetes group, with no access policy", () => {
    expect(
      b.recorder.ofType("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").map((a) => a.name),
    ).not.toContain("substrate-cluster-team-0-policy");
    expect(
      b.recorder.one("aws:eks/accessEntry:AccessEntry", "substrate-cluster-team-0").inputs,
    ).toMatchObject({
      principalArn: "arn:aws:iam::123456789012:role/SupportAi",
      type: "STANDARD",
      kubernetesGroups: ["support-agents"],
    });
  });
});

describe("pull-through planning (pure)", () => {
  it("GIVEN image references WHEN their registry is derived THEN Docker Hub is the default", () => {
    expect(registryOf("postgres:16")).toBe("docker.io");
    expect(registryOf("library/postgres:16")).toBe("docker.io");
    expect(registryOf("ghcr.io/a/b:1")).toBe("ghcr.io");
    expect(registryOf("localhost:5000/a:1")).toBe("localhost:5000");
  });

  it("GIVEN an official Docker Hub image WHEN mirrored THEN library/ is added; an unsupported registry has no mirror", () => {
    expect(mirrorImage("postgres:16", pullThroughMirrors("h"))).toBe("h/docker-hub/library/postgres:16");
    expect(pullThroughMirrors("h")["nvcr.io"]).toBeUndefined();
  });

  it("GIVEN images from several registries WHEN planned THEN unsupported or uncredentialed registries are reported, not dropped silently", () => {
    const plan = pullThroughPlan(["quay.io/a:1", "nvcr.io/b:1", "ghcr.io/c:1", "registry.k8s.io/d:1"], {});
    expect(plan.rules.map((r) => r.registry)).toEqual(["quay.io", "registry.k8s.io"]);
    expect(plan.uncovered).toEqual(["ghcr.io", "nvcr.io"]);
  });
});
