/**
 * Choosing a model server replica for one request (docs/gateway.md, "Routing across replicas").
 * Pure: the replicas' state comes in, a choice comes out; `router.ts` keeps the state.
 *
 * `prefix-affinity` (the default): requests with the same prefix key (a conversation, or a long
 * shared prompt prefix: {@link prefixKey}) go to the same replica, the one most likely to hold
 * that prefix in its KV cache. The preferred replica is the first of the key's rendezvous
 * (highest-random-weight) order, so every gateway replica agrees without shared state and a
 * replica that leaves moves only its own keys. A replica over the load bound (more outstanding
 * requests than `loadFactor` times the mean, rounded up) is skipped for the next in the key's
 * order: consistent hashing with bounded loads. Without a key: least outstanding requests
 * (ties at random).
 *
 * Before the strategy: replicas the retry excludes are removed; an adapter request keeps only
 * the replicas known to have that adapter loaded (when any is); ejected replicas are removed
 * unless every remaining one is ejected (then all are tried rather than none).
 */
import { createHash } from "node:crypto";

export const STRATEGIES = ["prefix-affinity", "least-load", "round-robin", "random"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface ReplicaView {
  /** The replica's base URL (`http://10.0.3.7:8000`). */
  readonly id: string;
  /** Requests sent to it that have not finished. */
  readonly outstanding: number;
  /** Ejected by outlier detection (outlier.ts). */
  readonly ejected: boolean;
  /** Model names it serves besides its base model (loaded LoRA adapters); undefined: not known. */
  readonly adapters?: ReadonlySet<string>;
}

export interface PickRequest {
  /** Prefix key ({@link prefixKey}); undefined: no affinity (least load). */
  readonly key?: string;
  /** The model name sent upstream (an adapter's served name, or the base model). */
  readonly model?: string;
  /** Replicas not to use (the one a retried request failed on). */
  readonly exclude?: ReadonlySet<string>;
}

export interface PickOptions {
  readonly strategy: Strategy;
  /** Bounded-load factor c >= 1 of prefix affinity. @default 1.25 */
  readonly loadFactor?: number;
  /** A number in [0, 1) (random strategy). */
  readonly random?: number;
  /** A counter that advances per request (round-robin strategy). */
  readonly sequence?: number;
}

export type PickReason = "affinity" | "spill" | "least-load" | "round-robin" | "random";

export interface Pick {
  readonly id: string;
  readonly reason: PickReason;
}

/** 64-bit rendezvous weight of a (key, replica) pair. */
export function weight(key: string, id: string): bigint {
  return createHash("sha256").update(key).update("\0").update(id).digest().readBigUInt64BE(0);
}

/** The replicas in the key's rendezvous order (highest weight first; ties by id). */
export function rendezvousOrder<T extends { readonly id: string }>(key: string, replicas: readonly T[]): T[] {
  return replicas
    .map((r) => ({ r, w: weight(key, r.id) }))
    .sort((a, b) => (a.w === b.w ? (a.r.id < b.r.id ? -1 : 1) : a.w > b.w ? -1 : 1))
    .map((x) => x.r);
}

/** The most outstanding requests a replica may have after taking this one (bounded loads). */
export function loadBound(replicas: readonly ReplicaView[], loadFactor: number): number {
  const total = replicas.reduce((s, r) => s + r.outstanding, 0);
  return Math.ceil((loadFactor * (total + 1)) / replicas.length);
}

/** The replicas a request may use, before the strategy chooses among them. */
export function candidates(replicas: readonly ReplicaView[], req: PickRequest): readonly ReplicaView[] {
  let c = req.exclude ? replicas.filter((r) => !req.exclude!.has(r.id)) : [...replicas];
  if (req.model !== undefined) {
    const model = req.model;
    const holding = c.filter((r) => r.adapters?.has(model));
    // Known somewhere: only there. Known nowhere (a base model, or adapter sets not read yet): anywhere.
    if (holding.length) c = holding;
  }
  const healthy = c.filter((r) => !r.ejected);
  return healthy.length ? healthy : c;
}

/** The replica for one request, or undefined when none is left. */
export function pick(replicas: readonly ReplicaView[], req: PickRequest, o: PickOptions): Pick | undefined {
  const c = candidates(replicas, req);
  if (!c.length) return undefined;
  const done = (id: string, reason: PickReason): Pick => ({ id, reason });
  switch (o.strategy) {
    case "random":
      return done(c[Math.min(c.length - 1, Math.floor((o.random ?? Math.random()) * c.length))].id, "random");
    case "round-robin": {
      const sorted = [...c].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const n = o.sequence ?? 0;
      return done(sorted[((n % sorted.length) + sorted.length) % sorted.length].id, "round-robin");
    }
    case "least-load":
      return done(leastLoaded(c, o.random).id, "least-load");
    case "prefix-affinity": {
      if (req.key === undefined) return done(leastLoaded(c, o.random).id, "least-load");
      const bound = loadBound(c, o.loadFactor ?? 1.25);
      const order = rendezvousOrder(req.key, c);
      const i = order.findIndex((r) => r.outstanding + 1 <= bound);
      // The least loaded replica is always within the bound (c >= 1), so i >= 0.
      return i === 0 ? done(order[0].id, "affinity") : done(order[Math.max(0, i)].id, "spill");
    }
  }
}

/** Fewest outstanding requests; ties at random (`random` in [0, 1), else the first by id). */
function leastLoaded(c: readonly ReplicaView[], random = 0): ReplicaView {
  const min = Math.min(...c.map((r) => r.outstanding));
  const tied = c.filter((r) => r.outstanding === min).sort((a, b) => (a.id < b.id ? -1 : 1));
  return tied[Math.min(tied.length - 1, Math.floor(random * tied.length))];
}

/** Characters of a completion prompt that make its key (requests sharing them share a prefix). */
export const PREFIX_KEY_CHARS = 2048;

/**
 * The prefix key of a request body, or undefined (embeddings; no prompt).
 *
 * - Chat: the messages up to and including the first user message (role and content). Every
 *   turn of a conversation repeats them, so a conversation keeps its replica, and the replica
 *   holds the conversation's growing prefix. Conversations that share only a system prompt get
 *   different keys and spread (each replica computes a shared system prompt once, then hits).
 * - Completions: the first {@link PREFIX_KEY_CHARS} characters of the prompt.
 *
 * The model is part of the key: an adapter's KV cache is not its base model's.
 */
export function prefixKey(
  endpoint: string,
  body: Record<string, unknown>,
  /** The model name sent upstream (a flywheel version's served name). @default body.model */
  model: string = typeof body.model === "string" ? body.model : "",
): string | undefined {
  if (endpoint === "/v1/chat/completions" && Array.isArray(body.messages)) {
    const h = createHash("sha256").update(model).update("\0");
    let any = false;
    for (const m of body.messages as unknown[]) {
      const msg = (m ?? {}) as { role?: unknown; content?: unknown };
      h.update(String(msg.role))
        .update("\0")
        .update(JSON.stringify(msg.content ?? null))
        .update("\0");
      any = true;
      if (msg.role === "user") break;
    }
    return any ? h.digest("base64url").slice(0, 22) : undefined;
  }
  if (endpoint === "/v1/completions") {
    const p = body.prompt;
    const text = typeof p === "string" ? p : Array.isArray(p) ? JSON.stringify(p) : undefined;
    if (!text) return undefined;
    return createHash("sha256")
      .update(model)
      .update("\0")
      .update(text.slice(0, PREFIX_KEY_CHARS))
      .digest("base64url")
      .slice(0, 22);
  }
  return undefined;
}
