/**
 * The slice of the Kubernetes API that the gateway's routing reads: list and watch of
 * `discovery.k8s.io/v1` EndpointSlices by namespace and `kubernetes.io/service-name` label, in
 * the API's wire format (a List object, then newline-delimited watch events). It records every
 * request (method, path, bearer token) and can refuse them (403) to stand for missing RBAC.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { EndpointSlice } from "../../src/routing/discovery";

export interface SeenApiRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
}

/** An EndpointSlice of `service` with one endpoint per address, like the controller writes. */
export function sliceOf(
  service: string,
  name: string,
  endpoints: readonly { address: string; ready: boolean }[],
  port: number,
): EndpointSlice & { metadata: { name: string; labels: Record<string, string> } } {
  return {
    metadata: { name, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: { ready: e.ready, serving: e.ready, terminating: false },
    })),
    ports: [{ name: "http", port }],
  };
}

export class FakeKubeApi {
  readonly seen: SeenApiRequest[] = [];
  /** Answer 403 to every request (no RBAC). */
  forbid = false;
  url = "";
  private server?: http.Server;
  private rv = 1;
  /** Slices by namespace, then by name. */
  private readonly slices = new Map<string, Map<string, EndpointSlice & { metadata: { name: string } }>>();
  private readonly watches = new Set<{ ns: string; service: string; res: http.ServerResponse }>();

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Creates or replaces a slice, and tells the open watches of its Service. */
  put(
    ns: string,
    slice: EndpointSlice & { metadata: { name: string; labels?: Record<string, string> } },
  ): void {
    const obj = { ...slice, metadata: { ...slice.metadata, resourceVersion: String(++this.rv) } };
    const m = this.slices.get(ns) ?? new Map();
    const type = m.has(obj.metadata.name) ? "MODIFIED" : "ADDED";
    m.set(obj.metadata.name, obj);
    this.slices.set(ns, m);
    const service = obj.metadata.labels?.["kubernetes.io/service-name"];
    for (const w of this.watches)
      if (w.ns === ns && w.service === service) w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? "/", "http://x");
    this.seen.push({
      method: req.method ?? "",
      path: req.url ?? "",
      authorization: req.headers.authorization,
    });
    if (this.forbid) {
      res
        .writeHead(403, { "content-type": "application/json" })
        .end(JSON.stringify({ kind: "Status", status: "Failure", reason: "Forbidden", code: 403 }));
      return;
    }
    const m = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(u.pathname);
    const sel = /^kubernetes\.io\/service-name=(.+)$/.exec(u.searchParams.get("labelSelector") ?? "");
    if (req.method !== "GET" || !m || !sel) {
      res.writeHead(404).end();
      return;
    }
    const [ns, service] = [m[1], sel[1]];
    if (u.searchParams.get("watch") === "1") {
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      const w = { ns, service, res };
      this.watches.add(w);
      res.on("close", () => this.watches.delete(w));
      return;
    }
    const items = [...(this.slices.get(ns)?.values() ?? [])].filter(
      (s) =>
        (s.metadata as { labels?: Record<string, string> }).labels?.["kubernetes.io/service-name"] ===
        service,
    );
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        kind: "EndpointSliceList",
        apiVersion: "discovery.k8s.io/v1",
        metadata: { resourceVersion: String(this.rv) },
        items,
      }),
    );
  }
}
