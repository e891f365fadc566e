/**
 * Child process of bench/routing.ts: N replicas of an OpenAI-compatible model server that
 * model what routing can win or lose, the KV prefix cache. It stands in for the llm-d inference
 * simulator of the `local` stack (a container image, not something that runs here; see
 * docs/gateway.md for why this wrapper).
 *
 * Per replica:
 * - The prompt (every message as `role: content`) is split into tokens (words) and blocks of
 *   BLOCK tokens, each identified by a hash chained over the blocks before it, like vLLM's
 *   automatic prefix caching. Only full blocks are cached.
 * - A bounded LRU of CACHE_BLOCKS blocks. A request's leading blocks found there are cache
 *   hits; the rest is prefilled and then cached.
 * - One prefill at a time (a FIFO queue): PREFILL_BASE_MS + PREFILL_MS_PER_TOKEN per uncached
 *   token. The first token (the first event of the stream) follows the prefill, so a prefix hit
 *   means a lower time to first token. Decoding then streams OUT_TOKENS tokens, DECODE_MS apart,
 *   concurrently with other requests.
 * - The usage chunk reports `prompt_tokens_details.cached_tokens` (as vLLM does).
 *
 * Usage: tsx bench/routing-sim.ts <replicas>  → prints one base URL per line.
 */
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export const SIM = {
  BLOCK: 16,
  CACHE_BLOCKS: 1024,
  PREFILL_BASE_MS: 1,
  PREFILL_MS_PER_TOKEN: 0.05,
  OUT_TOKENS: 64,
  DECODE_MS: 1,
} as const;

class Lru {
  private readonly m = new Map<string, true>();
  constructor(private readonly cap: number) {}
  has(k: string): boolean {
    if (!this.m.has(k)) return false;
    this.m.delete(k);
    this.m.set(k, true);
    return true;
  }
  add(k: string): void {
    this.m.delete(k);
    this.m.set(k, true);
    while (this.m.size > this.cap) this.m.delete(this.m.keys().next().value!);
  }
}

/** Chained hashes of the prompt's full blocks, and its token count. */
export function blocksOf(messages: { role: string; content: string }[]): {
  hashes: string[];
  tokens: number;
} {
  const tokens = messages.flatMap((m) => `${m.role}: ${m.content}`.split(/\s+/).filter(Boolean));
  const hashes: string[] = [];
  let prev = "";
  for (let i = 0; i + SIM.BLOCK <= tokens.length; i += SIM.BLOCK) {
    prev = createHash("sha1")
      .update(prev)
      .update(tokens.slice(i, i + SIM.BLOCK).join(" "))
      .digest("base64");
    hashes.push(prev);
  }
  return { hashes, tokens: tokens.length };
}

class Replica {
  private readonly cache = new Lru(SIM.CACHE_BLOCKS);
  private queue: Promise<void> = Promise.resolve();
  url = "";
  private server?: http.Server;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method === "GET" && req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "sim", object: "model", parent: null }] }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        model: string;
        messages: { role: string; content: string }[];
      };
      const { hashes, tokens } = blocksOf(body.messages);
      let hit = 0;
      // Prefill in turn: the cache is looked up when this request's prefill starts.
      const prefill = (this.queue = this.queue.then(async () => {
        while (hit < hashes.length && this.cache.has(hashes[hit])) hit++;
        const uncached = tokens - hit * SIM.BLOCK;
        await sleep(SIM.PREFILL_BASE_MS + SIM.PREFILL_MS_PER_TOKEN * uncached);
        for (const h of hashes) this.cache.add(h);
      }));
      void prefill.then(() => this.decode(res, body.model, tokens, hit * SIM.BLOCK));
    });
  }

  private async decode(
    res: http.ServerResponse,
    model: string,
    prompt: number,
    cached: number,
  ): Promise<void> {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const base = { id: "sim-1", object: "chat.completion.chunk", created: 1, model };
    const ev = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    ev({
      ...base,
      choices: [{ index: 0, delta: { role: "assistant", content: "t0 " }, finish_reason: null }],
    });
    for (let i = 1; i < SIM.OUT_TOKENS; i++) {
      await sleep(SIM.DECODE_MS);
      if (res.destroyed) return;
      ev({ ...base, choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] });
    }
    ev({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    ev({
      ...base,
      choices: [],
      usage: {
        prompt_tokens: prompt,
        completion_tokens: SIM.OUT_TOKENS,
        total_tokens: prompt + SIM.OUT_TOKENS,
        prompt_tokens_details: { cached_tokens: cached },
      },
    });
    res.end("data: [DONE]\n\n");
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 4);
  const rs = Array.from({ length: n }, () => new Replica());
  for (const r of rs) await r.start();
  process.stdout.write(rs.map((r) => r.url).join("\n") + "\n");
  process.on("SIGTERM", () => process.exit(0));
}

if (require.main === module) void main();
