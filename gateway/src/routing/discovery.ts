/**
 * A model server's ready replicas, from its Service's EndpointSlices (discovery.k8s.io/v1),
 * listed and then watched through the Kubernetes API with the gateway's ServiceAccount token.
 * The RBAC this needs is `gatewayDiscoveryRoles` (components/platform/gateway.ts): list and watch
 * of endpointslices in each model namespace, nothing else.
 *
 * Only in-cluster Service URLs (`https://` or `http://<service>.<namespace>.svc[.cluster.local][:port]`)
 * are discovered (a replica of an https route is then reached by address, its certificate checked
 * against the Service's name: gateway/src/upstream-tls.ts); any other route (a model server outside the cluster) is used as it is. While
 * discovery is unavailable (no API access, the list forbidden, no slice read yet), or when it
 * finds no ready replica, the request goes to the Service URL and kube-proxy picks a replica.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { inClusterService } from "../../../components/lib/endpoints";

/** Label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export interface ServiceRef {
  readonly scheme: "http" | "https";
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
}

/** The Service a route URL names, or undefined when it is not an in-cluster Service URL. */
export const serviceOf: (url: string) => ServiceRef | undefined = inClusterService;

/** The fields of an EndpointSlice that discovery reads. */
export interface EndpointSlice {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string };
  readonly addressType?: string;
  readonly endpoints?: readonly {
    readonly addresses?: readonly string[];
    readonly conditions?: {
      readonly ready?: boolean | null;
      readonly serving?: boolean | null;
      readonly terminating?: boolean | null;
    };
  }[];
  readonly ports?: readonly { readonly name?: string | null; readonly port?: number | null }[] | null;
}

/**
 * Base URLs of the ready endpoints of a Service's slices (sorted, without duplicates). The
 * port: the slice's only port, else the one named like the Service port (`http`/`https`), else
 * the one equal to the Service port. A slice whose port cannot be told adds nothing. `ready`
 * absent counts as ready, and a terminating endpoint is never ready (the API's rules).
 */
export function replicasOf(slices: readonly EndpointSlice[], svc: ServiceRef): string[] {
  const out = new Set<string>();
  for (const s of slices) {
    if (s.addressType && s.addressType !== "IPv4" && s.addressType !== "IPv6") continue;
    const ports = (s.ports ?? []).filter((p) => typeof p.port === "number");
    const port =
      ports.length === 1
        ? ports[0]
        : (ports.find((p) => p.name === svc.scheme) ?? ports.find((p) => p.port === svc.port));
    if (!port) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      const a = e.addresses?.[0];
      if (!a) continue;
      out.add(`${svc.scheme}://${a.includes(":") ? `[${a}]` : a}:${port.port}`);
    }
  }
  return [...out].sort();
}

/** The API path of a Service's EndpointSlices (a list, or a watch from `resourceVersion`). */
export function slicesPath(svc: ServiceRef, watch?: { readonly resourceVersion: string }): string {
  const q = new URLSearchParams({ labelSelector: `${SERVICE_NAME_LABEL}=${svc.service}` });
  if (watch) {
    q.set("watch", "1");
    q.set("resourceVersion", watch.resourceVersion);
    q.set("allowWatchBookmarks", "true");
    q.set("timeoutSeconds", "300");
  }
  return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(svc.namespace)}/endpointslices?${q}`;
}

export interface KubeApi {
  /** The API server's URL (`https://10.96.0.1:443`). */
  readonly url: string;
  /** File with the bearer token (the projected ServiceAccount token, re-read on every call: it rotates). */
  readonly tokenFile?: string;
  /** CA bundle of the API server's certificate. */
  readonly caFile?: string;
}

/** The in-cluster API from the pod's environment, or undefined outside a cluster. */
export function inClusterApi(env: Readonly<Record<string, string | undefined>>): KubeApi | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT || "443";
  const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    tokenFile: `${dir}/token`,
    caFile: `${dir}/ca.crt`,
  };
}

export interface WatchEvents {
  /** The Service's ready replicas changed (after the first list, and on every change). */
  readonly onReplicas: (replicas: string[]) => void;
  /** Discovery failed (its replicas are no longer known); it retries on its own. */
  readonly onError: (message: string) => void;
}

/**
 * Lists a Service's EndpointSlices, then watches them, and reports its ready replicas. On any
 * failure it reports the error and starts over (list, then watch) after `retryMs`.
 */
export class SliceWatch {
  private readonly slices = new Map<string, EndpointSlice>();
  private req?: http.ClientRequest;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private last = "";
  /** Bumped by every failure: callbacks of an abandoned request do nothing. */
  private gen = 0;

  constructor(
    private readonly api: KubeApi,
    private readonly svc: ServiceRef,
    private readonly ev: WatchEvents,
    private readonly retryMs = 5000,
  ) {}

  start(): void {
    this.list();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.req?.destroy();
  }

  private report(): void {
    const r = replicasOf([...this.slices.values()], this.svc);
    const key = r.join(" ");
    if (key === this.last) return;
    this.last = key;
    this.ev.onReplicas(r);
  }

