/**
 * Object-storage credential scopes per workload. Both substrates derive the access they grant
 * from this one function, so a workload can do the same things on AWS and in-cluster.
 */
export type BucketRole = "models" | "datasets" | "checkpoints" | "inferenceLogs";
export const BUCKET_ROLES: readonly BucketRole[] = ["models", "datasets", "checkpoints", "inferenceLogs"];

export type WorkloadKind = "model-server" | "training" | "gateway" | "policy";

export interface Scope {
  readonly bucket: BucketRole;
  /** Key prefix inside the bucket, ending in `/`, or `""` for the whole bucket. */
  readonly prefix: string;
  readonly access: "read" | "write" | "read-write";
}

/**
 * The scopes a workload's credentials carry.
 * - model servers read `models/`;
 * - training jobs of a team read the team's `datasets/`, write its `checkpoints/` and `models/`;
 * - the gateway writes inference logs;
 * - OPA writes decision logs under `decisions/` of the inference-log bucket.
 */
export function workloadScopes(kind: WorkloadKind, team?: string): Scope[] {
  switch (kind) {
    case "model-server":
      return [{ bucket: "models", prefix: "", access: "read" }];
    case "training": {
      if (!team) throw new Error("training scopes need a team");
      const p = `teams/${team}/`;
      return [
        { bucket: "datasets", prefix: p, access: "read" },
        { bucket: "checkpoints", prefix: p, access: "read-write" },
        { bucket: "models", prefix: p, access: "read-write" },
        { bucket: "models", prefix: "", access: "read" },
      ];
    }
    case "gateway":
      return [{ bucket: "inferenceLogs", prefix: "captures/", access: "write" }];
    case "policy":
      return [{ bucket: "inferenceLogs", prefix: "decisions/", access: "write" }];
  }
}
