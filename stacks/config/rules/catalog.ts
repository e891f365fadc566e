/**
 * What AWS would refuse, checked against the pinned catalog (`../catalog/aws.json`): a region that
 * does not exist, more AZs than the region has, EC2 and RDS types AWS does not offer, and an
 * `aws:region` provider setting that disagrees with the substrate's region. Each finding that may
 * stem from the catalog's age names its date and the refresh command.
 */
import {
  AWS_CATALOG,
  CATALOG_REFRESH,
  isEc2InstanceType,
  isRdsInstanceClass,
  regionAzCount,
  sizesOf,
} from "../catalog/aws";
import type { ConfigIssue } from "../errors";
import { issue, type Rule } from "./helpers";

const AGE = `the pinned catalog of ${AWS_CATALOG.date}; if AWS added it since, run \`${CATALOG_REFRESH}\``;

function nearest(value: string, known: readonly string[]): string[] {
  const [head] = value.split("-");
  return known.filter((k) => k.startsWith(`${head}-`)).slice(0, 6);
}

export const regionExists: Rule = ({ config }) => {
  const out: ConfigIssue[] = [];
  const known = Object.keys(AWS_CATALOG.regions);
  if (config.substrate.kind === "aws") {
    const r = config.substrate.region;
    if (regionAzCount(r) === undefined) {
      const near = nearest(r, known);
      out.push(
        issue(
          "substrate.region",
          `expected an AWS region${near.length > 0 ? ` (e.g. ${near.join(", ")})` : ""}, found "${r}" which is not in ${AGE}`,
        ),
      );
    }
  }
  (config.policy.allowedRegions ?? []).forEach((r, i) => {
    if (regionAzCount(r) === undefined)
      out.push(
        issue(`policy.allowedRegions[${i}]`, `expected an AWS region, found "${r}" which is not in ${AGE}`),
      );
  });
  return out;
};

/** The network spreads subnets over `azCount` zones of the region: it cannot ask for more than exist. */
export const azCountFitsRegion: Rule = ({ config, settings }) => {
  if (config.substrate.kind !== "aws") return [];
  const zones = regionAzCount(config.substrate.region);
  const n = settings.network.azCount;
  if (zones === undefined || n <= zones) return [];
  return [
    issue(
      "network.azCount",
      `expected at most ${zones} (the availability zones of ${config.substrate.region}${config.network.azCount === undefined ? `; ${n} is the ${config.profile} default` : ""}), found ${n}`,
    ),
  ];
};

export const instanceTypesExist: Rule = ({ config }) => {
  if (config.substrate.kind !== "aws") return [];
  const out: ConfigIssue[] = [];
  const ec2 = config.cluster.systemNodes.instanceType;
  if (!isEc2InstanceType(ec2)) {
    const sizes = sizesOf(ec2, "ec2");
    out.push(
      issue(
        "cluster.systemNodes.instanceType",
        `expected an EC2 instance type like m7i.xlarge${sizes ? ` (sizes of this family: ${sizes.join(", ")})` : ""}, found "${ec2}" which is not in ${AGE}`,
      ),
    );
  }
  const rds = config.database.instanceClass;
  if (!isRdsInstanceClass(rds)) {
    const sizes = sizesOf(rds, "rds");
    out.push(
      issue(
        "database.instanceClass",
        `expected an RDS for PostgreSQL instance class like db.t4g.medium${sizes ? ` (sizes of this family: ${sizes.join(", ")})` : ""}, found "${rds}" which is not in ${AGE}`,
      ),
    );
  }
  return out;
};

/**
 * The substrate creates its own AWS provider in `substrate.region`; an `aws:region` stack setting
 * that says otherwise would send the default provider (and `pulumi` CLI commands that read it)
 * to another region.
 */
export const awsRegionAgrees: Rule = ({ config, awsRegion }) => {
  if (awsRegion === undefined || config.substrate.kind !== "aws") return [];
  if (awsRegion === config.substrate.region) return [];
  return [
    issue(
      "substrate.region",
      `expected the same region as the stack's "aws:region" (${awsRegion}), found "${config.substrate.region}"; set both to one region`,
    ),
  ];
};

export const CATALOG_RULES: Rule[] = [regionExists, azCountFitsRegion, instanceTypesExist, awsRegionAgrees];
