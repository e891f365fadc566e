/**
 * The pinned, offline AWS catalog the config rules check against: regions with the number of
 * availability zones a new account sees there (zones that need no opt-in, as the network code
 * asks for them), EC2 instance types and RDS for PostgreSQL instance classes, by family.
 *
 * It is data (`aws.json`) with a date and its source. `npm run -s catalog:aws` regenerates it
 * from the AWS APIs with the AWS CLI and the operator's credentials (scripts/refresh-aws-catalog.ts);
 * without network access or credentials it cannot run, and the pinned file stays as it is.
 */
import data from "./aws.json";

export interface AwsCatalog {
  /** Day the catalog was written (YYYY-MM-DD). */
  readonly date: string;
  /** Where the figures come from. */
  readonly source: string;
  /** Region → availability zones without opt-in. */
  readonly regions: Readonly<Record<string, number>>;
  /** EC2 instance family → sizes (`m7i` → `xlarge`, ...). */
  readonly ec2InstanceTypes: Readonly<Record<string, readonly string[]>>;
  /** RDS instance class family (`db.t4g`) → sizes. */
  readonly rdsInstanceClasses: Readonly<Record<string, readonly string[]>>;
}

export const AWS_CATALOG: AwsCatalog = data;

/** The command that regenerates the catalog (printed in every finding that may stem from its age). */
export const CATALOG_REFRESH = "npm run -s catalog:aws";

const own = <T>(o: Readonly<Record<string, T>>, k: string): T | undefined =>
  Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;

/** Availability zones of a region, or undefined for a region the catalog does not list. */
export function regionAzCount(region: string, catalog: AwsCatalog = AWS_CATALOG): number | undefined {
  return own(catalog.regions, region);
}

/** Splits `family.size` at its last dot (`db.t4g.medium` → `db.t4g`, `medium`). */
function splitType(t: string): [string, string] | undefined {
  const i = t.lastIndexOf(".");
  return i > 0 && i < t.length - 1 ? [t.slice(0, i), t.slice(i + 1)] : undefined;
}

function inFamilies(t: string, families: Readonly<Record<string, readonly string[]>>): boolean {
  const parts = splitType(t);
  return parts !== undefined && (own(families, parts[0])?.includes(parts[1]) ?? false);
}

export function isEc2InstanceType(t: string, catalog: AwsCatalog = AWS_CATALOG): boolean {
  return inFamilies(t, catalog.ec2InstanceTypes);
}

export function isRdsInstanceClass(t: string, catalog: AwsCatalog = AWS_CATALOG): boolean {
  return inFamilies(t, catalog.rdsInstanceClasses);
}

/** The sizes the catalog lists for the family of `t`, for hints; undefined for an unknown family. */
export function sizesOf(
  t: string,
  kind: "ec2" | "rds",
  catalog: AwsCatalog = AWS_CATALOG,
): readonly string[] | undefined {
  const parts = splitType(t);
  if (!parts) return undefined;
  return own(kind === "ec2" ? catalog.ec2InstanceTypes : catalog.rdsInstanceClasses, parts[0]);
}
