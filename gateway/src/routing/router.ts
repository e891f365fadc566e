/**
 * Routing across a model server's replicas: the state behind the pure choice of balance.ts.
 * Per route (the catalog's model server URL, a Service), the replicas discovery found
 * (discovery.ts), each one's outstanding requests, outlier state (outlier.ts) and loaded
 * adapters (read from its `/v1/models`, flywheel/lora.ts). A route with no replica known
 * (discovery off or unavailable, nothing ready, a URL outside the cluster) is its own only
 * replica: requests go to the Service URL and kube-proxy picks.
 */
import { loadedAdapters } from "../flywheel/lora";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { pick, type PickReason, type Strategy } from "./balance";
import { inClusterApi, serviceOf, SliceWatch, type KubeApi } from "./discovery";
import {
  DEFAULT_OUTLIER,
  HEALTHY,
  isEjected,
  record,
  type OutlierOptions,
  type OutlierState,
} from "./outlier";

export interface RoutingSettings {
  /** How a replica is chosen; `service`: no routing, the Service URL (kube-proxy). */
  readonly strategy: Strategy | "service";
  /** Bounded-load factor of prefix affinity. @default 1.25 */
  readonly loadFactor: number;
  readonly outlier: OutlierOptions;
  /** How often each replica's loaded adapters are read (`GET /v1/models`), ms; 0 never. */
  readonly adapterPollMs: number;
  /** The Kubernetes API that discovery reads; absent: the in-cluster API, or none outside a cluster. */
  readonly kubeApi?: KubeApi;
  /** Wait before discovery starts over after a failure, ms. @default 5000 */
  readonly discoveryRetryMs?: number;
}

export const DEFAULT_ROUTING: RoutingSettings = {
  strategy: "prefix-affinity",
  loadFactor: 1.25,
  outlier: DEFAULT_OUTLIER,
  adapterPollMs: 10_000,
};

interface ReplicaState {
  outstanding: number;
  outlier: OutlierState;
  adapters?: ReadonlySet<string>;
}

interface RouteState {
  /** Discovered replicas (base URLs); empty: the route URL itself. */
  replicas: string[];
  readonly state: Map<string, ReplicaState>;
  watch?: SliceWatch;
}

/** One request's use of a replica: `url` to send to, then exactly one `end`. */
export interface Lease {
  /** Base URL: a replica's, or the route's own (the Service) when none is known. */
  readonly url: string;
  readonly reason: PickReason | "service";
  /** Replicas the route had to choose from. */
  readonly choices: number;
  /** The request finished: `ok` false for a failure of the replica (outlier detection). */
  end(ok: boolean): void;
}

/** What the router needs to know of a request. */
export interface RouteRequest {
  /** Prefix key (balance.ts `prefixKey`), or a function computing it when needed. */
  readonly key?: string | (() => string | undefined);
  /** The model name sent upstream (adapters are loaded on some replicas only). */
  readonly model?: string;
}

export interface RouterOptions {
  readonly settings: RoutingSettings;
  /** The model server URLs to route (the catalog's routes). */
  readonly routes: readonly string[];
  /** API keys by route, sent to that route's replicas (their adapter listing). @default none */
  readonly apiKeys?: ReadonlyMap<string, string>;
  /**
   * CA certificates (PEM) an https route's replicas are verified with (their adapter listing);
   * each must name its route's host. @default the public CAs
   */
  readonly ca?: string;
  readonly log?: Logger;
  readonly metrics?: Metrics;
  /** For discovery's in-cluster default. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  readonly random?: () => number;
}

export class Router {
  private readonly routes = new Map<string, RouteState>();
  private readonly now: () => number;
  private readonly random: () => number;
  private sequence = 0;
  private timer?: NodeJS.Timeout;
  /** The API discovery reads, or undefined (every route goes to its Service). */
  readonly api?: KubeApi;

