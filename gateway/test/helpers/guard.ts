/**
 * A guard model for gateway tests: answers like Llama Guard ("safe", or "unsafe" and a line of
 * categories) after a configurable delay, flags text containing "ignore previous instructions",
 * and records what it was asked; `failing` makes it answer 503.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export class SlowGuard {
  readonly seen: string[] = [];
  /** Answer 503 to every question (a guard that is down behind a reachable address). */
  failing = false;
  private server?: http.Server;

  constructor(public delayMs = 0) {}

  /** Starts and returns the chat completions URL the policy data points at. */
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const parsed = JSON.parse(body) as { messages: { content: string }[] };
        const text = parsed.messages.map((m) => m.content).join("\n");
        this.seen.push(text);
        const verdict = /ignore (all )?previous instructions/i.test(text) ? "unsafe\nS14" : "safe";
        setTimeout(() => {
          if (this.failing) {
            res.writeHead(503, { "content-type": "text/plain" }).end("guard down");
            return;
          }
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              object: "chat.completion",
              choices: [
                { index: 0, message: { role: "assistant", content: verdict }, finish_reason: "stop" },
              ],
            }),
          );
        }, this.delayMs);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/chat/completions`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
