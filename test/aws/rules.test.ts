/**
 * Bad input on the aws substrate: one ConfigError that lists every problem, each at its
 * config path and quoting the bad value.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../stacks/config/errors";
import { rawFromStackFile, stackFile } from "../../stacks/config/load";
import { parseConfig, validateConfig } from "../../stacks/config/validate";

const shipped = (stack: string): Record<string, any> =>
  structuredClone(rawFromStackFile(stackFile(stack)).raw) as Record<string, any>;
const issuesOf = (raw: unknown) => {
  const r = validateConfig(raw);
  return r.ok ? [] : r.issues;
};
const paths = (raw: unknown) => issuesOf(raw).map((i) => i.path);

describe("aws config rules: everything wrong at once", () => {
  it("GIVEN a prod config with many AWS mistakes WHEN parsed THEN one ConfigError lists each of them", () => {
    const raw = shipped("aws-prod");
    raw.network.cidr = "10.50.0.0/33"; // invalid
    raw.network.azCount = 2; // fewer than prod needs
    raw.gpuPools[0].instanceFamilies = ["g6e", "x9"]; // unknown family
    raw.gpuPools[1].minGpus = 8; // removed key
    raw.eks.endpointPublicAccess = true;
    raw.eks.publicAccessCidrs = ["0.0.0.0/0", "198.51.100.0/24", "198.51.100.128/25"]; // world in prod + overlap
    raw.eks.systemNodes = { instanceType: "m7i.xlarge", min: 4, max: 2 };
    let err: unknown;
    try {
      parseConfig(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    const at = (p: string) => issues.filter((i) => i.path === `sovereign:${p}`).map((i) => i.message);
    expect(at("network.cidr").join(" ")).toContain('"10.50.0.0/33"');
    expect(at("network.azCount").join(" ")).toContain("at least 3 AZs in prod, found 2");
    expect(at("gpuPools[0].instanceFamilies[1]").join(" ")).toContain('"x9"');
    expect(at("gpuPools[1].minGpus").join(" ")).toContain("was removed");
    expect(at("eks.publicAccessCidrs[0]").join(" ")).toContain('"0.0.0.0/0"');
    expect(at("eks.publicAccessCidrs[2]").join(" ")).toContain('"198.51.100.128/25" overlapping');
    expect(at("eks.systemNodes.max").join(" ")).toContain("found 2");
    expect((err as ConfigError).message).toContain(`the stack config has ${issues.length} problems`);
  });
});

describe("aws config rules: one at a time", () => {
  const cases: [string, (r: Record<string, any>) => void, string, string][] = [
    [
      "a VPC overlapping the service CIDR",
      (r) => (r.network.cidr = "172.20.0.0/16"),
      "network.cidr",
      "172.20.0.0/16",
    ],
    ["a public VPC range", (r) => (r.network.cidr = "8.8.0.0/16"), "network.cidr", '"8.8.0.0/16"'],
    ["host bits set", (r) => (r.network.cidr = "10.50.1.0/16"), "network.cidr", '"10.50.1.0/16"'],
    ["a too small VPC", (r) => (r.network.cidr = "10.50.0.0/24"), "network.cidr", "/24"],
    [
      "an allowlist entry inside the VPC",
      (r) => {
        r.eks.endpointPublicAccess = true;
        r.eks.publicAccessCidrs = ["10.50.0.0/24"];
      },
      "eks.publicAccessCidrs[0]",
      '"10.50.0.0/24"',
    ],
    ["a version without pinned addons", (r) => (r.eks.version = "1.29"), "eks.version", '"1.29"'],
    [
      "a pool mixing GPU types",
      (r) => (r.gpuPools[0].instanceFamilies = ["g6", "g6e"]),
      "gpuPools[0].instanceFamilies",
      "nvidia-l4, nvidia-l40s",
    ],
    [
      "private egress with a public load balancer",
      (r) => (r.network.publicLoadBalancer = true),
      "network.publicLoadBalancer",
      'egress "private"',
    ],
    [
      "credentials for a registry that needs none",
      (r) =>
        (r.network.registryCredentialArns = {
          "quay.io": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ecr-pullthroughcache/quay-x",
        }),
      "network.registryCredentialArns.quay.io",
      '"quay.io"',
    ],
    [
      "a public endpoint without allowlist",
      (r) => (r.eks.endpointPublicAccess = true),
      "eks.publicAccessCidrs",
      "found nothing",
    ],
    [
      "half the internet as a prod allowlist",
      (r) => {
        r.eks.endpointPublicAccess = true;
        r.eks.publicAccessCidrs = ["203.0.113.0/24", "128.0.0.0/1"];
      },
      "eks.publicAccessCidrs[1]",
      'a /8 or longer prefix), found "128.0.0.0/1"',
    ],
    [
      "a system node maximum below the prod default minimum",
      (r) => (r.eks.systemNodes = { instanceType: "m7i.xlarge", max: 1 }),
      "eks.systemNodes.max",
      "expected >= min (3, the prod default), found 1",
    ],
    [
      "the removed GPU minimum (no substrate kept one)",
      (r) => (r.gpuPools[0].minGpus = 4),
      "gpuPools[0].minGpus",
      "was removed: no substrate kept a minimum of GPUs (Karpenter keeps none, an existing cluster's nodes are there anyway); delete the key, and hold warm capacity with a model's replicas.min",
    ],
    [
      "a day of backups in prod",
      (r) => (r.database.backupRetentionDays = 1),
      "database.backupRetentionDays",
      "expected at least 7 days of backups in prod, found 1",
    ],
  ];
  for (const [what, mutate, path, quoted] of cases) {
    it(`GIVEN ${what} WHEN validated THEN sovereign:${path} is reported quoting the value`, () => {
      const raw = shipped("aws-prod");
      mutate(raw);
      const found = issuesOf(raw).filter((i) => i.path === `sovereign:${path}`);
      expect(found.map((i) => i.message).join(" | ")).toContain(quoted);
    });
  }

  it("GIVEN dev WHEN a narrow allowlist, one day of backups and a lone system-node max of 2 are set THEN nothing is reported", () => {
    const raw = shipped("aws-dev");
    raw.eks.publicAccessCidrs = ["11.0.0.0/8"];
    raw.database = { ...(raw.database ?? {}), backupRetentionDays: 1 };
    raw.eks.systemNodes = { instanceType: "m7i.xlarge", max: 2 };
    expect(paths(raw)).toEqual([]);
  });

  it("GIVEN the shipped aws stacks WHEN validated THEN they raise none of these", () => {
    expect(paths(shipped("aws-dev"))).toEqual([]);
    expect(paths(shipped("aws-prod"))).toEqual([]);
  });

  it("GIVEN the existing-cluster substrate WHEN aws-only fields are odd THEN the aws rules stay silent", () => {
    const raw = shipped("local");
    raw.network = { cidr: "172.20.0.0/16" };
    expect(paths(raw).filter((p) => p.startsWith("sovereign:network"))).toEqual([]);
  });
});
