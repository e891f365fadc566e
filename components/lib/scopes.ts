/**
 * Object-storage credential scopes per workload. Both substrates derive the access they grant
 * from this one function, so a workload can do the same things on AWS and in-cluster.
 */
export type BucketRole = "models" | "datasets" | "checkpoints" | "inferenceLogs";
export const BUCKET_ROLES: readonly BucketRole[] = ["models", "datasets", "checkpoints", "inferenceLogs"];

export type WorkloadKind = "model-server" | "training" | "gateway" | "policy" | "flywheel";

export interface Scope {
  readonly bucket: BucketRole;
  /** Key prefix inside the bucket, ending in `/`, or `""` for the whole bucket. */
  readonly prefix: string;
  readonly access: "read" | "write" | "read-write";
}

/** Prefix of the team-private keys in every bucket: `teams/<team>/`. */
export const TEAMS_PREFIX = "teams/";

/** Prefix of the gateway's captures in the inference-log bucket (gateway/src/capture.ts). */
export const CAPTURES_PREFIX = "captures/";

/**
 * One team's captures: `captures/team=<team>/` (the gateway writes team first, so this one
 * prefix is all of them, and no other team's key starts with it).
 */
export function teamCapturesPrefix(team: string): string {
  return `${CAPTURES_PREFIX}team=${team}/`;
}

/**
 * A key prefix as a folder (ending in `/`; "" stays ""). Read scopes are granted on folders
 * (`s3:prefix` `<folder>*`), so a client must list with the folder too: `models[].source` may be
 * written without the slash.
 */
