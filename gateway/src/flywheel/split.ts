/**
 * The gateway's canary split (docs/flywheel.md). Clients call the stable adapter name; the
 * gateway rewrites it to a version's served name before the request goes upstream:
 * the candidate for a `share` of requests, the promoted version for the rest. The choice is a
 * hash of the request id, so a retried request (same id) lands on the same version, and the
 * share is exact in expectation without shared state between gateway replicas.
 *
 * The route stage (pipeline/route.ts) calls `routeModel`; the audit row of the request records
 * the version and whether it was the canary (`gateway_audit.flywheel_version`,
 * `flywheel_canary`), which is where the canary controller (controller.ts) counts each
 * version's requests, 5xx answers, guard flags and latency.
 */
import { createHash } from "node:crypto";

/** Served name of one adapter version in vLLM: `<adapter>--<version>`. */
export function servedName(adapter: string, version: string): string {
  return `${adapter}--${version}`;
}

export interface AdapterRoute {
  /**
   * The promoted version (served to everyone outside the canary share). None before an
   * adapter's first promotion: the rest of the traffic keeps the name the client sent (what the
   * model server serves under it today, e.g. a statically configured adapter).
   */
  readonly stable?: string;
  /** The canary version and its share in (0, 1), when a canary runs. */
  readonly canary?: { readonly version: string; readonly share: number };
}

/** A number in [0, 1) from a request id (the first 52 bits of its SHA-256). */
export function bucketOf(requestId: string): number {
  const h = createHash("sha256").update(requestId).digest();
  return (h.readUInt32BE(0) * 2 ** 20 + (h.readUInt32BE(4) >>> 12)) / 2 ** 52;
}

/**
 * The upstream model name for a request: unchanged when `model` is not a flywheel adapter,
 * the canary's served name for its share of request ids, else the stable version's.
 */
export function routeModel(
  routes: Readonly<Record<string, AdapterRoute>>,
  model: string,
  requestId: string,
): { model: string; version?: string; canary: boolean } {
  const r = Object.hasOwn(routes, model) ? routes[model] : undefined;
  if (!r) return { model, canary: false };
  if (r.canary && bucketOf(requestId) < r.canary.share)
    return { model: servedName(model, r.canary.version), version: r.canary.version, canary: true };
  if (r.stable === undefined) return { model, canary: false };
  return { model: servedName(model, r.stable), version: r.stable, canary: false };
}

/** Routes from the registry's serving rows (promoted + canary per adapter). */
export function routesFromServing(
  rows: readonly { adapter: string; version: string; phase: string; share: number }[],
): Record<string, AdapterRoute> {
  // A Map, not an object literal: an adapter name may be "constructor" or "toString", which
  // `out[name] ??= {}` would read from Object.prototype (and then write into).
  const out = new Map<string, { stable?: string; canary?: { version: string; share: number } }>();
  for (const r of rows) {
    const e = out.get(r.adapter) ?? {};
    out.set(r.adapter, e);
    if (r.phase === "promoted") e.stable = r.version;
    if (r.phase === "canary") e.canary = { version: r.version, share: r.share };
  }
  // An adapter with a canary but nothing promoted yet: the canary's share goes to it, the rest
  // keeps the stable name (the first version is measured against what serves that name today).
  return Object.fromEntries(
    [...out]
      .filter(([, e]) => e.stable || e.canary)
      .map(([a, e]) => [a, { stable: e.stable, canary: e.canary }]),
  );
}
