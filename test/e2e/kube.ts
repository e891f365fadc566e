/**
 * A small client of the real API server: discovery (apiVersion/kind → resource), server-side
 * apply, get, delete and list, over HTTPS with the admin client certificate.
 */
import * as https from "node:https";
import type { Manifest } from "./plan";

export interface Credentials {
  readonly server: string; // https://127.0.0.1:port
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface Response {
  readonly status: number;
  readonly body: any;
  readonly warnings: string[];
}

interface ResourceInfo {
  readonly plural: string;
  readonly namespaced: boolean;
}

export const FIELD_MANAGER = "sovereign-e2e";

export class Kube {
  private readonly agent: https.Agent;
  private resources = new Map<string, ResourceInfo>();

  constructor(private readonly creds: Credentials) {
    this.agent = new https.Agent({ ca: creds.ca, cert: creds.cert, key: creds.key, keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<Response> {
    const url = new URL(path, this.creds.server);
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            accept: "application/json",
            ...(data === undefined
              ? {}
              : { "content-type": contentType, "content-length": Buffer.byteLength(data) }),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              /* plain text body */
            }
            const w = res.headers.warning;
            const warnings = (Array.isArray(w) ? w : w ? [w] : []).map((x) => x.replace(/^299 - /, ""));
            resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      req.on("error", reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  /** Reloads discovery: every served apiVersion/kind and its resource. */
  async discover(): Promise<void> {
    const map = new Map<string, ResourceInfo>();
    const add = async (gv: string, prefix: string) => {
      const r = await this.request("GET", `${prefix}/${gv}`);
      if (r.status !== 200) return; // a group version that is not served (yet)
      for (const res of r.body.resources as { name: string; kind: string; namespaced: boolean }[]) {
        if (res.name.includes("/")) continue;
        map.set(`${gv}/${res.kind}`, { plural: res.name, namespaced: res.namespaced });
      }
    };
    await add("v1", "/api");
    const groups = await this.request("GET", "/apis");
    await Promise.all(
      (groups.body.groups as { versions: { groupVersion: string }[] }[]).flatMap((g) =>
        g.versions.map((v) => add(v.groupVersion, "/apis")),
      ),
    );
    this.resources = map;
  }

  info(apiVersion: string, kind: string): ResourceInfo | undefined {
    return this.resources.get(`${apiVersion}/${kind}`);
  }

  isClusterScoped = (apiVersion: string, kind: string): boolean =>
    this.info(apiVersion, kind)?.namespaced === false;

  /** The object's URL (collection URL when `name` is undefined), or undefined when the kind is not served. */
  url(apiVersion: string, kind: string, namespace: string | undefined, name?: string): string | undefined {
    const info = this.info(apiVersion, kind);
    if (!info) return undefined;
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = info.namespaced ? `/namespaces/${namespace ?? "default"}` : "";
    return `${base}${ns}/${info.plural}${name ? `/${name}` : ""}`;
  }

  /** The object as sent: a cluster-scoped kind carries no namespace (Helm leaves one on some). */
  private scoped(m: Manifest): Manifest {
    if (this.info(m.apiVersion, m.kind)?.namespaced !== false || m.metadata.namespace === undefined) return m;
    const { namespace: _dropped, ...metadata } = m.metadata;
    return { ...m, metadata };
  }

  /** Server-side apply (force: the run owns every field it sends). */
  async apply(m: Manifest, dryRun = false): Promise<Response> {
    const url = this.url(m.apiVersion, m.kind, m.metadata.namespace, m.metadata.name);
    if (!url)
      return { status: 404, body: { message: `${m.apiVersion} ${m.kind} is not served` }, warnings: [] };
    const q = `?fieldManager=${FIELD_MANAGER}&force=true&fieldValidation=Strict${dryRun ? "&dryRun=All" : ""}`;
    return this.request("PATCH", url + q, this.scoped(m), "application/apply-patch+yaml");
  }

  async create(m: Manifest, dryRun = false): Promise<Response> {
    const url = this.url(m.apiVersion, m.kind, m.metadata.namespace);
    if (!url)
      return { status: 404, body: { message: `${m.apiVersion} ${m.kind} is not served` }, warnings: [] };
    return this.request("POST", url + (dryRun ? "?dryRun=All" : ""), this.scoped(m));
  }

  async get(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<any> {
    const url = this.url(apiVersion, kind, namespace, name);
    if (!url) return undefined;
    const r = await this.request("GET", url);
    return r.status === 200 ? r.body : undefined;
  }

  async delete(m: Manifest): Promise<Response> {
    const url = this.url(m.apiVersion, m.kind, m.metadata.namespace, m.metadata.name);
    if (!url) return { status: 404, body: undefined, warnings: [] };
    return this.request("DELETE", url, {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy: "Background",
    });
  }

  async list(apiVersion: string, kind: string, namespace?: string): Promise<any[]> {
    const url = this.url(apiVersion, kind, namespace);
    if (!url) return [];
    const r = await this.request("GET", url);
    return r.status === 200 ? (r.body.items as any[]) : [];
  }
}

/** The server's message of a failed answer. */
export function messageOf(r: Response): string {
  if (r.body && typeof r.body === "object" && typeof r.body.message === "string") return r.body.message;
  return `HTTP ${r.status}: ${String(r.body).slice(0, 300)}`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value or `seconds` pass (bounded wait). */
export async function waitFor<T>(
  seconds: number,
  check: () => Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(500);
  }
}
