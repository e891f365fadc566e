/**
 * Shared, pure helpers of the AWS substrate components: IAM policy documents, resource
 * options for data stores, name shortening. No resources are created here.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Cloud tags applied to every taggable resource (from `cloudTags()`). */
export type Tags = Readonly<Record<string, string>>;

/** One IAM policy statement. Allow actions are always explicit: never a wildcard. */
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

/** Builds a policy document; throws when an Allow statement uses a wildcard action. */
export function policyDocument(statements: readonly Statement[]): PolicyDocument {
  const bad = wildcardActions(statements);
  if (bad.length > 0)
    throw new Error(`IAM statements must not use wildcard actions, found ${bad.join(", ")}`);
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * Actions of Allow statements in `statements` that contain a wildcard (`*`, `s3:*`,
 * `ec2:Describe*`). A Deny may use one (`s3:*` in the TLS-only bucket statement): it only
 * takes rights away, and listing actions would miss those AWS adds later.
 */
export function wildcardActions(statements: readonly Statement[]): string[] {
  return statements
    .filter((s) => s.Effect === "Allow")
    .flatMap((s) => [s.Action].flat().filter((a) => a.includes("*") || a.includes("?")));
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

/** The AWS managed policies every EKS worker node needs. */
export const WORKER_NODE_POLICIES = [
  "AmazonEKSWorkerNodePolicy",
  "AmazonEKS_CNI_Policy",
  "AmazonEC2ContainerRegistryPullOnly",
] as const;

/**
 * An EC2 node role with the worker policies (plus `extraPolicies`) and, where images come
 * through ECR pull-through rules, the right to populate the cache under those prefixes only.
 * Children of `opts.parent`: `${name}-node-role`, `${name}-node-<policy>`, `${name}-node-pull-through`.
 */
export function createNodeRole(
  name: string,
  args: {
    /** IAM name prefix of the role. */
    readonly namePrefix: string;
    readonly region: string;
    readonly accountId: pulumi.Input<string>;
    readonly partition: pulumi.Input<string>;
    /** ECR repository prefixes of the pull-through rules. @default [] */
    readonly pullThroughPrefixes?: readonly string[];
    /** Managed policies beyond the worker set. @default [] */
    readonly extraPolicies?: readonly string[];
    readonly tags: Tags;
  },
  opts: pulumi.CustomResourceOptions,
): { role: aws.iam.Role; policies: pulumi.Resource[] } {
  const role = new aws.iam.Role(
    `${name}-node-role`,
    {
      namePrefix: args.namePrefix,
      assumeRolePolicy: policyJson(serviceTrust("ec2.amazonaws.com")),
      tags: args.tags,
    },
    opts,
  );
  const policies: pulumi.Resource[] = [...WORKER_NODE_POLICIES, ...(args.extraPolicies ?? [])].map(
    (pol) =>
      new aws.iam.RolePolicyAttachment(
        `${name}-node-${pol.replace(/_/g, "-").toLowerCase()}`,
        { role: role.name, policyArn: managedPolicy(args.partition, pol) },
        opts,
      ),
  );
  const pullThrough = pullThroughStatements(args.pullThroughPrefixes ?? [], args);
  if (pullThrough.length > 0)
    policies.push(
      new aws.iam.RolePolicy(
        `${name}-node-pull-through`,
        { role: role.id, policy: policyJson(pullThrough) },
        opts,
      ),
    );
  return { role, policies };
}
