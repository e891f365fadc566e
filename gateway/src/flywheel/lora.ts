/**
 * The canary controller's side of vLLM's runtime LoRA loading (pinned vLLM, components/lib/
 * versions.ts; the server needs `--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):
 *
 *   POST /v1/load_lora_adapter    {"lora_name": "<adapter>--<version>", "lora_path": "<dir>"}
 *   POST /v1/unload_lora_adapter  {"lora_name": "<adapter>--<version>"}
 *   GET  /v1/models               the base model and every loaded adapter (`parent` = base)
 *
 * Loading is idempotent here: a name already listed by /v1/models is not loaded again, so a
 * controller restart or a second replica's turn does not fail. Every replica must be told:
 * `replicaUrls` are the pod endpoints of the model server, not its Service.
 */
import * as http from "node:http";
import * as https from "node:https";
import { tlsFailure, upstreamTlsOptions } from "../upstream-tls";

export interface LoraClientOptions {
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /** The model server's API key, sent as `Authorization: Bearer` (the server requires it). */
  readonly apiKey?: string;
  /**
   * An https server's verification: `ca` (PEM) trusted alone, and the host name its certificate
   * must carry (`serverName`: the Service's, when `baseUrl` is a replica's address). Set: the
   * call is made with node:https (fetch takes no CA), never unverified. @default fetch, public CAs
   */
  readonly tls?: { readonly ca?: string; readonly serverName?: string; readonly caVariable?: string };
}

export class LoraError extends Error {}

/** One request over node:http(s) with `tls` (see {@link LoraClientOptions.tls}). */
function request(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  o: LoraClientOptions,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const tls = o.tls ?? {};
  return new Promise((resolve, reject) => {
    const req = (u.protocol === "https:" ? https : http).request(
      u,
      {
        method: init.method,
        headers: init.headers,
        agent: false,
        timeout: o.timeoutMs ?? 30_000,
        ...(u.protocol === "https:" ? upstreamTlsOptions(tls, tls.serverName ?? u.hostname) : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () =>
      req.destroy(new LoraError(`${init.method} ${url}: no answer in ${o.timeoutMs ?? 30_000} ms`)),
    );
    req.on("error", (e: NodeJS.ErrnoException) => {
      const why = u.protocol === "https:" ? tlsFailure(e, tls.caVariable) : undefined;
      reject(why ? new LoraError(`${init.method} ${url}: the model server's TLS failed: ${why}`) : e);
    });
    req.end(init.body);
  });
}

async function call(
  url: string,
  init: RequestInit,
  o: LoraClientOptions,
): Promise<{ status: number; body: string }> {
  const headers = { ...(init.headers as Record<string, string> | undefined) };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  if (o.tls && !o.fetch)
    return request(url, { method: init.method ?? "GET", headers, body: init.body as string | undefined }, o);
  const f = o.fetch ?? fetch;
  const r = await f(url, { ...init, headers, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
  return { status: r.status, body: await r.text() };
}

export async function loadedAdapters(baseUrl: string, o: LoraClientOptions = {}): Promise<string[]> {
  const r = await call(`${baseUrl}/v1/models`, { method: "GET" }, o);
  if (r.status !== 200)
    throw new LoraError(`GET ${baseUrl}/v1/models answered ${r.status}: ${r.body.slice(0, 200)}`);
  const data = (JSON.parse(r.body) as { data?: { id: string; parent?: string | null }[] }).data ?? [];
  return data.filter((m) => m.parent).map((m) => m.id);
}

export async function loadAdapter(
  baseUrl: string,
  name: string,
  path: string,
  o: LoraClientOptions = {},
): Promise<"loaded" | "present"> {
  if ((await loadedAdapters(baseUrl, o)).includes(name)) return "present";
  const r = await call(
    `${baseUrl}/v1/load_lora_adapter`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lora_name: name, lora_path: path }),
    },
    o,
  );
  if (r.status !== 200)
    throw new LoraError(
      `loading ${name} from ${path} into ${baseUrl} failed (${r.status}): ${r.body.slice(0, 300)}`,
    );
  return "loaded";
}

export async function unloadAdapter(
  baseUrl: string,
  name: string,
  o: LoraClientOptions = {},
): Promise<"unloaded" | "absent"> {
  if (!(await loadedAdapters(baseUrl, o)).includes(name)) return "absent";
  const r = await call(
    `${baseUrl}/v1/unload_lora_adapter`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lora_name: name }),
    },
    o,
  );
  if (r.status !== 200)
    throw new LoraError(`unloading ${name} from ${baseUrl} failed (${r.status}): ${r.body.slice(0, 300)}`);
  return "unloaded";
}

/** Loads into every replica; throws naming every replica that failed (the canary must not start). */
export async function loadEverywhere(
  replicaUrls: readonly string[],
  name: string,
  path: string,
  o: LoraClientOptions = {},
): Promise<void> {
  const results = await Promise.allSettled(replicaUrls.map((u) => loadAdapter(u, name, path, o)));
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${replicaUrls[i]}: ${(r.reason as Error).message}`] : [],
  );
  if (failed.length)
    throw new LoraError(
      `adapter ${name} is not loaded on ${failed.length} replica(s):\n  ${failed.join("\n  ")}`,
    );
}
