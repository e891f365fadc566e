/**
 * required-tags: every taggable AWS resource carries owner, cost-center and data-classification,
 * either itself or through its provider's default tags.
 */
import { CLASSIFICATIONS, REQUIRED_TAGS, effectiveTags, quote, resourceRule, violation } from "../lib";

export const RULE = "required-tags";

/** Taggable AWS types the kit creates (cost and ownership matter for each). */
export const TAGGED_TYPES = [
  "aws:s3/bucket:Bucket",
  "aws:s3/bucketV2:BucketV2",
  "aws:rds/instance:Instance",
  "aws:rds/cluster:Cluster",
  "aws:rds/subnetGroup:SubnetGroup",
  "aws:eks/cluster:Cluster",
  "aws:eks/nodeGroup:NodeGroup",
  "aws:ec2/vpc:Vpc",
  "aws:ec2/subnet:Subnet",
  "aws:ec2/securityGroup:SecurityGroup",
  "aws:ec2/internetGateway:InternetGateway",
  "aws:ec2/natGateway:NatGateway",
  "aws:ec2/eip:Eip",
  "aws:ec2/routeTable:RouteTable",
  "aws:ec2/vpcEndpoint:VpcEndpoint",
  "aws:ec2/launchTemplate:LaunchTemplate",
  "aws:ec2/instance:Instance",
  "aws:ebs/volume:Volume",
  "aws:kms/key:Key",
  "aws:iam/role:Role",
  "aws:cloudwatch/logGroup:LogGroup",
  "aws:secretsmanager/secret:Secret",
  "aws:ecr/repository:Repository",
  "aws:efs/fileSystem:FileSystem",
  "aws:lb/loadBalancer:LoadBalancer",
  "aws:sqs/queue:Queue",
  "aws:sns/topic:Topic",
];

export const requiredTags = resourceRule({
  name: RULE,
  description:
    "Taggable AWS resources carry owner, cost-center and a data-classification that is one of the kit's levels.",
  appliesTo: (type) => TAGGED_TYPES.includes(type),
  check: (args, reportViolation) => {
    const tags = effectiveTags(args.props, args.provider);
    const missing = REQUIRED_TAGS.filter((t) => typeof tags[t] !== "string" || tags[t].trim() === "");
    const level = tags["data-classification"];
    if (typeof level === "string" && level.trim() !== "" && !CLASSIFICATIONS.includes(level as never))
      reportViolation(
        violation(
          RULE,
          `${args.type} ${quote(args.name)} has data-classification ${quote(level)}, not one of ${quote(CLASSIFICATIONS)}`,
          "set tags.data-classification (config `tags`) to public, internal, confidential or restricted",
        ),
      );
    if (missing.length > 0)
      reportViolation(
        violation(
          RULE,
          `${args.type} ${quote(args.name)} lacks tags ${quote(missing)} (has ${quote(Object.keys(tags))})`,
          "set the tags from config `tags` (cloudTags() in components/lib/labels.ts), or as the provider's defaultTags",
        ),
      );
  },
});
