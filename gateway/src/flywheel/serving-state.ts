/**
 * The desired serving state of one flywheel adapter, as the model servers' sync sidecar reads it
 * (charts/model-server/files/lora_sync.py, docs/flywheel.md "Decisions"): an object
 * `serving.json` under the adapter's prefix of the models bucket
 * (`flywheel/<team>/<adapter>/`, where the loop writes its candidates), rewritten by the
 * controller at each transition from the registry's open rows. Model servers never get database
 * access; they read this one object per adapter, and only their base model's adapters' prefixes.
 *
 * Then the controller waits, within a bound, until every replica's `/v1/models` lists (or no
 * longer lists) the version: a canary never starts before its files are loaded everywhere.
 */
import type { Pool } from "pg";
import { loadedAdapters, type LoraClientOptions } from "./lora";
import { servedName } from "./split";

export const SERVING_STATE_OBJECT = "serving.json";

export interface ServingVersion {
  readonly version: string;
  readonly phase: "candidate" | "canary" | "promoted";
  /** Key prefix of the version's adapter files in the models bucket (ends in `/`). */
  readonly key: string;
  /** The registry's content hash of those files (the sidecar refuses other bytes). */
  readonly contentSha256: string;
}

export interface ServingState {
  readonly schema: 1;
  readonly team: string;
  readonly adapter: string;
  readonly baseModel: string;
  readonly updatedAt: string;
  readonly versions: readonly ServingVersion[];
}

/** Where one adapter's state and versions live: `s3://<bucket>/<prefix>` (CANDIDATES_URI). */
export interface AdapterLocation {
  readonly bucket: string;
  /** `flywheel/<team>/<adapter>/` */
  readonly prefix: string;
}

export class ServingStateError extends Error {}

/** `s3://bucket/prefix/` of CANDIDATES_URI, checked. */
export function parseCandidatesUri(uri: string): AdapterLocation {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,62})\/(.+\/)$/.exec(uri);
  if (!m)
    throw new ServingStateError(
      `expected CANDIDATES_URI to be s3://<bucket>/<prefix>/ (the flywheel-env ConfigMap's), found ${JSON.stringify(uri)}`,
    );
  return { bucket: m[1], prefix: m[2] };
}

/**
 * The adapter's desired state from the registry: its open candidate, canary and promoted rows,
 * each with its version's files (`model_versions.uri`, which must lie under `loc`).
 */
export async function servingState(
  pool: Pool,
  o: { readonly team: string; readonly adapter: string; readonly baseModel: string },
  loc: AdapterLocation,
  now: () => Date = () => new Date(),
): Promise<ServingState> {
  const r = await pool.query<{ version: string; phase: ServingVersion["phase"]; uri: string; sha: string }>(
    `SELECT d.model_version AS version, d.phase, v.uri, v.content_sha256 AS sha
       FROM flywheel.deployments d JOIN flywheel.model_versions v ON v.id = d.model_version
      WHERE d.adapter = $1 AND d.until IS NULL AND d.phase IN ('candidate', 'canary', 'promoted')
      ORDER BY d.model_version`,
    [o.adapter],
  );
  const root = `s3://${loc.bucket}/${loc.prefix}`;
  const versions = r.rows.map((x) => {
    const uri = x.uri.endsWith("/") ? x.uri : `${x.uri}/`;
    if (!uri.startsWith(root))
      throw new ServingStateError(
        `version ${x.version} of ${o.adapter}: expected its files under ${root}, found ${x.uri}`,
      );
    return {
      version: x.version,
      phase: x.phase,
      key: uri.slice(`s3://${loc.bucket}/`.length),
      contentSha256: x.sha,
    };
  });
  return {
    schema: 1,
    team: o.team,
    adapter: o.adapter,
    baseModel: o.baseModel,
    updatedAt: now().toISOString(),
    versions,
  };
}

/** Writes the adapter's `serving.json` (what every replica of the base model converges to). */
export async function publishServingState(
  put: (key: string, body: Buffer, contentType: string) => Promise<void>,
  loc: AdapterLocation,
  state: ServingState,
): Promise<void> {
  await put(
    `${loc.prefix}${SERVING_STATE_OBJECT}`,
    Buffer.from(JSON.stringify(state, null, 2)),
    "application/json",
  );
}

/**
 * Waits until every replica lists `<adapter>--<version>` (`present`) or none does, polling each
 * replica's `/v1/models` every `everyMs` for at most `timeoutMs`. Returns the replicas that still
 * disagree at the end (empty: done); a replica that does not answer disagrees.
 */
export async function awaitReplicas(
  replicas: readonly string[],
  adapter: string,
  version: string,
  present: boolean,
  o: {
    readonly timeoutMs: number;
    readonly everyMs: number;
    readonly lora?: LoraClientOptions;
    readonly now?: () => number;
    readonly sleep?: (ms: number) => Promise<void>;
  },
): Promise<string[]> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const name = servedName(adapter, version);
  const deadline = now() + o.timeoutMs;
  for (;;) {
    const results = await Promise.allSettled(replicas.map((u) => loadedAdapters(u, o.lora)));
    const off = replicas.filter((_, i) => {
      const r = results[i];
      return r.status === "rejected" || r.value.includes(name) !== present;
    });
    if (off.length === 0 || now() >= deadline) return off;
    await sleep(Math.min(o.everyMs, Math.max(0, deadline - now())));
  }
}
