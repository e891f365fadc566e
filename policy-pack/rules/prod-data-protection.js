"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.prodDataProtection = exports.DATA_STORE_TYPES = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "prod-data-protection";
const DATABASES = ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster"];
/** Every type that holds (or unlocks) data and must carry `protect` in prod. */
exports.DATA_STORE_TYPES = [
    ...DATABASES,
    ...lib_1.BUCKET_TYPES,
    "aws:efs/fileSystem:FileSystem",
    "aws:kms/key:Key",
    "kubernetes:postgresql.cnpg.io/v1:Cluster",
];
exports.prodDataProtection = {
    name: exports.RULE,
    description: "Prod data stores are protected, have deletion protection and take final snapshots.",
    enforcementLevel: "mandatory",
    configSchema: (0, lib_1.configSchema)("profile"),
    validateResource: (args, reportViolation) => {
        if (!exports.DATA_STORE_TYPES.includes(args.type))
            return;
        if ((0, lib_1.packConfig)(args).profile !== "prod")
            return;
        const p = args.props;
        const where = `${args.type} ${(0, lib_1.quote)(args.name)}`;
        const report = (what, fix) => reportViolation((0, lib_1.violation)(exports.RULE, `${where} ${what}`, fix));
        if (args.opts?.protect !== true)
            report(`is a prod data store without protect (opts.protect ${(0, lib_1.quote)(args.opts?.protect)})`, "create it with { protect: true } (the prod profile's protectData); never drop protect to delete data, run `pulumi state unprotect` deliberately");
        if (DATABASES.includes(args.type)) {
            if (!(0, lib_1.isTrue)(p.deletionProtection))
                report(`has deletionProtection ${(0, lib_1.quote)(p.deletionProtection)}`, "set deletionProtection: true");
            if ((0, lib_1.isTrue)(p.skipFinalSnapshot))
                report(`has skipFinalSnapshot ${(0, lib_1.quote)(p.skipFinalSnapshot)}`, "set skipFinalSnapshot: false");
            if (!p.finalSnapshotIdentifier)
                report("names no finalSnapshotIdentifier", "set finalSnapshotIdentifier (e.g. `${name}-final`)");
        }
        if (lib_1.BUCKET_TYPES.includes(args.type) && (0, lib_1.isTrue)(p.forceDestroy))
            report(`has forceDestroy ${(0, lib_1.quote)(p.forceDestroy)}, which deletes every object on destroy`, "set forceDestroy: false in prod");
    },
};
