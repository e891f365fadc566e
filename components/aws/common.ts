/**
 * Shared, pure helpers of the AWS substrate components: IAM policy documents, resource
 * options for data stores, name shortening. No resources are created here.
 */
import * as pulumi from "@pulumi/pulumi";

/** Cloud tags applied to every taggable resource (from `cloudTags()`). */
export type Tags = Readonly<Record<string, string>>;

/** One IAM policy statement. Actions are always explicit: never a wildcard. */
export interface Statement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal?: unknown;
  readonly Action: string | readonly string[];
  readonly Resource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly Statement[];
}

/** Builds a policy document; throws when a statement uses a wildcard action. */
export function policyDocument(statements: readonly Statement[]): PolicyDocument {
  const bad = wildcardActions(statements);
  if (bad.length > 0)
    throw new Error(`IAM statements must not use wildcard actions, found ${bad.join(", ")}`);
  return { Version: "2012-10-17", Statement: statements };
}

/** Actions of `statements` that contain a wildcard (`*`, `s3:*`, `ec2:Describe*`). */
export function wildcardActions(statements: readonly Statement[]): string[] {
  return statements.flatMap((s) => [s.Action].flat().filter((a) => a.includes("*") || a.includes("?")));
}

/** JSON of a policy document whose values may be Outputs. */
export function policyJson(statements: readonly Statement[]): pulumi.Output<string> {
  return pulumi.jsonStringify(policyDocument(statements) as unknown as pulumi.Input<object>);
}

/** Trust policy for a role assumed by an AWS service (`eks.amazonaws.com`, ...). */
export function serviceTrust(service: string, sessionTags = false): Statement[] {
  return [
    {
      Effect: "Allow",
      Principal: { Service: service },
      Action: sessionTags ? ["sts:AssumeRole", "sts:TagSession"] : ["sts:AssumeRole"],
    },
  ];
}

/** Trust policy for EKS Pod Identity roles, restricted to the account. */
export function podIdentityTrust(accountId: pulumi.Input<string>): Statement[] {
  return [
    {
      Effect: "Allow",
      Principal: { Service: "pods.eks.amazonaws.com" },
      Action: ["sts:AssumeRole", "sts:TagSession"],
      Condition: { StringEquals: { "aws:SourceAccount": accountId } },
    },
  ];
}

/** Options for data-bearing resources: protected and retained on delete when `protectData`. */
export function dataOpts(
  protectData: boolean,
  opts: pulumi.CustomResourceOptions,
): pulumi.CustomResourceOptions {
  return protectData ? { ...opts, protect: true, retainOnDelete: true } : opts;
}

/**
 * A name prefix for AWS names with length limits (IAM role `namePrefix` <= 38): keeps the
 * readable start of `name` and ends in `-`, so the provider appends a unique suffix.
 */
export function shortPrefix(name: string, max = 38): string {
  const clean = name.replace(/[^A-Za-z0-9-]/g, "-");
  return `${clean.slice(0, max - 1).replace(/-+$/, "")}-`;
}

/** ARN of an AWS-managed IAM policy. */
export function managedPolicy(partition: pulumi.Input<string>, policy: string): pulumi.Output<string> {
  return pulumi.interpolate`arn:${partition}:iam::aws:policy/${policy}`;
}

/**
 * What a node needs to pull an image through an ECR pull-through cache rule for the first time
 * (the cache creates the repository and imports the upstream image), limited to the rules' prefixes.
 */
export function pullThroughStatements(
  prefixes: readonly string[],
  a: { region: string; accountId: pulumi.Input<string>; partition: pulumi.Input<string> },
): Statement[] {
  if (prefixes.length === 0) return [];
  return [
    {
      Sid: "PullThroughCache",
      Effect: "Allow",
      Action: ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
      Resource: prefixes.map(
        (p) => pulumi.interpolate`arn:${a.partition}:ecr:${a.region}:${a.accountId}:repository/${p}/*`,
      ),
    },
  ];
}
