/**
 * The flywheel's controller (docs/flywheel.md): takes a run record of `sovereign-flywheel loop`
 * (dataset, candidate, gate report), registers it in the registry (registry.ts), and for a
 * candidate that passed the gate runs its canary to the end:
 *
 *   register -> load into every replica (lora.ts) -> canary (the gateway's split follows the
 *   registry row) -> observe every `everyMs` -> promoted (the previous version is unloaded)
 *                                              | rolled_back (the candidate is unloaded)
 *
 * The observations are the gateway's own audit rows (`gateway_audit.flywheel_version`, written by
 * every gateway replica for each request of a flywheel adapter): requests, 5xx answers, answers
 * the guard flagged (`response_guard_flagged`) and latency, per version. The state machine is
 * the pure `step` of components/lib/flywheel-canary.ts; its state lives in the registry
 * (`flywheel.deployments.state`), and every transition, load and unload is a row of
 * `flywheel.audit_events`. Stateless between calls: a restarted controller resumes from the row.
 */
import type { Pool, PoolClient } from "pg";
import {
  initialState,
  LOAD_FAILED_REASON,
  step,
  type CanaryEvent,
  type CanaryLimits,
  type CanaryState,
  type CanaryTotals,
} from "../../../components/lib/flywheel-canary";
import { loadEverywhere, unloadAdapter, type LoraClientOptions } from "./lora";
import {
  recordEvalReport,
  recordTransition,
  registerDataset,
  registerModelVersion,
  type Classification,
} from "./registry";
import { awaitReplicas } from "./serving-state";
import { servedName } from "./split";

export class ControllerError extends Error {}

/** The part of `sovereign-flywheel loop`'s run record the controller reads. */
export interface RunRecord {
  readonly team: string;
  readonly adapter: string;
  readonly baseModel: string;
  readonly outcome: string;
  readonly dataset: {
    readonly version: string;
    readonly uri: string;
    readonly content_sha256: string;
    readonly classification: Classification | null;
    readonly counts: { readonly kept: number };
  };
  readonly candidate: { readonly version: string; readonly uri: string; readonly content_sha256: string };
  readonly incumbent?: { readonly version: string | null };
  readonly gate: { readonly passed: boolean };
}

const SHA = /^[0-9a-f]{64}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The run record, checked: a field that is missing or malformed is named. */
export function parseRunRecord(raw: unknown): RunRecord {
  const at = (path: string): unknown =>
    path
      .split(".")
      .reduce<unknown>(
        (o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined),
        raw,
      );
  const str = (path: string, re?: RegExp): string => {
    const v = at(path);
    if (typeof v !== "string" || v === "" || (re && !re.test(v)))
      throw new ControllerError(
        `run record: expected ${path} to be ${re ? `a string matching ${re}` : "a string"}, found ${JSON.stringify(v ?? null)}`,
      );
    return v;
  };
  const outcome = str("outcome");
  if (!["candidate", "rejected"].includes(outcome))
    throw new ControllerError(
      `run record: expected outcome "candidate" or "rejected" (an evaluated candidate), found ${JSON.stringify(outcome)}`,
    );
  const kept = at("dataset.counts.kept");
  if (!Number.isInteger(kept) || (kept as number) < 0)
    throw new ControllerError(
      `run record: expected dataset.counts.kept to be a whole number, found ${JSON.stringify(kept ?? null)}`,
    );
  const passed = at("gate.passed");
  if (typeof passed !== "boolean")
    throw new ControllerError(
      `run record: expected gate.passed to be true or false, found ${JSON.stringify(passed ?? null)}`,
    );
  const inc = at("incumbent.version");
  if (inc !== undefined && inc !== null && (typeof inc !== "string" || !NAME.test(inc)))
    throw new ControllerError(
      `run record: expected incumbent.version to be a version id or null, found ${JSON.stringify(inc)}`,
    );
  const cls = at("dataset.classification");
  if (!["public", "internal", "confidential", "restricted"].includes(cls as string))
    throw new ControllerError(
      `run record: expected dataset.classification to be public, internal, confidential or restricted, found ${JSON.stringify(cls ?? null)}`,
    );
  return {
    team: str("team", NAME),
    adapter: str("adapter", NAME),
    baseModel: str("baseModel"),
    outcome,
    dataset: {
      version: str("dataset.version", NAME),
      uri: str("dataset.uri"),
      content_sha256: str("dataset.content_sha256", SHA),
      classification: cls as Classification,
      counts: { kept: kept as number },
    },
    candidate: {
      version: str("candidate.version", NAME),
      uri: str("candidate.uri"),
      content_sha256: str("candidate.content_sha256", SHA),
    },
    incumbent: { version: inc ?? null },
    gate: { passed },
  };
}

