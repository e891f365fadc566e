/**
 * no-public-databases: no database is reachable from the internet: RDS instances are not
 * publicly accessible, and no Kubernetes Service exposes a PostgreSQL port outside the cluster.
 */
import { type Props, quote, resourceRule, violation } from "../lib";

export const RULE = "no-public-databases";

const RDS_TYPES = ["aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"];
const DB_PORTS = [5432, 3306, 6379, 27017];

export const noPublicDatabases = resourceRule({
  name: RULE,
  description: "Databases are private: no publicly accessible RDS, no database port on an external Service.",
  appliesTo: (type) => RDS_TYPES.includes(type) || type === "kubernetes:core/v1:Service",
  check: (args, reportViolation) => {
    const p = args.props as Props;
    // The value, not its presence: anything but false (or "false") is public, and unset is
    // false only because the provider defaults it so.
    const pa = p.publiclyAccessible;
    if (RDS_TYPES.includes(args.type) && pa !== undefined && pa !== false && pa !== "false") {
      reportViolation(
        violation(
          RULE,
          `${args.type} ${quote(args.name)} has publiclyAccessible ${quote(p.publiclyAccessible)}`,
          "set publiclyAccessible: false and reach it through the VPC",
        ),
      );
    }
    if (args.type === "kubernetes:core/v1:Service" && ["LoadBalancer", "NodePort"].includes(p.spec?.type)) {
      const ports = ((p.spec?.ports ?? []) as Props[]).filter(
        (x) => DB_PORTS.includes(Number(x.port)) || DB_PORTS.includes(Number(x.targetPort)),
      );
      if (ports.length > 0)
        reportViolation(
          violation(
            RULE,
            `Service ${quote(args.name)} of type ${quote(p.spec.type)} exposes database port ${quote(ports[0].port)}`,
            "use type ClusterIP for database Services",
          ),
        );
    }
  },
});
