/**
 * prod-data-protection: in prod, data stores survive a `pulumi destroy` and a careless delete:
 * they are `protect`ed, databases have deletion protection and take a final snapshot, buckets
 * are never force-destroyed with their contents, and the keys that encrypt them are protected.
 */
import { type Props, BUCKET_TYPES, isTrue, packConfig, quote, resourceRule, violation } from "../lib";

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

/** An RDS snapshot identifier: a letter, then letters, digits and single hyphens, at most 255. */
const SNAPSHOT_ID = /^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}$/;

export const prodDataProtection = resourceRule({
  name: RULE,
  description: "Prod data stores are protected, have deletion protection and take final snapshots.",
  configKeys: ["profile"],
  appliesTo: (type) => DATA_STORE_TYPES.includes(type),
  check: (args, reportViolation) => {
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
      if (p.skipFinalSnapshot !== false && p.skipFinalSnapshot !== "false")
        report(`has skipFinalSnapshot ${quote(p.skipFinalSnapshot)}`, "set skipFinalSnapshot: false");
      const snap = p.finalSnapshotIdentifier;
      if (typeof snap !== "string" || !SNAPSHOT_ID.test(snap) || snap.endsWith("-"))
        report(
          `has finalSnapshotIdentifier ${quote(snap)}, not a snapshot identifier`,
          "set finalSnapshotIdentifier to a letter followed by letters, digits and single hyphens (e.g. `${name}-final`)",
        );
    }
    if (BUCKET_TYPES.includes(args.type) && isTrue(p.forceDestroy))
      report(
        `has forceDestroy ${quote(p.forceDestroy)}, which deletes every object on destroy`,
        "set forceDestroy: false in prod",
      );
  },
});
