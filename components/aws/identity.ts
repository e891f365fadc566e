/**
 * Workload identity on AWS: a Kubernetes ServiceAccount, an IAM role carrying exactly the
 * workload's scopes (`workloadScopes`) and an EKS Pod Identity association binding the two.
 * Scopes become per-prefix S3 statements with explicit actions; never a wildcard action.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BucketRole, Scope } from "../lib/scopes";
import { podIdentityTrust, policyJson, shortPrefix, type Statement, type Tags } from "./common";

export const S3_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"];
export const S3_WRITE_ACTIONS = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"];
export const S3_DELETE_ACTIONS = ["s3:DeleteObject"];

/** IAM statements granting `scopes` on the buckets, plus use of the bucket key through S3. */
export function scopeStatements(
  scopes: readonly Scope[],
  a: {
    bucketArns: Readonly<Record<BucketRole, pulumi.Input<string>>>;
    kmsKeyArn: pulumi.Input<string>;
    region: string;
  },
): Statement[] {
  const out: Statement[] = [];
  scopes.forEach((s, i) => {
    const bucket = a.bucketArns[s.bucket];
    const objects = pulumi.interpolate`${bucket}/${s.prefix}*`;
    const reads = s.access === "read" || s.access === "read-write";
    const writes = s.access === "write" || s.access === "read-write";
    const actions = [
      ...(reads ? S3_READ_ACTIONS : []),
      ...(writes ? S3_WRITE_ACTIONS : []),
      ...(s.access === "read-write" ? S3_DELETE_ACTIONS : []),
    ];
    out.push({ Sid: `Objects${i}`, Effect: "Allow", Action: actions, Resource: objects });
    const list = reads ? ["s3:ListBucket"] : ["s3:ListBucketMultipartUploads"];
    out.push({
      Sid: `List${i}`,
      Effect: "Allow",
      Action: list,
      Resource: bucket,
      ...(s.prefix && reads ? { Condition: { StringLike: { "s3:prefix": [`${s.prefix}*`] } } } : {}),
    });
  });
  const reads = scopes.some((s) => s.access !== "write");
  const writes = scopes.some((s) => s.access !== "read");
  out.push({
    Sid: "BucketKey",
    Effect: "Allow",
    Action: [...(reads || writes ? ["kms:Decrypt"] : []), ...(writes ? ["kms:GenerateDataKey"] : [])],
    Resource: a.kmsKeyArn,
    Condition: { StringEquals: { "kms:ViaService": `s3.${a.region}.amazonaws.com` } },
  });
  return out;
}

export interface WorkloadIdentityArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly namespace: pulumi.Input<string>;
  readonly serviceAccountName: string;
  readonly scopes: readonly Scope[];
  readonly bucketArns: Readonly<Record<BucketRole, pulumi.Input<string>>>;
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly accountId: pulumi.Input<string>;
  readonly region: string;
  readonly provider: k8s.Provider;
  readonly tags: Tags;
  /**
   * Whether this identity creates the workload's ServiceAccount. `false`: only the AWS side
   * (role, policy, association), which the component package's `AwsSubstrate` registers up front;
   * the workload's part creates the ServiceAccount with {@link workloadServiceAccount}. @default true
   */
  readonly serviceAccount?: boolean;
}

/** The ServiceAccount of a workload identity (`<name>-sa`): the pods' identity, no annotations. */
export function workloadServiceAccount(
  name: string,
  serviceAccountName: string,
  namespace: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.ServiceAccount {
  return new k8s.core.v1.ServiceAccount(
    `${name}-sa`,
    {
      metadata: {
        name: serviceAccountName,
        namespace,
        labels: { "app.kubernetes.io/part-of": "sovereign" },
      },
      automountServiceAccountToken: true,
    },
    opts,
  );
}

export class WorkloadIdentity extends pulumi.ComponentResource {
  /** Undefined with `serviceAccount: false`. */
  readonly serviceAccount: k8s.core.v1.ServiceAccount | undefined;
  readonly role: aws.iam.Role;
  readonly association: aws.eks.PodIdentityAssociation;
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: WorkloadIdentityArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:aws:WorkloadIdentity", name, {}, opts);
    const p = { parent: this };
    const tags = { ...args.tags };
    this.serviceAccount =
      args.serviceAccount === false
        ? undefined
        : workloadServiceAccount(name, args.serviceAccountName, args.namespace, {
            ...p,
            provider: args.provider,
          });
    this.role = new aws.iam.Role(
      `${name}-role`,
      { namePrefix: shortPrefix(name), assumeRolePolicy: policyJson(podIdentityTrust(args.accountId)), tags },
      p,
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-policy`,
      { role: this.role.id, policy: policyJson(scopeStatements(args.scopes, args)) },
      p,
    );
    this.association = new aws.eks.PodIdentityAssociation(
      `${name}-association`,
      {
        clusterName: args.clusterName,
        namespace: args.namespace,
        serviceAccount: args.serviceAccountName,
        roleArn: this.role.arn,
        tags,
      },
      { ...p, dependsOn: [policy] },
    );
    this.ready = [...(this.serviceAccount ? [this.serviceAccount] : []), this.role, policy, this.association];
    this.registerOutputs({});
  }
}
