/**
 * `npm run -s cost`: the arithmetic on fixed inputs (a price table of round numbers, computed
 * by hand), and, at the seam with the program itself, that every resource type every shipped
 * stack registers (under the mocks) is priced, free or explicitly unpriced, and that the counts
 * the estimate prices are the counts the program registers.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { rawFromStackFile, shippedStacks, stackFile } from "../../stacks/config/load";
import { parseConfig } from "../../stacks/config/validate";
import { estimate } from "../../scripts/cost/estimate";
import { PRICES, pricingOf, type RegionPrices } from "../../scripts/cost/prices";
import { runShippedStack } from "../helpers/stack";

const ROOT = path.resolve(__dirname, "../..");

const ROUND: RegionPrices = {
  eksControlPlane: 0.1,
  natGatewayHour: 0.05,
  natGatewayGb: 0.01,
  publicIpv4Hour: 0.005,
  interfaceEndpointHour: 0.01,
  ec2: { "m7i.xlarge": 0.2, "g6.48xlarge": 10, "g6e.48xlarge": 20 },
  rds: { "db.t4g.medium": 0.1 },
  rdsStorageGbMonth: 0.1,
  s3StandardGbMonth: 0.02,
  logsIngestGb: 0.5,
  logsStoreGbMonth: 0.03,
  kmsKeyMonth: 1,
};

const config = (stack: string) => parseConfig(rawFromStackFile(stackFile(stack)).raw);

describe("cost estimate arithmetic (aws-dev, fixed round prices)", () => {
  const e = estimate(
    "aws-dev",
    config("aws-dev"),
    { "eu-central-1": ROUND },
    {
      s3Gb: 100,
      logsGb: 10,
      natGb: 50,
      tokens: { research: 3_000_000, support: 1_000_000 },
    },
  );
  const line = (c: string) => e.lines.find((l) => l.component === c)!;

  it("GIVEN round prices WHEN estimated THEN each component is the hand-computed figure", () => {
    const got = Object.fromEntries(
      e.lines.map((l) => [l.component, [l.min, l.max].map((n) => n!.toFixed(2))]),
    );
    expect(got).toEqual({
      "control plane": ["73.00", "73.00"], // 730 h × 0.10
      "NAT gateways": ["40.65", "40.65"], // 1 × 730 × (0.05 + 0.005) + 50 GB × 0.01
      "VPC endpoints": ["160.60", "160.60"], // 11 × 2 AZs × 730 × 0.01
      "system nodes": ["292.00", "584.00"], // 2..4 × 730 × 0.2
      "GPU pool serving-l4 (on-demand)": ["7300.00", "7300.00"], // guard + embedding at min = 2 GPUs → one 8-GPU node
      "GPU pool serving-l4 (spot)": ["2920.00", "2920.00"], // × 0.4
      "GPU pool training-l40s (on-demand)": ["0.00", "14600.00"], // 0..1 × 730 × 20
      "GPU pool training-l40s (spot)": ["0.00", "5840.00"],
      RDS: ["75.00", "75.00"], // single-AZ in dev: 730 × 0.1 + 20 GiB × 0.1
      "S3 storage": ["2.00", "2.00"],
      logs: ["5.30", "5.30"], // 10 GB × (0.5 + 0.03)
      "KMS keys": ["5.00", "5.00"],
    });
    // serving on-demand and training spot, as configured, counted once each
    expect(e.total.min.toFixed(2)).toBe("7953.55");
    expect(e.total.max.toFixed(2)).toBe("14085.55");
  });

  it("GIVEN team quotas and token counts WHEN charged back THEN GPU-hours, training cost and serving share follow", () => {
    const t = Object.fromEntries(e.teams.map((x) => [x.team, x]));
    // research: nominal 4, borrowing 4; spot L40S GPU-hour = 20 / 8 × 0.4 = 1.00
    expect(t.research.trainingGpuHours).toEqual({ min: 2920, max: 5840 });
    expect(t.research.trainingCost).toEqual({ min: 2920, max: 5840 });
    expect(t.support.trainingGpuHours).toEqual({ min: 1460, max: 2920 });
    expect(t.research.servingShare).toBe(0.75);
    expect(t.research.servingCost!.min.toFixed(2)).toBe("5475.00");
    expect(t.support.servingCost!.max.toFixed(2)).toBe("1825.00");
    expect(line("GPU pool serving-l4 (on-demand)").detail).toContain("as configured");
  });

  it("GIVEN a region without pinned prices WHEN estimated THEN every line says unpriced and nothing is invented", () => {
    const none = estimate("aws-dev", config("aws-dev"), {});
    expect(none.lines.every((l) => l.min === undefined && /no pinned price/.test(l.why!))).toBe(true);
    expect(none.total).toEqual({ min: 0, max: 0 });
  });
});

describe.each(shippedStacks())("cost coverage of the shipped stack %s", (stack) => {
  it("GIVEN the program run under mocks WHEN its resource types are listed THEN each is priced, free or unpriced, and the priced counts match", async () => {
    const run = await runShippedStack(stack);
    expect(run.error).toBeUndefined();
    const types = [...new Set(run.recorder.resources.map((r) => r.type))].sort();
    expect(types.filter((t) => pricingOf(t) === undefined)).toEqual([]);
    const e = estimate(stack, config(stack), PRICES);
    const components = new Set(e.lines.map((l) => l.component.replace(/^GPU pool .*/, "GPU pools")));
    for (const t of types) {
      const p = pricingOf(t)!;
      if ("priced" in p) expect(components, t).toContain(p.priced);
    }
    const count = (t: string) => run.recorder.ofType(t).length;
    if (config(stack).substrate.kind !== "aws") {
      expect(e.lines).toEqual([]);
      return;
    }
    const detail = (c: string) => e.lines.find((l) => l.component === c)!.detail;
    expect(detail("NAT gateways")).toMatch(new RegExp(`^${count("aws:ec2/natGateway:NatGateway")} NAT`));
    const iface = run.recorder
      .ofType("aws:ec2/vpcEndpoint:VpcEndpoint")
      .filter((r) => r.inputs.vpcEndpointType === "Interface");
    expect(detail("VPC endpoints")).toMatch(new RegExp(`^${iface.length} interface endpoints`));
    const subnets = new Set(iface.flatMap((r) => r.inputs.subnetIds as string[]));
    expect(detail("VPC endpoints")).toContain(`× ${subnets.size} AZs`);
    const ng = run.recorder.ofType("aws:eks/nodeGroup:NodeGroup")[0].inputs as {
      instanceTypes: string[];
      scalingConfig: { minSize: number; maxSize: number };
    };
    expect(detail("system nodes")).toBe(
      `${ng.scalingConfig.minSize}..${ng.scalingConfig.maxSize} × ${ng.instanceTypes[0]}, on-demand`,
    );
    expect(e.lines.filter((l) => l.component.startsWith("GPU pool ")).length).toBe(
      2 * count("kubernetes:karpenter.sh/v1:NodePool"),
    );
    expect(detail("KMS keys")).toBe(`${count("aws:kms/key:Key")} customer-managed keys`);
    const db = run.recorder.ofType("aws:rds/instance:Instance")[0].inputs as {
      instanceClass: string;
      multiAz: boolean;
      allocatedStorage: number;
    };
    expect(detail("RDS")).toBe(
      `${db.instanceClass}${db.multiAz ? " Multi-AZ" : ""}, ${db.allocatedStorage} GiB gp3`,
    );
  });
});

