/**
 * A minimal OpenAI-compatible server with vLLM's runtime LoRA endpoints, for the flywheel's
 * controller tests (the local stack's simulator has no runtime adapter loading). It serves one
 * base model, lists loaded adapters in /v1/models with `parent`, refuses runtime loading unless
 * started with `allowRuntimeLora` (like VLLM_ALLOW_RUNTIME_LORA_UPDATING), answers chats for
 * known names only (404 like vLLM otherwise), and fails every chat for names in `failing`.
 * Options: adapters served from the start (as the chart's `--lora-modules`), the answer to a
 * chat; every chat completion it answers or fails is recorded in `chats` with its time.
 *
 * With `adapterFiles`, a runtime load reads `lora_path` as vLLM does (its LoRA loader, then
 * `max_lora_rank`): no folder with an `adapter_config.json` there is 404 `Loading lora <name>
 * failed: No adapter found for <path>` (vLLM's LoRAAdapterNotFoundError); a rank `r` above
 * `maxLoraRank` is 500 `LoRA rank <r> is greater than max_lora_rank <m>.` (the engine's
 * ValueError, answered as an internal error by the pinned vLLM's models/serving.py).
 *
 * With `apiKey`, it checks the key as the chart's vLLM does: VLLM_API_KEY, checked by vLLM's own
 * middleware (serve/middleware/authenticate.py: the `Authorization` header, split at its first
 * space, scheme `bearer` in any case, the rest equal to the key) on /v1, /v2, /inference and
 * /cohere, and by the chart's files/api_guard.py on every other path but /health and /metrics:
 * anything else answers 401 `{"error": "Unauthorized"}` and is counted in `unauthorized`.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import type { AddressInfo } from "node:net";

export interface FakeVllm {
  readonly url: string;
  readonly loaded: Map<string, string>;
  readonly failing: Set<string>;
  readonly calls: string[];
  /** Requests refused for a missing or wrong API key (`METHOD path`). */
  readonly unauthorized: string[];
  readonly chats: { readonly at: number; readonly model: string; readonly status: number }[];
  /** When each runtime-loaded name was loaded (ms since the epoch). */
  readonly loadedAt: Map<string, number>;
  close(): Promise<void>;
}

export interface FakeVllmOptions {
  /** Adapter names served from the start (statically configured, not loaded at runtime). */
  readonly staticAdapters?: readonly string[];
  /** The assistant's answer to a chat (default `served by <model>`). */
  readonly answer?: (model: string, messages: { role: string; content: string }[]) => string;
  /** Read the adapter's files at `lora_path` when loading (`--max-lora-rank`). @default no check */
  readonly adapterFiles?: { readonly maxLoraRank: number };
  /** The server's API key (VLLM_API_KEY); unset: no key is checked. */
  readonly apiKey?: string;
  /** Serve HTTPS with this certificate and key (PEM), as the chart's servers do. @default HTTP */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** Whether vLLM with `--api-key` and the chart's api_guard.py lets `path` through without a key. */
export function publicPath(path: string): boolean {
  return ["/health", "/metrics"].some((p) => path === p || path.startsWith(`${p}/`));
}

/** vLLM's check of the `Authorization` header (serve/middleware/authenticate.py, `verify_token`). */
export function keyMatches(header: string | undefined, key: string): boolean {
  if (!header) return false;
  const i = header.indexOf(" ");
  const scheme = i < 0 ? header : header.slice(0, i);
  const token = i < 0 ? "" : header.slice(i + 1);
  return scheme.toLowerCase() === "bearer" && token === key;
}

export async function startFakeVllm(
  base: string,
  allowRuntimeLora: boolean,
  o: FakeVllmOptions = {},
): Promise<FakeVllm> {
  const loaded = new Map<string, string>();
  for (const a of o.staticAdapters ?? []) loaded.set(a, "static");
  const chats: { at: number; model: string; status: number }[] = [];
  const failing = new Set<string>();
  const calls: string[] = [];
  const unauthorized: string[] = [];
  const loadedAt = new Map<string, number>();
  /** vLLM's answer to a load whose files are missing or too large a rank; undefined: loads. */
  const refuse = (name: string, dir: string): [number, string] | undefined => {
    const cfg = path.join(dir, "adapter_config.json");
    if (!fs.existsSync(cfg)) return [404, `Loading lora ${name} failed: No adapter found for ${dir}`];
    const r = Number((JSON.parse(fs.readFileSync(cfg, "utf8")) as { r?: number }).r);
    const max = o.adapterFiles!.maxLoraRank;
    return r > max ? [500, `LoRA rank ${r} is greater than max_lora_rank ${max}.`] : undefined;
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (o.apiKey !== undefined && !publicPath(path) && !keyMatches(req.headers.authorization, o.apiKey)) {
        unauthorized.push(`${req.method} ${req.url}`);
        return send(401, { error: "Unauthorized" });
      }
      const body = raw ? (JSON.parse(raw) as Record<string, any>) : {};
      calls.push(`${req.method} ${req.url}`);
      if (req.method === "GET" && req.url === "/v1/models")
        return send(200, {
          object: "list",
          data: [
            { id: base, object: "model", parent: null },
            ...[...loaded.keys()].map((id) => ({ id, object: "model", parent: base })),
          ],
        });
      if (
        req.method === "POST" &&
        (req.url === "/v1/load_lora_adapter" || req.url === "/v1/unload_lora_adapter")
      ) {
        if (!allowRuntimeLora) return send(404, { detail: "Not Found" });
        const name = body.lora_name as string;
        if (req.url === "/v1/load_lora_adapter") {
          if (loaded.has(name))
            return send(400, { error: { message: `The lora adapter '${name}' has already been loaded.` } });
          if (o.adapterFiles) {
            const no = refuse(name, String(body.lora_path ?? ""));
            if (no) return send(no[0], { error: { message: no[1], code: no[0] } });
          } else if (!String(body.lora_path ?? "").startsWith("/adapters/"))
            return send(400, { error: { message: `No adapter found for ${body.lora_path}` } });
          loaded.set(name, body.lora_path);
          loadedAt.set(name, Date.now());
          res.writeHead(200, { "content-type": "text/plain" });
          return res.end(`Success: LoRA adapter '${name}' added successfully.`);
        }
        if (!loaded.delete(name))
          return send(404, { error: { message: `The lora adapter '${name}' cannot be found.` } });
        res.writeHead(200, { "content-type": "text/plain" });
        return res.end(`Success: LoRA adapter '${name}' removed successfully.`);
      }
      if (req.method === "POST" && req.url === "/v1/chat/completions") {
        const model = body.model as string;
        if (model !== base && !loaded.has(model)) {
          chats.push({ at: Date.now(), model, status: 404 });
          return send(404, { error: { message: `The model \`${model}\` does not exist.`, code: 404 } });
        }
        if (failing.has(model)) {
          chats.push({ at: Date.now(), model, status: 500 });
          return send(500, { error: { message: "adapter crashed" } });
        }
        chats.push({ at: Date.now(), model, status: 200 });
        return send(200, {
          id: "chatcmpl-1",
          object: "chat.completion",
          created: 0,
          model,
          choices: [
            {
              index: 0,
              finish_reason: "stop",
              message: {
                role: "assistant",
                content: o.answer ? o.answer(model, body.messages) : `served by ${model}`,
              },
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
        });
      }
      send(404, { detail: "Not Found" });
    });
  };
  const server = o.tls
    ? https.createServer({ cert: o.tls.cert, key: o.tls.key }, handler)
    : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `${o.tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    loaded,
    failing,
    calls,
    unauthorized,
    chats,
    loadedAt,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
