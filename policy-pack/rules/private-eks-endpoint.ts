/**
 * private-eks-endpoint: in prod the EKS API endpoint is private only; in dev a public endpoint
 * needs an allowlist that is not the whole internet.
 */
import { type Props, packConfig, quote, resourceRule, violation } from "../lib";

export const RULE = "private-eks-endpoint";

export const privateEksEndpoint = resourceRule({
  name: RULE,
  description: "The EKS API endpoint is private in prod, and allowlisted when public in dev.",
  configKeys: ["profile"],
  appliesTo: (type) => type === "aws:eks/cluster:Cluster",
  check: (args, reportViolation) => {
    const { profile } = packConfig(args);
    const v = (args.props.vpcConfig ?? {}) as Props;
    const where = `EKS cluster ${quote(args.name)}`;
    // EKS defaults: public access on, private access off.
    const isPublic = v.endpointPublicAccess !== false;
    if (profile === "prod") {
      if (isPublic)
        reportViolation(
          violation(
            RULE,
            `${where} in prod has endpointPublicAccess ${quote(v.endpointPublicAccess)}`,
            "set vpcConfig.endpointPublicAccess: false and endpointPrivateAccess: true (cluster.endpointPublicAccess: false)",
          ),
        );
      if (v.endpointPrivateAccess !== true)
        reportViolation(
          violation(
            RULE,
            `${where} in prod has endpointPrivateAccess ${quote(v.endpointPrivateAccess)}`,
            "set vpcConfig.endpointPrivateAccess: true",
          ),
        );
      return;
    }
    const cidrs = (v.publicAccessCidrs ?? []) as string[];
    if (isPublic && (cidrs.length === 0 || cidrs.includes("0.0.0.0/0")))
      reportViolation(
        violation(
          RULE,
          `${where} has a public endpoint open to ${cidrs.length === 0 ? "0.0.0.0/0 (the default)" : quote(cidrs)}`,
          "set vpcConfig.publicAccessCidrs to your office/VPN CIDRs (cluster.publicAccessCidrs) or make the endpoint private",
        ),
      );
  },
});
