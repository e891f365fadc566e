"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.requiredTags = exports.TAGGED_TYPES = exports.RULE = void 0;
const lib_1 = require("../lib");
exports.RULE = "required-tags";
/** Taggable AWS types the kit creates (cost and ownership matter for each). */
exports.TAGGED_TYPES = [
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
exports.requiredTags = {
    name: exports.RULE,
    description: "Taggable AWS resources carry owner, cost-center and data-classification.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!exports.TAGGED_TYPES.includes(args.type))
            return;
        const tags = (0, lib_1.effectiveTags)(args.props, args.provider);
        const missing = lib_1.REQUIRED_TAGS.filter((t) => typeof tags[t] !== "string" || tags[t] === "");
        if (missing.length > 0)
            reportViolation((0, lib_1.violation)(exports.RULE, `${args.type} ${(0, lib_1.quote)(args.name)} lacks tags ${(0, lib_1.quote)(missing)} (has ${(0, lib_1.quote)(Object.keys(tags))})`, "set the tags from config `tags` (cloudTags() in components/lib/labels.ts), or as the provider's defaultTags"));
    },
};