export function folderOf(prefix: string): string {
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

/**
 * The base-model prefixes (in the models bucket) a team's trainer may read: each one as a
 * folder (ending in `/`), without duplicates, never the whole bucket and never anything under
 * `teams/` or `flywheel/` (a team's own prefix is granted separately; other teams' are never
 * readable).
 */
export function baseModelPrefixes(sources: readonly string[]): string[] {
  const out = new Set<string>();
  for (const s of sources) {
    const p = s === "" ? "/" : folderOf(s);
    if (p === "/" || p.startsWith("/") || p.startsWith(TEAMS_PREFIX) || p.startsWith(FLYWHEEL_MODELS_PREFIX))
      continue;
    out.add(p);
  }
  return [...out];
}

/**
 * Prefix of the flywheels' artifacts in the models bucket, `flywheel/`: outside `teams/`, so no
 * team's training identity (which reads and writes all of `teams/<team>/`) can write a
 * flywheel's candidate versions or its `serving.json` (docs/flywheel.md, Decisions).
 */
export const FLYWHEEL_MODELS_PREFIX = "flywheel/";

/**
 * One team's flywheel artifacts in the models bucket, `flywheel/<team>/`: written only by that
 * team's flywheel identity (the chain pod and the controller, which run only kit code).
 */
export function flywheelModelsPrefix(team: string): string {
  return `${FLYWHEEL_MODELS_PREFIX}${team}/`;
}

/**
 * The prefix of one flywheel adapter in the models bucket, `flywheel/<team>/<adapter>/`: its
 * candidate versions (`<version>/adapter/`, written by the team's loop) and its desired serving
 * state (`serving.json`, written by the controller, read by the model servers' sync sidecars).
 * The loop's CANDIDATES_URI is this prefix (components/flywheel/plan.ts). Only the team's
 * flywheel identity may write it: it is outside `teams/`, which the team's trainer writes.
 */
export function flywheelAdapterPrefix(team: string, adapter: string): string {
  return `${flywheelModelsPrefix(team)}${adapter}/`;
}

/**
 * The prefix of one flywheel adapter's dataset versions in the datasets bucket,
 * `teams/<team>/flywheel/<adapter>/` (the team's trainer reads the datasets bucket's
 * `teams/<team>/` only; the flywheel identity alone writes it).
 */
export function flywheelDatasetsPrefix(team: string, adapter: string): string {
  return `${TEAMS_PREFIX}${team}/flywheel/${adapter}/`;
}

/**
 * The models-bucket prefixes one model server reads, each as a folder, without duplicates: its
 * weights (`source`), its configured adapters and, when teams' flywheels train on it, each such
 * adapter's {@link flywheelAdapterPrefix} — of every team whose flywheel uses this base model (a
 * model server serves every team's adapters of its base model), and nothing else under `teams/`.
 */
export function modelServerPrefixes(model: {
  readonly source: string;
  readonly loraAdapters: readonly { readonly source: string }[];
  readonly flywheelAdapters?: readonly { readonly team: string; readonly adapter: string }[];
}): string[] {
  const folder = (s: string) => (s.endsWith("/") ? s : `${s}/`);
  return [
    ...new Set([
      folder(model.source),
      ...model.loraAdapters.map((a) => folder(a.source)),
      ...(model.flywheelAdapters ?? []).map((a) => flywheelAdapterPrefix(a.team, a.adapter)),
    ]),
  ];
}

/** Read scopes on the base-model prefixes of {@link baseModelPrefixes}. */
function baseModelReads(sources: readonly string[]): Scope[] {
  return baseModelPrefixes(sources).map((prefix) => ({ bucket: "models", prefix, access: "read" }));
}

/**
 * The scopes a workload's credentials carry.
 * - a model server reads exactly its prefixes of the models bucket (`readModels`, from
 *   {@link modelServerPrefixes}: weights, configured adapters, its base model's flywheel
 *   adapters), never the whole bucket;
 * - training jobs of a team read the team's `datasets/`, write its `checkpoints/` and `models/`,
 *   and read the base models `readModels` (key prefixes of the models bucket; see
 *   {@link baseModelPrefixes}) — not the whole bucket, so never another team's adapters;
 * - the gateway writes inference logs;
 * - OPA writes decision logs under `decisions/` of the inference-log bucket;
 * - a team's flywheel (docs/flywheel.md) reads that team's captures only
 *   (`captures/team=<team>/`: the only identity that may read any of `captures/`), writes the
 *   team's datasets (the builder's versions under `teams/<team>/flywheel/`), does what the
 *   team's training jobs do (the loop trains, quantizes and evaluates as one chain) and is the
 *   only identity that writes the team's flywheel models prefix `flywheel/<team>/` (candidate
 *   versions and `serving.json`; {@link flywheelModelsPrefix}).
 */
export function workloadScopes(
  kind: WorkloadKind,
  team?: string,
  readModels: readonly string[] = [],
): Scope[] {
  switch (kind) {
    case "model-server": {
      const bad = readModels.find((p) => !p.endsWith("/") || p.startsWith("/") || p === "/");
      if (bad !== undefined || readModels.length === 0)
        throw new Error(
          `model-server scopes need the model's folder prefixes (modelServerPrefixes), found ${JSON.stringify(readModels)}`,
        );
      return [...new Set(readModels)].map((prefix) => ({
        bucket: "models" as const,
        prefix,
        access: "read" as const,
      }));
    }
    case "training": {
      if (!team) throw new Error("training scopes need a team");
      const p = `${TEAMS_PREFIX}${team}/`;
      return [
        { bucket: "datasets", prefix: p, access: "read" },
        { bucket: "checkpoints", prefix: p, access: "read-write" },
        { bucket: "models", prefix: p, access: "read-write" },
        ...baseModelReads(readModels),
      ];
    }
    case "flywheel": {
      if (!team) throw new Error("flywheel scopes need a team");
      const p = `${TEAMS_PREFIX}${team}/`;
      return [
        { bucket: "inferenceLogs", prefix: teamCapturesPrefix(team), access: "read" },
        { bucket: "datasets", prefix: p, access: "read-write" },
        { bucket: "checkpoints", prefix: p, access: "read-write" },
        { bucket: "models", prefix: p, access: "read-write" },
        // the loop's candidates and serving.json: this identity's alone (never the trainer's)
        { bucket: "models", prefix: flywheelModelsPrefix(team), access: "read-write" },
        ...baseModelReads(readModels),
      ];
    }
    case "gateway":
      return [{ bucket: "inferenceLogs", prefix: CAPTURES_PREFIX, access: "write" }];
    case "policy":
      return [{ bucket: "inferenceLogs", prefix: "decisions/", access: "write" }];
  }
}

/** One expiration of objects under a prefix of a bucket (a lifecycle rule). */
export interface Expiration {
  /** The team whose data expires (its prefix is that team's only). */
  readonly team: string;
  readonly bucket: BucketRole;
  readonly prefix: string;
  readonly days: number;
}

/**
 * The expirations the teams' flywheel settings ask for (`teams[].flywheel.retentionDays`): a
 * team's captures (`captures/team=<team>/`) and its flywheel datasets
 * (`teams/<team>/flywheel/`). The data is the customer's: without a setting, nothing expires.
 */
export function retentionExpirations(
  teams: readonly {
    readonly name: string;
    readonly flywheel?: {
      readonly retentionDays?: { readonly captures?: number; readonly datasets?: number };
    };
  }[],
): Expiration[] {
  return teams.flatMap((t) => {
    const r = t.flywheel?.retentionDays ?? {};
    return [
      ...(r.captures
        ? [
            {
              team: t.name,
              bucket: "inferenceLogs" as const,
              prefix: teamCapturesPrefix(t.name),
              days: r.captures,
            },
          ]
        : []),
      ...(r.datasets
        ? [
            {
              team: t.name,
              bucket: "datasets" as const,
              prefix: `${TEAMS_PREFIX}${t.name}/flywheel/`,
              days: r.datasets,
            },
          ]
        : []),
    ];
  });
}