describe("npm run -s cost", () => {
  const cost = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "scripts/cost.ts", ...args], {
      cwd: ROOT,
      encoding: "utf8",
    });

  it("GIVEN a shipped stack WHEN run THEN it prints the table with the price source and date", () => {
    const r = cost("aws-prod");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Monthly estimate for aws-prod \(eu-central-1\), USD, 730 h\/month\nPrices: .+, as of \d{4}-\d{2}-\d{2}/,
    );
    expect(r.stdout).toContain("Per team (chargeback):");
  });

  it("GIVEN a stack name that walks out of stacks/ WHEN run THEN it is refused in one line, exit 2; an explicit path to a stack file still works", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sovereign-cost-"));
    try {
      fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.local.yaml"), path.join(dir, "Pulumi.copy.yaml"));
      const walk = `a/${"../".repeat(ROOT.split("/").length + 2)}${dir.slice(1)}/Pulumi.copy`;
      const r = cost(walk);
      expect(r.stdout).toBe("");
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.split("\n")[0]).toMatch(/^cost: ".*" is not a stack name \(letters, digits/);
      const ok = cost(path.join(dir, "Pulumi.copy.yaml"));
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^Monthly estimate for copy,/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("GIVEN bad arguments WHEN run THEN one clear line, exit 2, no stack trace", () => {
    for (const [args, msg] of [
      [[], /expected exactly one stack name/],
      [["nope"], /no stack "nope"/],
      [["aws-dev", "--s3-gb", "lots"], /--s3-gb: expected a number/],
      [["aws-dev", "--s3-gb", " "], /--s3-gb: expected a number of GB ≥ 0, found " "/],
      [["aws-dev", "--logs-gb", "0x10"], /--logs-gb: expected a number of GB ≥ 0, found "0x10"/],
      [["aws-dev", "--nat-gb", "1e3"], /--nat-gb: expected a number/],
      [["aws-dev", "--tokens", "research=1,research=2"], /--tokens: team "research" is given twice/],
      [["aws-dev", "--tokens", "ghosts=5"], /--tokens: no team "ghosts"/],
      [["aws-dev", "--colour"], /unknown flag --colour/],
    ] as [string[], RegExp][]) {
      const r = cost(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.split("\n")[0]).toMatch(new RegExp(`^cost: .*${msg.source}`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
