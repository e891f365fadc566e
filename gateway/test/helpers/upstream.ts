/**
 * An OpenAI-compatible upstream for tests (what vLLM answers): chat and text completions,
 * streaming (SSE, with the usage chunk when `stream_options.include_usage` is set) and not,
 * and embeddings. It records every request it received and every one that was aborted by the
 * caller before it finished.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly headers: http.IncomingHttpHeaders;
}

export interface UpstreamOptions {
  /** Chunks a stream sends (besides the role chunk). @default 3 */
  chunks?: number;
  /** Delay between streamed chunks, ms. @default 0 */
  chunkDelayMs?: number;
  /** Fixed delay before answering, ms. @default 0 */
  delayMs?: number;
}

/** Prompt tokens the fake counts: words of the prompt. */
export function countWords(body: Record<string, unknown>): number {
  const text = Array.isArray(body.messages)
    ? body.messages.map((m: { content?: unknown }) => String(m.content ?? "")).join(" ")
    : String(body.prompt ?? body.input ?? "");
  return text.split(/\s+/).filter(Boolean).length;
}

export class FakeUpstream {
  readonly seen: SeenRequest[] = [];
  aborted = 0;
  completedStreams = 0;
  url = "";
  private server?: http.Server;
  private port = 0;

  constructor(public opts: UpstreamOptions = {}) {}

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server!.listen(port || this.port, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
      this.seen.push({ path: req.url ?? "", body, headers: req.headers });
      const go = () => this.answer(req.url ?? "", body, res);
      if (this.opts.delayMs) setTimeout(go, this.opts.delayMs);
      else go();
    });
  }

  private answer(path: string, body: Record<string, unknown>, res: http.ServerResponse): void {
    const model = String(body.model);
    const promptTokens = countWords(body);
    if (path === "/v1/embeddings") {
      const out = JSON.stringify({
        object: "list",
        model,
        data: [
          {
            object: "embedding",
            index: 0,
            embedding:
              body.encoding_format === "base64"
                ? Buffer.from(new Float32Array([0.5, 0.25, 0.125]).buffer).toString("base64")
                : [0.5, 0.25, 0.125],
          },
        ],
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      });
      res.writeHead(200, { "content-type": "application/json" }).end(out);
      return;
    }
    const chat = path === "/v1/chat/completions";
    const n = this.opts.chunks ?? 3;
    const words = Array.from({ length: n }, (_, i) => `word${i} `);
    if (body.stream !== true) {
      const content = words.join("");
      const out = JSON.stringify({
        id: "cmpl-1",
        object: chat ? "chat.completion" : "text_completion",
        created: 1,
        model,
        choices: [
          chat
            ? { index: 0, message: { role: "assistant", content }, finish_reason: "stop" }
            : { index: 0, text: content, finish_reason: "stop" },
        ],
        usage: { prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n },
      });
      res.writeHead(200, { "content-type": "application/json" }).end(out);
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const event = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    const base = {
      id: "cmpl-1",
      object: chat ? "chat.completion.chunk" : "text_completion",
      created: 1,
      model,
    };
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    let i = 0;
    let finished = false;
    res.on("close", () => {
      if (!finished) this.aborted++;
    });
    if (chat) event({ ...base, choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] });
    const next = () => {
      if (res.destroyed) return;
      if (i < n) {
        const w = words[i++];
        event({
          ...base,
          choices: [
            chat
              ? { index: 0, delta: { content: w }, finish_reason: null }
              : { index: 0, text: w, finish_reason: null },
          ],
        });
        if (this.opts.chunkDelayMs) setTimeout(next, this.opts.chunkDelayMs);
        else setImmediate(next);
        return;
      }
      event({
        ...base,
        choices: [
          chat
            ? { index: 0, delta: {}, finish_reason: "stop" }
            : { index: 0, text: "", finish_reason: "stop" },
        ],
      });
      if (includeUsage) {
        event({
          ...base,
          choices: [],
          usage: { prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n },
        });
      }
      res.write("data: [DONE]\n\n");
      finished = true;
      this.completedStreams++;
      res.end();
    };
    next();
  }
}
