/**
 * Per-workload object-store credentials on the in-cluster substrate. Each workload gets its
 * own generated key pair, stored only in a Kubernetes Secret in the workload's namespace (and
 * in the object store's identity config). The identity's actions are derived from
 * `workloadScopes()` by {@link scopeActions}, so the in-cluster server grants exactly what the
 * AWS IAM policies grant.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { k8sLabels } from "../lib/labels";
import type { BucketRole, Scope } from "../lib/scopes";

/** One S3 identity of the in-cluster server: a key pair and the actions it may perform. */
export interface S3Identity {
  readonly name: string;
  readonly accessKey: pulumi.Output<string>;
  readonly secretKey: pulumi.Output<string>;
  /** SeaweedFS identity actions, e.g. `Read:bucket/teams/a/*`. */
  readonly actions: readonly string[];
}

/** Where identities are registered (the object store renders them into its config). */
export interface IdentityRegistry {
  addIdentity(identity: S3Identity): void;
}

/**
 * SeaweedFS actions for one scope. An action `Verb:bucket` applies to the whole bucket; a
 * trailing `*` makes it a prefix match on `bucket/key` (for List, on `bucket/<list prefix>`).
 * Read access includes listing the same prefix, as `s3:ListBucket` with an `s3:prefix`
 * condition does on AWS.
 */
export function scopeActions(scope: Scope, bucket: string): string[] {
  if (scope.prefix !== "" && !scope.prefix.endsWith("/")) {
    throw new Error(`a scope prefix must end in "/", found "${scope.prefix}"`);
  }
  return targetActions(scope.prefix === "" ? bucket : `${bucket}/${scope.prefix}*`, scope.access);
}

function targetActions(target: string, access: Scope["access"]): string[] {
  const read = [`Read:${target}`, `List:${target}`];
  const write = [`Write:${target}`];
  switch (access) {
    case "read":
      return read;
    case "write":
      return write;
    case "read-write":
      return [...read, ...write];
  }
}

/** Every action a set of scopes needs, without duplicates, in a stable order. */
export function identityActions(
  scopes: readonly Scope[],
  buckets: Readonly<Record<BucketRole, string>>,
): string[] {
  return [...new Set(scopes.flatMap((s) => scopeActions(s, buckets[s.bucket])))];
}

/** Actions of an identity with full object access (no admin rights) to whole buckets. */
export function bucketActions(buckets: readonly string[], access: Scope["access"]): string[] {
  return [...new Set(buckets.flatMap((b) => targetActions(b, access)))];
}

/** Secret keys holding a workload's key pair (the names AWS SDKs read from the environment). */
export const ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID";
export const SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY";

/** Environment of a workload's S3 clients: endpoint and region, keys only by Secret reference. */
export function workloadEnv(
  endpoint: string,
  region: string,
  secretName: string,
): k8s.types.input.core.v1.EnvVar[] {
  const fromSecret = (key: string) => ({ secretKeyRef: { name: secretName, key } });
  return [
    { name: "AWS_ENDPOINT_URL_S3", value: endpoint },
    { name: "AWS_REGION", value: region },
    { name: ACCESS_KEY_ENV, valueFrom: fromSecret(ACCESS_KEY_ENV) },
    { name: SECRET_KEY_ENV, valueFrom: fromSecret(SECRET_KEY_ENV) },
  ];
}

/** Name of the Secret holding a workload's keys, next to its ServiceAccount. */
export function keysSecretName(serviceAccountName: string): string {
  return `${serviceAccountName}-s3`;
}

/**
 * A generated key pair (children `${name}-access-key` and `${name}-secret-key` of `parent`).
 * Both halves are secret outputs.
 */
export function newKeyPair(
  name: string,
  parent: pulumi.Resource,
): { accessKey: pulumi.Output<string>; secretKey: pulumi.Output<string> } {
  const access = new random.RandomPassword(
    `${name}-access-key`,
    { length: 20, special: false, lower: false, upper: true, numeric: true },
    { parent },
  );
  const secret = new random.RandomPassword(`${name}-secret-key`, { length: 40, special: false }, { parent });
  return { accessKey: pulumi.secret(access.result), secretKey: pulumi.secret(secret.result) };
}

export interface WorkloadCredentialsArgs {
  /** Namespace of the workload's pods (its ServiceAccount and Secret go there). */
  readonly namespace: pulumi.Input<string>;
  readonly serviceAccountName: string;
  /** Scopes the credentials carry (from `workloadScopes`). */
  readonly scopes: readonly Scope[];
  /** Bucket name per role. */
  readonly buckets: Readonly<Record<BucketRole, string>>;
  /** S3 endpoint reachable from pods. */
  readonly endpoint: string;
  readonly region: string;
  /** The object store that enforces the identity. */
  readonly registry: IdentityRegistry;
  readonly provider: k8s.Provider;
  /** Extra labels for the ServiceAccount and Secret. @default {} */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * The ServiceAccount and object-store key pair of one workload. Children:
 * `${name}-access-key`, `${name}-secret-key`, `${name}-sa`, `${name}-keys`.
 */
export class WorkloadCredentials extends pulumi.ComponentResource {
  readonly serviceAccount: k8s.core.v1.ServiceAccount;
  readonly secret: k8s.core.v1.Secret;
  readonly env: k8s.types.input.core.v1.EnvVar[];
  readonly actions: readonly string[];

  constructor(name: string, args: WorkloadCredentialsArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("sovereign:cluster:WorkloadCredentials", name, {}, opts);
    const labels = { ...k8sLabels("workload-credentials", name), ...(args.labels ?? {}) };
    const keys = newKeyPair(name, this);
    this.actions = identityActions(args.scopes, args.buckets);
    args.registry.addIdentity({ name, ...keys, actions: this.actions });
    const k8sOpts = { parent: this, provider: args.provider };
    this.serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-sa`,
      {
        metadata: { name: args.serviceAccountName, namespace: args.namespace, labels },
        // Pods reach S3 with their own keys; they need no Kubernetes API token.
        automountServiceAccountToken: false,
      },
      k8sOpts,
    );
    const secretName = keysSecretName(args.serviceAccountName);
    this.secret = new k8s.core.v1.Secret(
      `${name}-keys`,
      {
        metadata: { name: secretName, namespace: args.namespace, labels },
        type: "Opaque",
        stringData: pulumi.secret({ [ACCESS_KEY_ENV]: keys.accessKey, [SECRET_KEY_ENV]: keys.secretKey }),
      },
      k8sOpts,
    );
    this.env = workloadEnv(args.endpoint, args.region, secretName);
    this.registerOutputs({});
  }
}