  private fail(message: string, gen = this.gen): void {
    if (this.stopped || gen !== this.gen) return;
    this.gen++;
    this.req?.destroy();
    this.last = "";
    this.slices.clear();
    this.ev.onError(message);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.list(), this.retryMs);
    this.timer.unref();
  }

  private request(
    path: string,
    idleTimeoutMs: number,
    onResponse: (res: http.IncomingMessage) => void,
  ): void {
    const gen = this.gen;
    let token = "";
    let ca: string | undefined;
    try {
      if (this.api.tokenFile) token = fs.readFileSync(this.api.tokenFile, "utf8").trim();
      if (this.api.caFile) ca = fs.readFileSync(this.api.caFile, "utf8");
    } catch (e) {
      return this.fail(`cannot read the ServiceAccount credentials: ${(e as Error).message}`);
    }
    const u = new URL(path, this.api.url);
    const headers: http.OutgoingHttpHeaders = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const opts: https.RequestOptions = {
      method: "GET",
      headers,
      ...(ca ? { ca } : {}),
      timeout: idleTimeoutMs,
    };
    const req = (u.protocol === "https:" ? https : http).request(u, opts, (res) => {
      if (gen === this.gen) onResponse(res);
      else res.destroy();
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${idleTimeoutMs} ms`)));
    req.on("error", (e) => this.fail(`${u.pathname}: ${e.message}`, gen));
    req.end();
    this.req = req;
  }

  private list(): void {
    if (this.stopped) return;
    const gen = this.gen;
    this.request(slicesPath(this.svc), 30_000, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => this.fail(e.message, gen));
      res.on("end", () => {
        if (gen !== this.gen) return;
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200)
          return this.fail(
            `listing endpointslices of ${this.where()} answered ${res.statusCode}: ${text.slice(0, 200)}`,
          );
        let list: { metadata?: { resourceVersion?: string }; items?: EndpointSlice[] };
        try {
          list = JSON.parse(text) as typeof list;
        } catch {
          return this.fail(`listing endpointslices of ${this.where()}: the answer is not JSON`);
        }
        this.slices.clear();
        for (const s of list.items ?? []) this.slices.set(s.metadata?.name ?? "", s);
        this.report();
        this.watch(list.metadata?.resourceVersion ?? "0");
      });
    });
  }

  private watch(resourceVersion: string): void {
    if (this.stopped) return;
    let rv = resourceVersion;
    const gen = this.gen;
    // Idle for longer than the watch's own timeoutSeconds: the connection is dead.
    this.request(slicesPath(this.svc, { resourceVersion: rv }), 330_000, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return this.fail(`watching endpointslices of ${this.where()} answered ${res.statusCode}`);
      }
      res.setEncoding("utf8");
      let pending = "";
      let gone = false;
      res.on("data", (chunk: string) => {
        if (gen !== this.gen) return;
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (!line) continue;
          let ev: { type?: string; object?: EndpointSlice & { code?: number } };
          try {
            ev = JSON.parse(line) as typeof ev;
          } catch {
            continue;
          }
          const name = ev.object?.metadata?.name ?? "";
          if (ev.object?.metadata?.resourceVersion) rv = ev.object.metadata.resourceVersion;
          if (ev.type === "ADDED" || ev.type === "MODIFIED") this.slices.set(name, ev.object!);
          else if (ev.type === "DELETED") this.slices.delete(name);
          else if (ev.type === "ERROR") gone = true; // 410 Gone and the like: list again
          if (ev.type !== "BOOKMARK") this.report();
        }
      });
      res.on("error", (e) => this.fail(e.message, gen));
      res.on("end", () => {
        if (this.stopped || gen !== this.gen) return;
        // The server ends a watch after timeoutSeconds: continue from where it stopped.
        if (gone) this.list();
        else this.watch(rv);
      });
    });
  }

  private where(): string {
    return `${this.svc.namespace}/${this.svc.service}`;
  }
}

/**
 * A Service's ready replicas now: one list of its EndpointSlices (no watch), for a short-lived
 * caller (the flywheel controller's CronJob run). Same RBAC as the watch (list of
 * endpointslices); a refused or failed list is an error naming the Service.
 */
export async function listReplicas(api: KubeApi, svc: ServiceRef, timeoutMs = 10_000): Promise<string[]> {
  const token = api.tokenFile ? fs.readFileSync(api.tokenFile, "utf8").trim() : "";
  const ca = api.caFile ? fs.readFileSync(api.caFile, "utf8") : undefined;
  const u = new URL(slicesPath(svc), api.url);
  const where = `${svc.namespace}/${svc.service}`;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = (u.protocol === "https:" ? https : http).request(
      u,
      {
        method: "GET",
        headers: { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(ca ? { ca } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (e) => reject(new Error(`listing endpointslices of ${where}: ${e.message}`)));
    req.end();
  });
  if (status !== 200)
    throw new Error(`listing endpointslices of ${where} answered ${status}: ${text.slice(0, 200)}`);
  let list: { items?: EndpointSlice[] };
  try {
    list = JSON.parse(text) as typeof list;
  } catch {
    throw new Error(`listing endpointslices of ${where}: the answer is not JSON`);
  }
  return replicasOf(list.items ?? [], svc);
}
