/**
 * Teardown order of the shipped stacks, read from the dependency edges the program sends the
 * engine: "The platform layer depends on the substrate so that LoadBalancer Services and ENIs
 * are gone before the VPC is deleted."
 *
 * `pulumi destroy` deletes a resource only after everything that depends on it (dependencies,
 * property dependencies, children, resources managed by it as a provider). The checks follow
 * dependency and parent edges only: every Kubernetes object also reaches the cluster through
 * its provider, and counting that edge would hide a dropped `dependsOn: [...substrate.ready]`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { stackFile } from "../../stacks/config/load";
import { providerUrn, type RecordedResource, type ResourceRecorder } from "../helpers/mocks";
import { pulumiConfigFromFile, runProgram, runShippedStack, type StackRun } from "../helpers/stack";

const T = {
  cluster: "aws:eks/cluster:Cluster",
  nodeGroup: "aws:eks/nodeGroup:NodeGroup",
  addon: "aws:eks/addon:Addon",
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  route: "aws:ec2/route:Route",
  routeTable: "aws:ec2/routeTable:RouteTable",
  natGateway: "aws:ec2/natGateway:NatGateway",
  vpcEndpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  association: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  service: "kubernetes:core/v1:Service",
  release: "kubernetes:helm.sh/v3:Release",
  storageClass: "kubernetes:storage.k8s.io/v1:StorageClass",
  nodePool: "kubernetes:karpenter.sh/v1:NodePool",
  nodeClass: "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  job: "kubernetes:batch/v1:Job",
  cnpgCluster: "kubernetes:postgresql.cnpg.io/v1:Cluster",
  cnpgDatabase: "kubernetes:postgresql.cnpg.io/v1:Database",
  gateway: "sovereign:platform:Gateway",
} as const;

const SUBSTRATE_TYPES = new Set(["sovereign:aws:Substrate", "sovereign:existingCluster:Substrate"]);

const label = (r: RecordedResource) => `${r.type} ${r.name}`;

/** Whether `r` is the substrate component or below it. */
function inSubstrate(rec: ResourceRecorder, r: RecordedResource | undefined): boolean {
  for (let x = r; x; x = x.parent ? rec.byUrn(x.parent) : undefined) {
    if (SUBSTRATE_TYPES.has(x.type)) return true;
  }
  return false;
}

/** The platform layer: custom resources outside the substrate, providers aside. */
function platformResources(rec: ResourceRecorder): RecordedResource[] {
  return rec.resources.filter(
    (r) => r.custom && !r.type.startsWith("pulumi:providers:") && !inSubstrate(rec, r),
  );
}

function loadBalancerServices(rec: ResourceRecorder): RecordedResource[] {
  return rec.ofType(T.service).filter((r) => r.inputs.spec?.type === "LoadBalancer");
}

/** The gateway's LoadBalancer Service (a child of the Gateway component). */
function gatewayLoadBalancer(rec: ResourceRecorder): RecordedResource {
  const found = loadBalancerServices(rec).filter((r) => r.parent && rec.byUrn(r.parent)?.type === T.gateway);
  expect(found.map((r) => r.name)).toHaveLength(1);
  return found[0];
}

/** Asserts that the engine deletes `from` before each of `targets` (custom resources), naming the ones it would not. */
function expectDeletedBefore(
  rec: ResourceRecorder,
  from: RecordedResource,
  targets: RecordedResource[],
): void {
  expect(targets.length, `no targets for ${label(from)}`).toBeGreaterThan(0);
  const reached = rec.transitiveDependencies(from);
  const missing = targets.filter((t) => !reached.has(t.urn));
  expect(
    missing.map(label),
    `${label(from)} has no chain of dependencies or parents to these, so destroy may delete them first`,
  ).toEqual([]);
}

/** `substrate.ready` of the AWS substrate, as the recorder sees it: cluster, nodes, addons, Karpenter. */
function awsSubstrateReady(rec: ResourceRecorder): RecordedResource[] {
  const sub = (r: RecordedResource) => inSubstrate(rec, r);
  return [
    rec.one(T.cluster),
    rec.one(T.nodeGroup),
    ...rec.ofType(T.addon),
    ...rec.ofType(T.storageClass).filter(sub),
    ...rec.ofType(T.release).filter(sub),
    ...rec.ofType(T.nodePool),
    ...rec.ofType(T.nodeClass),
  ];
}