async function audit(
  pool: Pool | PoolClient,
  team: string,
  adapter: string,
  version: string,
  from: string,
  to: string,
  reason: string,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await pool.query(
    `INSERT INTO flywheel.audit_events (team, adapter, version, from_phase, to_phase, reason, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [team, adapter, version, from, to, reason, JSON.stringify(detail)],
  );
}

/** Key (with the version's hash) of the lock that makes one registration per version. */
export const FLYWHEEL_REGISTER_LOCK = 7361;

/**
 * Registers the run: its dataset, the candidate (its classification comes from the dataset),
 * the gate's report, and, for a candidate that passed, an open `candidate` deployment row. A
 * rejected candidate is recorded with its report and is never deployed. One audit event either
 * way, all in one transaction. Idempotent: a version registered already (a retried CronJob run,
 * or the loop and the CronJob both) is left as it is and `false` returned; the same version with
 * another URI or content hash is refused (runs are immutable).
 */
export async function registerRun(pool: Pool, run: RunRecord, gateReport: unknown): Promise<boolean> {
  const v = run.candidate.version;
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [FLYWHEEL_REGISTER_LOCK, v]);
    const have = await client.query<{ uri: string; content_sha256: string }>(
      "SELECT uri, content_sha256 FROM flywheel.model_versions WHERE id = $1",
      [v],
    );
    if (have.rowCount) {
      await client.query("COMMIT");
      const h = have.rows[0];
      if (h.uri !== run.candidate.uri || h.content_sha256 !== run.candidate.content_sha256)
        throw new ControllerError(
          `version ${v} is registered already as ${h.uri} (${h.content_sha256}), found ${run.candidate.uri} (${run.candidate.content_sha256}): versions are immutable`,
        );
      return false;
    }
    await registerDataset(client, {
      version: run.dataset.version,
      team: run.team,
      adapter: run.adapter,
      uri: run.dataset.uri,
      content_sha256: run.dataset.content_sha256,
      classification: run.dataset.classification,
      counts: run.dataset.counts,
    });
    await registerModelVersion(client, {
      id: v,
      kind: "adapter",
      baseModel: run.baseModel,
      uri: run.candidate.uri,
      contentSha256: run.candidate.content_sha256,
      datasetVersion: run.dataset.version,
    });
    await recordEvalReport(client, v, run.incumbent?.version ?? null, {
      ...(gateReport as object),
      passed: run.gate.passed,
    });
    if (run.gate.passed) {
      // the candidate's open row (what recordTransition writes for a first state)
      await client.query(
        `INSERT INTO flywheel.deployments (team, adapter, model_version, phase, share, state)
         VALUES ($1, $2, $3, 'candidate', 0, $4)`,
        [run.team, run.adapter, v, JSON.stringify(initialState(v))],
      );
      await audit(client, run.team, run.adapter, v, "gate", "candidate", "registered", {
        uri: run.candidate.uri,
      });
    } else {
      await audit(client, run.team, run.adapter, v, "gate", "rejected", "gate_failed", {
        uri: run.candidate.uri,
      });
    }
    await client.query("COMMIT");
    return true;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** The promoted version of an adapter now, if any. */
export async function promotedVersion(pool: Pool, adapter: string): Promise<string | undefined> {
  const r = await pool.query<{ v: string }>(
    "SELECT model_version AS v FROM flywheel.deployments WHERE adapter = $1 AND phase = 'promoted' AND until IS NULL",
    [adapter],
  );
  return r.rows[0]?.v;
}

export interface VersionCounts extends CanaryTotals {
  readonly p95LatencyMs?: number;
}

/**
 * A version's counts from the gateway's audit rows for the adapter's stable name, in
 * [fromMs, toMs). `version` undefined: the requests no version served (before a first promotion).
 */
export async function versionCounts(
  pool: Pool,
  adapter: string,
  version: string | undefined,
  fromMs: number,
  toMs: number,
): Promise<VersionCounts> {
  const r = await pool.query<{ requests: string; errors: string; flags: string; p95: number | null }>(
    `SELECT count(*) AS requests,
            count(*) FILTER (WHERE status >= 500) AS errors,
            count(*) FILTER (WHERE 'response_guard_flagged' = ANY (reasons)) AS flags,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
     FROM gateway_audit
     WHERE model = $1 AND flywheel_version IS NOT DISTINCT FROM $2
       AND ts >= to_timestamp($3 / 1000.0) AND ts < to_timestamp($4 / 1000.0)`,
    [adapter, version ?? null, fromMs, toMs],
  );
  const x = r.rows[0];
  return {
    requests: Number(x.requests),
    errors: Number(x.errors),
    guardFlags: Number(x.flags),
    ...(x.p95 === null ? {} : { p95LatencyMs: Number(x.p95) }),
  };
}

export interface CanaryOptions {
  readonly team: string;
  readonly adapter: string;
  readonly version: string;
  /**
   * Direct loading: where the adapter's files already are on every replica (vLLM's `lora_path`);
   * the controller calls the load and unload endpoints itself. Absent: `serving` does it.
   */
  readonly loraPath?: string;
  /**
   * Sidecar loading (the deployed stacks, docs/flywheel.md): `publish` rewrites the adapter's
   * desired state (`serving.json`, serving-state.ts) from the registry's open rows; the model
   * servers' sync sidecars fetch, load and unload; the controller waits, at most `timeoutMs`,
   * until every replica's /v1/models lists the version (or, after a retirement, no longer does).
   */
  readonly serving?: {
    readonly publish: () => Promise<void>;
    readonly timeoutMs: number;
    readonly everyMs: number;
  };
  /** The model server's pod endpoints (every replica must load the candidate). */
  readonly replicas: readonly string[];
  readonly limits: CanaryLimits;
  /** Observation interval. */
  readonly everyMs: number;
  /**
   * How far behind now an observation ends: audit rows reach PostgreSQL in batches, and a
   * request's row carries its arrival time. Counts are re-read cumulatively from the canary's
   * start, so a row that lands later still counts at the next observation.
   */
  readonly lagMs: number;
  /**
   * Wait after a transition before unloading: the gateway replicas follow the registry every
   * GATEWAY_FLYWHEEL_SYNC_MS, and must stop routing to a version before it leaves the server.
   */
  readonly unloadGraceMs: number;
  readonly lora?: LoraClientOptions;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (msg: string, fields: Record<string, unknown>) => void;
}

async function currentState(pool: Pool, adapter: string, version: string): Promise<CanaryState | undefined> {
  const r = await pool.query<{ state: CanaryState }>(
    `SELECT state FROM flywheel.deployments
     WHERE adapter = $1 AND model_version = $2 AND until IS NULL AND phase IN ('candidate', 'canary')`,
    [adapter, version],
  );
  return r.rows[0]?.state;
}

async function unloadAll(o: CanaryOptions, pool: Pool, version: string, phase: string): Promise<void> {
  const name = servedName(o.adapter, version);
  let failed: string[];
  if (o.serving) {
    // the version's row is closed: the published state no longer lists it, the sidecars unload it
    await o.serving.publish();
    const off = await awaitReplicas(o.replicas, o.adapter, version, false, { ...o.serving, lora: o.lora });
    failed = off.map((u) => `${u}: still lists ${name} after ${o.serving!.timeoutMs} ms`);
  } else {
    const results = await Promise.allSettled(o.replicas.map((u) => unloadAdapter(u, name, o.lora)));
    failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [`${o.replicas[i]}: ${(r.reason as Error).message}`] : [],
    );
  }
  await audit(pool, o.team, o.adapter, version, phase, phase, failed.length ? "unload_failed" : "unloaded", {
    replicas: o.replicas,
    ...(failed.length ? { failed } : {}),
  });
  if (failed.length) throw new ControllerError(`unloading ${name} failed on:\n  ${failed.join("\n  ")}`);
}

/**
 * The load step of both ways to run a canary (runCanary, advanceCanary): loads the candidate into
 * every replica and starts its canary; a failed load rolls it back (the canary never starts) and
 * unloads it. Returns whether the canary started.
 */
async function loadAndStart(
  pool: Pool,
  o: CanaryOptions,
  state: CanaryState,
  store: (s: ReturnType<typeof step>) => Promise<unknown>,
  now: () => number,
): Promise<boolean> {
  const name = servedName(o.adapter, o.version);
  try {
    if (o.serving) {
      await o.serving.publish();
      const off = await awaitReplicas(o.replicas, o.adapter, o.version, true, {
        ...o.serving,
        lora: o.lora,
      });
      if (off.length)
        throw new ControllerError(
          `adapter ${name} is not listed by ${off.length} replica(s) after ${o.serving.timeoutMs} ms (their sync sidecar did not load it):\n  ${off.join("\n  ")}`,
        );
    } else if (o.loraPath !== undefined) {
      await loadEverywhere(o.replicas, name, o.loraPath, o.lora);
    } else throw new ControllerError("expected a loraPath (direct loading) or serving (sidecar loading)");
  } catch (e) {
    await audit(pool, o.team, o.adapter, o.version, "candidate", "candidate", LOAD_FAILED_REASON, {
      error: (e as Error).message.slice(0, 2000),
    });
    await store(step(state, { kind: "abort", at: now(), by: "controller: load failed" }, o.limits));
    await unloadAll(o, pool, o.version, "rolled_back");
    return false;
  }
  await audit(pool, o.team, o.adapter, o.version, "candidate", "candidate", "loaded", {
    replicas: o.replicas,
    ...(o.serving ? { by: "sidecar" } : { loraPath: o.loraPath }),
  });
  await store(step(state, { kind: "start", at: now() }, o.limits));
  return true;
}

/**
 * Runs a registered candidate's canary to its end: loads it into every replica (a failed load
 * rolls it back: the canary never starts), starts the canary, observes until the state machine
 * promotes or rolls it back, then unloads what no longer serves. Returns the final state.
 */
/**
 * One observation of a canary from the gateway's audit rows, up to `lagMs` ago (rows arrive in
 * batches): the counts since the previous observation, re-read cumulatively so that rows that
 * landed late count now, and the interval's p95 latencies of the candidate and the stable version.
 */
async function observation(
  pool: Pool,
  o: CanaryOptions,
  s: Extract<CanaryState, { phase: "canary" }>,
  stable: string | undefined,
  nowMs: number,
): Promise<CanaryEvent> {
  const at = Math.max(s.lastAt, nowMs - o.lagMs);
  const cum = await versionCounts(pool, o.adapter, o.version, s.since, at);
  const interval = await versionCounts(pool, o.adapter, o.version, s.lastAt, at);
  const base = await versionCounts(pool, o.adapter, stable, s.lastAt, at);
  return {
    kind: "observe",
    at,
    requests: Math.max(0, cum.requests - s.totals.requests),
    errors: Math.max(0, cum.errors - s.totals.errors),
    guardFlags: Math.max(0, cum.guardFlags - s.totals.guardFlags),
    ...(interval.p95LatencyMs !== undefined && base.p95LatencyMs !== undefined
      ? { p95LatencyMs: interval.p95LatencyMs, stableP95LatencyMs: base.p95LatencyMs }
      : {}),
  };
}

export async function runCanary(pool: Pool, o: CanaryOptions): Promise<CanaryState> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = o.log ?? (() => undefined);
  let state = await currentState(pool, o.adapter, o.version);
  if (!state)
    throw new ControllerError(
      `expected version ${o.version} of ${o.adapter} to be a registered candidate or canary, found no open row`,
    );
  const store = async (s: ReturnType<typeof step>) => {
    if (s.refused) throw new ControllerError(`canary step refused: ${s.refused}`);
    state = s.state;
    if (s.audit.length === 0) {
      // an observation within the phase: the open row's state (totals, last observation) only
      await pool.query(
        "UPDATE flywheel.deployments SET state = $3 WHERE adapter = $1 AND model_version = $2 AND until IS NULL",
        [o.adapter, o.version, JSON.stringify(s.state)],
      );
      return;
    }
    await recordTransition(pool, o.team, o.adapter, s.state, s.audit);
    for (const a of s.audit) log("canary transition", { ...a });
  };
  if (state.phase === "candidate" && !(await loadAndStart(pool, o, state, store, now))) return state;
  const stable = await promotedVersion(pool, o.adapter);
  while (state.phase === "canary") {
    await sleep(o.everyMs);
    const s: CanaryState = state;
    if (s.phase !== "canary") break;
    await store(step(s, await observation(pool, o, s, stable, now()), o.limits));
  }
  const final: CanaryState = state;
  await sleep(o.unloadGraceMs);
  if (final.phase === "rolled_back") await unloadAll(o, pool, o.version, "rolled_back");
  if (final.phase === "promoted" && stable !== undefined) await unloadAll(o, pool, stable, "retired");
  // a first promotion retires nothing: the published state only changes the version's phase
  if (final.phase === "promoted" && stable === undefined) await o.serving?.publish();
  return final;
}

/** The version of an adapter whose canary the controller moves next: an open canary, else the oldest candidate. */
export async function openVersion(pool: Pool, adapter: string): Promise<string | undefined> {
  const r = await pool.query<{ v: string }>(
    `SELECT model_version AS v FROM flywheel.deployments
     WHERE adapter = $1 AND until IS NULL AND phase IN ('candidate', 'canary')
     ORDER BY (phase = 'canary') DESC, since, id LIMIT 1`,
    [adapter],
  );
  return r.rows[0]?.v;
}

/** What one {@link advanceCanary} call did. */
export interface Advance {
  readonly state: CanaryState;
  /** `started` (loaded everywhere, canary open), `observed` (still in its canary), or the final phase. */
  readonly action: "started" | "observed" | "promoted" | "rolled_back";
}

/**
 * One step of a registered candidate's canary, from the state the registry holds (for a
 * controller that runs briefly and often, the CronJob, instead of through the whole window):
 * a candidate is loaded into every replica and its canary started (a failed load rolls it back);
 * a canary gets one observation, from its last one up to now (less `lagMs`); a promotion or
 * rollback unloads what no longer serves after `unloadGraceMs`. `everyMs` is not used: the
 * interval is the time between calls.
 */
export async function advanceCanary(pool: Pool, o: CanaryOptions): Promise<Advance> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = o.log ?? (() => undefined);
  const state = await currentState(pool, o.adapter, o.version);
  if (!state)
    throw new ControllerError(
      `expected version ${o.version} of ${o.adapter} to be a registered candidate or canary, found no open row`,
    );
  const store = async (s: ReturnType<typeof step>): Promise<CanaryState> => {
    if (s.refused) throw new ControllerError(`canary step refused: ${s.refused}`);
    if (s.audit.length === 0)
      await pool.query(
        "UPDATE flywheel.deployments SET state = $3 WHERE adapter = $1 AND model_version = $2 AND until IS NULL",
        [o.adapter, o.version, JSON.stringify(s.state)],
      );
    else {
      await recordTransition(pool, o.team, o.adapter, s.state, s.audit);
      for (const a of s.audit) log("canary transition", { ...a });
    }
    return s.state;
  };
  if (state.phase === "candidate") {
    let after: CanaryState = state;
    const started = await loadAndStart(
      pool,
      o,
      state,
      async (s) => {
        after = await store(s);
      },
      now,
    );
    return { state: after, action: started ? "started" : "rolled_back" };
  }
  if (state.phase !== "canary")
    throw new ControllerError(`expected a candidate or canary, found ${state.phase}`);
  const stable = await promotedVersion(pool, o.adapter);
  const s = state;
  const next = await store(step(s, await observation(pool, o, s, stable, now()), o.limits));
  if (next.phase === "canary" || next.phase === "candidate") return { state: next, action: "observed" };
  await sleep(o.unloadGraceMs);
  if (next.phase === "rolled_back") await unloadAll(o, pool, o.version, "rolled_back");
  if (next.phase === "promoted" && stable !== undefined) await unloadAll(o, pool, stable, "retired");
  // a first promotion retires nothing: the published state only changes the version's phase
  if (next.phase === "promoted" && stable === undefined) await o.serving?.publish();
  return { state: next, action: next.phase };
}

/** Canary limits from JSON (the team's `flywheel.canary` block), each field checked by name. */
export function parseLimits(raw: unknown): CanaryLimits {
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new ControllerError(`expected the canary limits to be an object, found ${JSON.stringify(raw)}`);
  const o = raw as Record<string, unknown>;
  const keys = [
    "share",
    "windowMinutes",
    "minRequests",
    "maxErrorRate",
    "maxLatencyRatio",
    "maxGuardFlagRate",
  ];
  const unknown = Object.keys(o).filter((k) => !keys.includes(k));
  if (unknown.length) throw new ControllerError(`canary limits: unknown field(s) ${unknown.join(", ")}`);
  const num = (k: string, ok: (v: number) => boolean, what: string): number => {
    const v = o[k];
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v))
      throw new ControllerError(
        `canary limits: expected ${k} to be ${what}, found ${JSON.stringify(v ?? null)}`,
      );
    return v;
  };
  return {
    share: num("share", (v) => v > 0 && v <= 0.5, "in (0, 0.5]"),
    windowMinutes: num("windowMinutes", (v) => v > 0, "> 0"),
    minRequests: num("minRequests", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1"),
    maxErrorRate: num("maxErrorRate", (v) => v >= 0 && v <= 1, "in [0, 1]"),
    maxLatencyRatio: num("maxLatencyRatio", (v) => v >= 1, ">= 1"),
    maxGuardFlagRate: num("maxGuardFlagRate", (v) => v >= 0 && v <= 1, "in [0, 1]"),
  };
}
