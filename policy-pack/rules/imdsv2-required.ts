/**
 * imdsv2-required: instances only answer session-token (IMDSv2) metadata requests, and pods
 * cannot reach the node's metadata through an extra network hop.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { type Props, quote, violation } from "../lib";

export const RULE = "imdsv2-required";

const FIX = 'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 or 2 }';

export const imdsv2Required: ResourceValidationPolicy = {
  name: RULE,
  description:
    "EC2 instances and launch templates require IMDSv2; EKS node groups use such a launch template.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const p = args.props as Props;
    const where = `${args.type} ${quote(args.name)}`;
    if (args.type === "aws:ec2/launchTemplate:LaunchTemplate" || args.type === "aws:ec2/instance:Instance") {
      const m = p.metadataOptions;
      if (m?.httpEndpoint === "disabled") return;
      if (m?.httpTokens !== "required")
        reportViolation(
          violation(RULE, `${where} has metadataOptions.httpTokens ${quote(m?.httpTokens)}`, FIX),
        );
      else if (m.httpPutResponseHopLimit !== undefined && Number(m.httpPutResponseHopLimit) > 2)
        reportViolation(
          violation(RULE, `${where} has httpPutResponseHopLimit ${quote(m.httpPutResponseHopLimit)}`, FIX),
        );
    }
    if (args.type === "aws:eks/nodeGroup:NodeGroup" && !p.launchTemplate?.id && !p.launchTemplate?.name) {
      reportViolation(
        violation(
          RULE,
          `${where} has no launch template, so IMDS settings are the AMI's defaults`,
          "give the node group a launchTemplate that sets httpTokens required",
        ),
      );
    }
  },
};