  constructor(private readonly o: RouterOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    for (const r of o.routes) this.routes.set(r, { replicas: [], state: new Map() });
    if (o.settings.strategy !== "service")
      this.api = o.settings.kubeApi ?? inClusterApi(o.env ?? process.env);
  }

  /** Starts discovery of every in-cluster route, and the adapter reads. */
  start(): void {
    if (this.o.settings.strategy === "service") return;
    if (!this.api) {
      this.o.log?.info("routing: no Kubernetes API (not in a cluster); requests go to each Service");
      return;
    }
    for (const [url, rs] of this.routes) {
      const svc = serviceOf(url);
      // An https route's replicas are reached by address and verified against the route's host.
      if (!svc) continue;
      rs.watch = new SliceWatch(
        this.api,
        svc,
        {
          onReplicas: (replicas) => {
            this.setReplicas(url, replicas);
            this.o.log?.info("routing: replicas", { upstream: url, replicas: replicas.length });
            if (this.o.settings.adapterPollMs > 0) void this.readAdapters(url);
          },
          onError: (message) => {
            this.setReplicas(url, []);
            this.o.log?.warn("routing: discovery unavailable; requests go to the Service", {
              upstream: url,
              error: message,
            });
          },
        },
        this.o.settings.discoveryRetryMs ?? 5000,
      );
      rs.watch.start();
    }
    if (this.o.settings.adapterPollMs > 0) {
      this.timer = setInterval(() => {
        for (const url of this.routes.keys()) void this.readAdapters(url);
      }, this.o.settings.adapterPollMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    for (const rs of this.routes.values()) rs.watch?.stop();
  }

  /** Replaces a route's replicas (discovery; tests and the bench set them directly). */
  setReplicas(route: string, replicas: readonly string[]): void {
    const rs = this.route(route);
    rs.replicas = [...replicas];
    for (const id of rs.state.keys()) if (!replicas.includes(id) && id !== route) rs.state.delete(id);
    this.gauge(route);
  }

  /** The replicas a route currently chooses from (its own URL when none is known). */
  replicas(route: string): string[] {
    const rs = this.routes.get(route);
    return rs?.replicas.length ? [...rs.replicas] : [route];
  }

  /** Records that `model` is loaded on a replica (learned from its `/v1/models`). */
  setAdapters(route: string, replica: string, models: readonly string[]): void {
    this.stateOf(this.route(route), replica).adapters = new Set(models);
  }

  /** Whether a replica is ejected now. */
  ejected(route: string, replica: string): boolean {
    const s = this.routes.get(route)?.state.get(replica);
    return s !== undefined && isEjected(s.outlier, this.now());
  }

  /**
   * A replica of `route` for one request: `key` its prefix key, `model` the model name sent
   * upstream, `exclude` replicas already tried. Undefined when `exclude` leaves none.
   */
  acquire(route: string, req: RouteRequest & { readonly exclude?: ReadonlySet<string> }): Lease | undefined {
    const rs = this.route(route);
    const now = this.now();
    const ids = rs.replicas.length ? rs.replicas : [route];
    const strategy = this.o.settings.strategy;
    let id: string;
    let reason: Lease["reason"];
    if (strategy === "service" || !rs.replicas.length) {
      if (req.exclude?.has(route)) return undefined;
      id = route;
      reason = "service";
    } else {
      const views = ids.map((r) => {
        const s = this.stateOf(rs, r);
        return {
          id: r,
          outstanding: s.outstanding,
          ejected: isEjected(s.outlier, now),
          adapters: s.adapters,
        };
      });
      // The prefix key is computed only when it can matter (it hashes the prompt).
      const key =
        strategy === "prefix-affinity" && views.length > 1
          ? typeof req.key === "function"
            ? req.key()
            : req.key
          : undefined;
      const p = pick(
        views,
        { key, model: req.model, exclude: req.exclude },
        {
          strategy,
          loadFactor: this.o.settings.loadFactor,
          random: this.random(),
          sequence: this.sequence++,
        },
      );
      if (!p) return undefined;
      id = p.id;
      reason = p.reason;
    }
    const s = this.stateOf(rs, id);
    s.outstanding++;
    this.o.metrics?.routePicks.inc({ upstream: route, reason: req.exclude?.size ? "retry" : reason });
    let ended = false;
    return {
      url: id,
      reason,
      choices: ids.length,
      end: (ok: boolean) => {
        if (ended) return;
        ended = true;
        s.outstanding--;
        const t = this.now();
        const was = isEjected(s.outlier, t);
        s.outlier = record(s.outlier, ok, t, this.o.settings.outlier);
        if (!was && isEjected(s.outlier, t) && id !== route) {
          this.o.metrics?.routeEjections.inc({ upstream: route });
          this.o.log?.warn("routing: replica ejected", {
            upstream: route,
            replica: id,
            forMs: s.outlier.ejectedUntil - t,
          });
        }
        this.gauge(route);
      },
    };
  }

  private route(route: string): RouteState {
    let rs = this.routes.get(route);
    if (!rs) this.routes.set(route, (rs = { replicas: [], state: new Map() }));
    return rs;
  }

  private stateOf(rs: RouteState, id: string): ReplicaState {
    let s = rs.state.get(id);
    if (!s) rs.state.set(id, (s = { outstanding: 0, outlier: HEALTHY }));
    return s;
  }

  private gauge(route: string): void {
    const rs = this.routes.get(route);
    if (!rs || !this.o.metrics) return;
    const now = this.now();
    const ejected = rs.replicas.filter((r) => {
      const s = rs.state.get(r);
      return s !== undefined && isEjected(s.outlier, now);
    }).length;
    this.o.metrics.routeReplicas.set({ upstream: route, state: "ready" }, rs.replicas.length);
    this.o.metrics.routeReplicas.set({ upstream: route, state: "ejected" }, ejected);
  }

  /** Reads which adapters each replica of a route has loaded; a replica that does not answer keeps what was known. */
  private async readAdapters(route: string): Promise<void> {
    const rs = this.routes.get(route);
    if (!rs) return;
    await Promise.all(
      rs.replicas.map(async (r) => {
        try {
          const models = await loadedAdapters(r, {
            timeoutMs: 2000,
            apiKey: this.o.apiKeys?.get(route),
            tls: { ...(this.o.ca ? { ca: this.o.ca } : {}), serverName: new URL(route).hostname },
          });
          if (rs.replicas.includes(r)) this.stateOf(rs, r).adapters = new Set(models);
        } catch {
          // Unknown for now: the replica stays eligible for any model.
        }
      }),
    );
  }
}

/** What the request's upstream call failed with, when another replica may safely be tried. */
export function retryable(e: unknown, responseStarted: boolean): boolean {
  // 502 from the proxy: the connection failed, or broke before the answer reached the client.
  // A timeout (504) is not retried: the model may still be working on it.
  return (
    !responseStarted && typeof e === "object" && e !== null && (e as { status?: unknown }).status === 502
  );
}

/**
 * Sends one request through the router: to the chosen replica, and once more to another one
 * when the first fails before anything reached the client. `send` returns the upstream status
 * it relayed through `report` (5xx counts as the replica's failure).
 */
export async function sendRouted<T>(
  router: Router | undefined,
  route: string,
  req: RouteRequest,
  responseStarted: () => boolean,
  send: (base: string, report: (upstreamStatus: number) => void) => Promise<T>,
): Promise<T> {
  if (!router) return send(route, () => undefined);
  const tried = new Set<string>();
  for (;;) {
    const lease = router.acquire(route, { ...req, exclude: tried });
    if (!lease) throw new Error("unreachable: the first choice always has a replica");
    let status = 0;
    try {
      const out = await send(lease.url, (s) => (status = s));
      lease.end(status < 500);
      return out;
    } catch (e) {
      lease.end(false);
      tried.add(lease.url);
      if (tried.size > 1 || lease.choices < 2 || !retryable(e, responseStarted())) throw e;
    }
  }
}
