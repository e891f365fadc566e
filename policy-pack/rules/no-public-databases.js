"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.noPublicDatabases = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "no-public-databases";
const RDS_TYPES = ["aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"];
const DB_PORTS = [5432, 3306, 6379, 27017];
exports.noPublicDatabases = {
    name: exports.RULE,
    description: "Databases are private: no publicly accessible RDS, no database port on an external Service.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const p = args.props;
        if (RDS_TYPES.includes(args.type) && (0, lib_1.isTrue)(p.publiclyAccessible)) {
            reportViolation((0, lib_1.violation)(exports.RULE, `${args.type} ${(0, lib_1.quote)(args.name)} has publiclyAccessible ${(0, lib_1.quote)(p.publiclyAccessible)}`, "set publiclyAccessible: false and reach it through the VPC"));
        }
        if (args.type === "kubernetes:core/v1:Service" && ["LoadBalancer", "NodePort"].includes(p.spec?.type)) {
            const ports = (p.spec?.ports ?? []).filter((x) => DB_PORTS.includes(Number(x.port)) || DB_PORTS.includes(Number(x.targetPort)));
            if (ports.length > 0)
                reportViolation((0, lib_1.violation)(exports.RULE, `Service ${(0, lib_1.quote)(args.name)} of type ${(0, lib_1.quote)(p.spec.type)} exposes database port ${(0, lib_1.quote)(ports[0].port)}`, "use type ClusterIP for database Services"));
        }
    },
};