describe.each(["aws-dev", "aws-prod"])("teardown order: %s", (stack) => {
  let run: StackRun;
  let rec: ResourceRecorder;
  beforeAll(async () => {
    run = await runShippedStack(stack);
    rec = run.recorder;
  });

  it("GIVEN the shipped config WHEN the program runs under mocks THEN it completes", () => {
    expect(run.error).toBeUndefined();
  });

  it("THEN the gateway's LoadBalancer Service is deleted before the EKS cluster and the system node group", () => {
    expectDeletedBefore(rec, gatewayLoadBalancer(rec), [rec.one(T.cluster), rec.one(T.nodeGroup)]);
  });

  it("THEN every LoadBalancer Service is deleted before the VPC, the subnets its load balancer may use and the NAT gateways", () => {
    const lbSubnets = rec
      .ofType(T.subnet)
      .filter(
        (s) =>
          s.inputs.tags?.["kubernetes.io/role/internal-elb"] || s.inputs.tags?.["kubernetes.io/role/elb"],
      );
    expect(lbSubnets.length).toBeGreaterThan(1);
    const network = [rec.one(T.vpc), ...lbSubnets, ...rec.ofType(T.natGateway)];
    const services = loadBalancerServices(rec);
    expect(services.length).toBeGreaterThan(0);
    for (const svc of services) expectDeletedBefore(rec, svc, network);
  });

  it("THEN every platform Helm release is deleted before the EKS cluster and the system node group", () => {
    const releases = rec.ofType(T.release).filter((r) => !r.name.startsWith("substrate-"));
    expect(releases.length).toBeGreaterThan(0);
    for (const r of releases) expectDeletedBefore(rec, r, [rec.one(T.cluster), rec.one(T.nodeGroup)]);
  });

  it("THEN every platform resource is deleted before everything in substrate.ready (Karpenter's NodePools included)", () => {
    const ready = awsSubstrateReady(rec);
    const platform = platformResources(rec);
    expect(platform.length).toBeGreaterThan(0);
    for (const r of platform) expectDeletedBefore(rec, r, ready);
  });

  it("THEN the EKS cluster is deleted before every VPC endpoint, route, NAT gateway and private route table", () => {
    const cluster = rec.one(T.cluster);
    const network = [
      ...rec.ofType(T.vpcEndpoint),
      ...rec.ofType(T.route),
      ...rec.ofType(T.natGateway),
      ...rec.ofType(T.routeTable).filter((t) => t.name.includes("-private-rt-")),
    ];
    expect(rec.ofType(T.vpcEndpoint).length).toBeGreaterThan(1);
    expect(rec.ofType(T.routeTable).filter((t) => t.name.includes("-private-rt-")).length).toBeGreaterThan(0);
    expectDeletedBefore(rec, cluster, network);
    // The cluster waits for them explicitly (`dependsOn: network.ready`), not only through its subnets.
    for (const e of rec.ofType(T.vpcEndpoint)) expect(cluster.dependencies).toContain(e.urn);
    for (const r of rec.ofType(T.route)) expect(cluster.dependencies).toContain(r.urn);
  });

  it("THEN the EKS cluster is deleted before every route-table association, so subnets keep their NAT and S3 routes while the platform goes", () => {
    const cluster = rec.one(T.cluster);
    const associations = rec.ofType(T.association);
    expect(associations.length).toBeGreaterThanOrEqual(4);
    for (const a of associations) expect(cluster.dependencies, label(a)).toContain(a.urn);
  });

  it("THEN every AWS resource, workload roles and Postgres logins included, uses the stack's explicit AWS provider", () => {
    const explicit = rec.resources.find((r) => r.type === "pulumi:providers:aws" && r.name === "aws")!;
    expect(explicit).toBeDefined();
    const aws = rec.resources.filter((r) => r.custom && r.type.startsWith("aws:"));
    expect(aws.length).toBeGreaterThan(50);
    const strays = aws.filter((r) => !r.provider || providerUrn(r.provider) !== explicit.urn);
    expect(strays.map(label)).toEqual([]);
  });
});

describe("teardown order: aws-dev with a public load balancer", () => {
  let rec: ResourceRecorder;
  beforeAll(async () => {
    const flat = pulumiConfigFromFile(stackFile("aws-dev"));
    const net = JSON.parse(flat.config["sovereign:network"]);
    const gw = JSON.parse(flat.config["sovereign:gateway"]);
    flat.config["sovereign:network"] = JSON.stringify({ ...net, publicLoadBalancer: true });
    flat.config["sovereign:gateway"] = JSON.stringify({ ...gw, public: true });
    const run = await runProgram("aws-dev", flat);
    expect(run.error).toBeUndefined();
    rec = run.recorder;
  });

  it("GIVEN public subnets for load balancers THEN the gateway's LoadBalancer Service is deleted before each of them", () => {
    const pub = rec.ofType(T.subnet).filter((s) => s.inputs.tags?.["kubernetes.io/role/elb"] === "1");
    expect(pub).toHaveLength(2);
    expectDeletedBefore(rec, gatewayLoadBalancer(rec), pub);
  });
});

describe("teardown order: local (existing-cluster substrate)", () => {
  let run: StackRun;
  let rec: ResourceRecorder;
  beforeAll(async () => {
    run = await runShippedStack("local");
    rec = run.recorder;
  });

  /** `substrate.ready` of the existing-cluster substrate: data NetworkPolicies, object store, Postgres. */
  function clusterSubstrateReady(): RecordedResource[] {
    const sub = (r: RecordedResource) => inSubstrate(rec, r);
    return [
      ...rec.ofType(T.networkPolicy).filter(sub),
      ...rec.ofType(T.release).filter((r) => sub(r) && r.name.endsWith("object-store-release")),
      ...rec.ofType(T.job).filter((r) => sub(r) && r.name.endsWith("object-store-buckets")),
      rec.one(T.cnpgCluster),
      ...rec.ofType(T.cnpgDatabase),
    ];
  }

  it("GIVEN the shipped config WHEN the program runs under mocks THEN it completes", () => {
    expect(run.error).toBeUndefined();
  });

  it("THEN the gateway's LoadBalancer Service is deleted before Postgres, its database and the object store", () => {
    const lb = gatewayLoadBalancer(rec);
    const db = rec.ofType(T.cnpgDatabase).filter((d) => d.inputs.spec?.name === "gateway");
    expect(db).toHaveLength(1);
    expectDeletedBefore(rec, lb, [
      rec.one(T.cnpgCluster),
      ...db,
      rec.one(T.release, "substrate-object-store-release"),
      rec.one(T.job, "substrate-object-store-buckets"),
    ]);
  });

  it("THEN every platform resource is deleted before everything in substrate.ready", () => {
    const ready = clusterSubstrateReady();
    expect(ready.length).toBeGreaterThan(3);
    const platform = platformResources(rec);
    expect(platform.length).toBeGreaterThan(0);
    for (const r of platform) expectDeletedBefore(rec, r, ready);
  });
});
