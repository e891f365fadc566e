/**
 * prod-data-protection: in prod, data stores survive a `pulumi destroy` and a careless delete:
 * they are `protect`ed, databases have deletion protection and take a final snapshot, buckets
 * are never force-destroyed with their contents, and the keys that encrypt them are protected.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { type Props, BUCKET_TYPES, configSchema, isTrue, packConfig, quote, violation } from "../lib";

export const RULE = "prod-data-protection";

const DATABASES = ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster"];

/** Every type that holds (or unlocks) data and must carry `protect` in prod. */
export const DATA_STORE_TYPES = [
  ...DATABASES,
  ...BUCKET_TYPES,
  "aws:efs/fileSystem:FileSystem",
  "aws:kms/key:Key",
  "kubernetes:postgresql.cnpg.io/v1:Cluster",
];

export const prodDataProtection: ResourceValidationPolicy = {
  name: RULE,
  description: "Prod data stores are protected, have deletion protection and take final snapshots.",
  enforcementLevel: "mandatory",
  configSchema: configSchema("profile"),
  validateResource: (args, reportViolation) => {
    if (!DATA_STORE_TYPES.includes(args.type)) return;
    if (packConfig(args).profile !== "prod") return;
    const p = args.props as Props;
    const where = `${args.type} ${quote(args.name)}`;
    const report = (what: string, fix: string) => reportViolation(violation(RULE, `${where} ${what}`, fix));
    if (args.opts?.protect !== true)
      report(
        `is a prod data store without protect (opts.protect ${quote(args.opts?.protect)})`,
        "create it with { protect: true } (the prod profile's protectData); never drop protect to delete data, run `pulumi state unprotect` deliberately",
      );
    if (DATABASES.includes(args.type)) {
      if (!isTrue(p.deletionProtection))
        report(`has deletionProtection ${quote(p.deletionProtection)}`, "set deletionProtection: true");
      if (isTrue(p.skipFinalSnapshot))
        report(`has skipFinalSnapshot ${quote(p.skipFinalSnapshot)}`, "set skipFinalSnapshot: false");
      if (!p.finalSnapshotIdentifier)
        report("names no finalSnapshotIdentifier", "set finalSnapshotIdentifier (e.g. `${name}-final`)");
    }
    if (BUCKET_TYPES.includes(args.type) && isTrue(p.forceDestroy))
      report(
        `has forceDestroy ${quote(p.forceDestroy)}, which deletes every object on destroy`,
        "set forceDestroy: false in prod",
      );
  },
};
