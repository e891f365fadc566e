/**
 * imdsv2-required: instances only answer session-token (IMDSv2) metadata requests, and pods
 * cannot reach the node's metadata through an extra network hop.
 */
import { type Props, quote, resourceRule, violation } from "../lib";

export const RULE = "imdsv2-required";

const FIX = 'set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 or 2 }';

const TYPES = [
  "aws:ec2/launchTemplate:LaunchTemplate",
  "aws:ec2/instance:Instance",
  "aws:eks/nodeGroup:NodeGroup",
];

const nonEmpty = (v: unknown) => typeof v === "string" && v.trim() !== "";

export const imdsv2Required = resourceRule({
  name: RULE,
  description:
    "EC2 instances and launch templates require IMDSv2; EKS node groups use such a launch template.",
  appliesTo: (type) => TYPES.includes(type),
  check: (args, reportViolation) => {
    const p = args.props as Props;
    const where = `${args.type} ${quote(args.name)}`;
    if (args.type === "aws:ec2/launchTemplate:LaunchTemplate" || args.type === "aws:ec2/instance:Instance") {
      const m = p.metadataOptions;
      if (m?.httpEndpoint === "disabled") return;
      if (m?.httpEndpoint !== undefined && m.httpEndpoint !== "enabled")
        reportViolation(
          violation(RULE, `${where} has metadataOptions.httpEndpoint ${quote(m.httpEndpoint)}`, FIX),
        );
      if (m?.httpTokens !== "required")
        reportViolation(
          violation(RULE, `${where} has metadataOptions.httpTokens ${quote(m?.httpTokens)}`, FIX),
        );
      else if (
        m.httpPutResponseHopLimit !== undefined &&
        !(
          Number.isInteger(Number(m.httpPutResponseHopLimit)) &&
          [1, 2].includes(Number(m.httpPutResponseHopLimit))
        )
      )
        reportViolation(
          violation(RULE, `${where} has httpPutResponseHopLimit ${quote(m.httpPutResponseHopLimit)}`, FIX),
        );
    }
    if (
      args.type === "aws:eks/nodeGroup:NodeGroup" &&
      !nonEmpty(p.launchTemplate?.id) &&
      !nonEmpty(p.launchTemplate?.name)
    ) {
      reportViolation(
        violation(
          RULE,
          `${where} has launchTemplate ${quote(p.launchTemplate)}, so IMDS settings are the AMI's defaults`,
          "give the node group a launchTemplate that sets httpTokens required",
        ),
      );
    }
  },
});
