/**
 * Regenerates the pinned AWS catalog (stacks/config/catalog/aws.json) from the AWS APIs:
 * `npm run -s catalog:aws [-- --region us-east-1]`.
 *
 * Needs the AWS CLI v2 on PATH, network access and credentials allowed to call
 * ec2:DescribeRegions, ec2:DescribeAvailabilityZones, ec2:DescribeInstanceTypes and
 * rds:DescribeOrderableDBInstanceOptions. Regions the account has not opted into cannot be asked
 * for their zones: their pinned entry is kept and named in the output. Instance types are those
 * offered in `--region` (default us-east-1, where AWS launches types first). Writes the file
 * formatted (prettier) with today's date; review the diff before committing it.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import type { AwsCatalog } from "../stacks/config/catalog/aws";
import { asksHelp, HelpRequested, runMain, UsageError } from "./lib/cli";

const FILE = path.resolve(__dirname, "../stacks/config/catalog/aws.json");
const USAGE = "usage: npm run -s catalog:aws [-- --region <region to list instance types in>]";

function aws(args: string[]): unknown {
  let out: string;
  try {
    out = execFileSync("aws", [...args, "--output", "json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === "ENOENT") throw new UsageError("the AWS CLI (aws) is not on PATH: install AWS CLI v2");
    throw new Error(
      `aws ${args.slice(0, 2).join(" ")} failed: ${(err.stderr ?? err.message).trim().split("\n")[0]}`,
    );
  }
  return JSON.parse(out) as unknown;
}

/** `m7i.xlarge`, ... → `{ m7i: ["xlarge", ...] }`, families and sizes sorted. */
function byFamily(types: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of types) {
    const i = t.lastIndexOf(".");
    (out[t.slice(0, i)] ??= []).push(t.slice(i + 1));
  }
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((f) => [f, [...new Set(out[f])].sort()]),
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (asksHelp(argv)) throw new HelpRequested();
  const at = argv.indexOf("--region");
  if (argv.some((a, i) => a.startsWith("--") && a !== "--region" && (at < 0 || i !== at + 1)))
    throw new UsageError(`unknown flag in ${argv.join(" ")}`);
  const home = at >= 0 ? argv[at + 1] : "us-east-1";
  if (!home) throw new UsageError("--region needs a value");
  const pinned = JSON.parse(fs.readFileSync(FILE, "utf8")) as AwsCatalog;

  const regions = (
    aws(["ec2", "describe-regions", "--all-regions", "--region", home]) as {
      Regions: { RegionName: string; OptInStatus: string }[];
    }
  ).Regions;
  const azs: Record<string, number> = {};
  const kept: string[] = [];
  for (const r of regions.map((x) => x.RegionName).sort()) {
    try {
      const zones = (
        aws([
          "ec2",
          "describe-availability-zones",
          "--region",
          r,
          "--filters",
          "Name=opt-in-status,Values=opt-in-not-required",
          "Name=zone-type,Values=availability-zone",
        ]) as { AvailabilityZones: unknown[] }
      ).AvailabilityZones;
      azs[r] = zones.length;
    } catch {
      if (pinned.regions[r] !== undefined) azs[r] = pinned.regions[r];
      kept.push(r);
    }
  }
  const ec2 = aws([
    "ec2",
    "describe-instance-types",
    "--region",
    home,
    "--query",
    "InstanceTypes[].InstanceType",
  ]) as string[];
  const rds = aws([
    "rds",
    "describe-orderable-db-instance-options",
    "--engine",
    "postgres",
    "--region",
    home,
    "--query",
    "OrderableDBInstanceOptions[].DBInstanceClass",
  ]) as string[];
  const catalog: AwsCatalog = {
    date: new Date().toISOString().slice(0, 10),
    source: `AWS APIs (ec2 DescribeRegions/DescribeAvailabilityZones per region; DescribeInstanceTypes and RDS DescribeOrderableDBInstanceOptions for postgres in ${home}), by scripts/refresh-aws-catalog.ts`,
    regions: azs,
    ec2InstanceTypes: byFamily(ec2),
    rdsInstanceClasses: byFamily(rds),
  };
  const text = await prettier.format(JSON.stringify(catalog), { parser: "json", printWidth: 110 });
  fs.writeFileSync(FILE, text);
  console.log(
    `wrote ${FILE}: ${Object.keys(azs).length} regions, ${ec2.length} EC2 types, ${rds.length} RDS classes${kept.length > 0 ? `; kept the pinned zone counts of ${kept.join(", ")} (not opted in)` : ""}`,
  );
}

runMain("catalog:aws", USAGE, main);
