/**
 * Stage 5: send the request to the model server and relay its answer: whole for a plain
 * answer, event by event for a stream. Token usage is read from the answer (a stream's usage
 * chunk is hidden from a client that did not ask for it). The response content is assembled
 * only when the caller asks for it (capture).
 */
import * as http from "node:http";
import * as https from "node:https";
import { errorBody, errors, ApiError } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { now, type RequestContext } from "./context";
import { StreamScreen } from "./stream-screen";

/** Keep-alive connection pools, one per upstream origin. */
export class UpstreamAgents {
  private readonly agents = new Map<string, http.Agent>();

  for(url: URL): http.Agent {
    let a = this.agents.get(url.origin);
    if (!a) {
      const opts = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" as const };
      a = url.protocol === "https:" ? new https.Agent(opts) : new http.Agent(opts);
      this.agents.set(url.origin, a);
    }
    return a;
  }

  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
  }
}

export interface ProxyDeps {
  readonly agents: UpstreamAgents;
  readonly metrics: Metrics;
  readonly upstreamTimeoutMs: number;
}

export interface ProxyCall {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly target: string;
  readonly body: Buffer;
  readonly stream: boolean;
  /** Pass a stream's usage chunk on to the client (it asked for it). */
  readonly clientWantsUsage: boolean;
  /** Assemble the response content (choices) for capture. */
  readonly collect: boolean;
  /** Prompt tokens to charge when the client leaves before the upstream reports usage. */
  readonly promptTokensEstimate?: number;
  /**
   * Runs once the answer is complete but before its end reaches the client (a plain body, or a
   * stream's `[DONE]`): capture and the durable audit row happen here.
   */
  readonly beforeEnd?: (result: ProxyResult) => Promise<void> | void;
  /**
   * Screens answer text (the policy's guard): a complete non-streaming answer as a whole (an
   * error replaces it), a stream in windows of {@link screenWindowChars} (an error stops it
   * with an error event). Absent: answers are not screened.
   */
  readonly screen?: (text: string) => Promise<ApiError | undefined>;
  /** Characters of generated text per screened window of a stream. @default 200 */
  readonly screenWindowChars?: number;
  readonly log?: Logger;
  /** Told the status the model server answered with (the router's outlier detection). */
  readonly onUpstreamStatus?: (status: number) => void;
}

/** The content of a successful answer, when `collect` was asked for. */
export interface ProxyResult {
  readonly response?: { readonly choices: unknown[] };
}

export function proxy(d: ProxyDeps, ctx: RequestContext, c: ProxyCall): Promise<ProxyResult> {
  const { req, res, body, stream } = c;
  const url = new URL(c.target);
  if (res.destroyed || req.socket.destroyed) {
    // The client left while we were deciding: do not spend the model's time.
    ctx.status = 499;
    return Promise.resolve({});
  }
  return new Promise<ProxyResult>((resolve, reject) => {
    const tUp = now();
    let settled = false;
    let clientGone = false;
    // A screened stream was refused mid-way: the upstream is cut, its errors are expected.
    let refused = false;
    let events = 0;
    const done = (err?: ApiError, result: ProxyResult = {}) => {
      if (settled) return;
      settled = true;
      ctx.upstreamMs = now() - tUp;
      if (err) reject(err);
      else resolve(result);
    };
    const up = (url.protocol === "https:" ? https : http).request(
      {
        protocol: url.protocol,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent: d.agents.for(url),
        timeout: d.upstreamTimeoutMs,
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          accept: stream ? "text/event-stream" : "application/json",
          "x-request-id": ctx.id,
        },
      },
      (ur) => {
        const status = ur.statusCode ?? 502;
        c.onUpstreamStatus?.(status);
        if (status >= 500) d.metrics.upstreamErrors.inc({ model: ctx.model });
        if (!stream || status !== 200) relayWhole(ur, status);
        else relayStream(ur);
      },
    );

    const finish = (result: ProxyResult, end: () => void) => {
      const go = () => {
        if (!res.destroyed) end();
        done(undefined, result);
      };
      if (!c.beforeEnd) return go();
      Promise.resolve()
        .then(() => c.beforeEnd!(result))
        .then(go, go);
    };

    const relayWhole = (ur: http.IncomingMessage, status: number) => {
      const chunks: Buffer[] = [];
      ur.on("data", (ch: Buffer) => chunks.push(ch));
      ur.on("error", () => done(errors.badGateway("the model server connection failed")));
      ur.on("end", () => {
        let out = Buffer.concat(chunks);
        ctx.upstreamMs = now() - tUp;
        let contentType = ur.headers["content-type"] ?? "application/json";
        if (status >= 500) {
          // Model-server errors may carry tracebacks and internal host names: the client gets
          // OpenAI's error shape with the request id; the log gets what is safe to keep.
          c.log?.warn("model server error", {
            requestId: ctx.id,
            upstreamStatus: status,
            upstreamBytes: out.length,
            upstreamContentType: String(contentType).slice(0, 100),
          });
          out = Buffer.from(
            errorBody(
              new ApiError(
                status === 503 ? 503 : 502,
                "api_error",
                "upstream_error",
                `the model server failed (status ${status}); request id ${ctx.id}`,
              ),
            ),
          );
          status = status === 503 ? 503 : 502;
          contentType = "application/json";
        }
        let parsed: { usage?: Usage; choices?: unknown[] } | undefined;
        if (status === 200) {
          try {
            parsed = JSON.parse(out.toString("utf8")) as typeof parsed;
          } catch {
            parsed = undefined;
          }
          countUsage(ctx, parsed?.usage);
        }
        const complete = () => {
          finish(
            status === 200 && c.collect && parsed?.choices ? { response: { choices: parsed.choices } } : {},
            () => {
              res.writeHead(status, { "content-type": contentType, "content-length": out.length });
              res.end(out);
            },
          );
        };
        ctx.status = status;
        if (status === 200 && c.screen && Array.isArray(parsed?.choices)) {
          const screen = c.screen;
          const text = answerText(parsed.choices);
          void screen(text).then(
            (err) => {
              if (err) {
                out = Buffer.from(errorBody(err));
                status = err.status;
                ctx.status = status;
                contentType = "application/json";
                parsed = undefined;
              }
              complete();
            },
            (e: unknown) => {
              const err = e instanceof ApiError ? e : errors.unavailable("response screening failed");
              out = Buffer.from(errorBody(err));
              status = err.status;
              ctx.status = status;
              contentType = "application/json";
              parsed = undefined;
              complete();
            },
          );
          return;
        }
        complete();
      });
    };

    const relayStream = (ur: http.IncomingMessage) => {
      // Relay each complete SSE event as soon as it arrives.
      ctx.status = 200;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      });
      res.flushHeaders();
      let first = true;
      let pending = "";
      let sawDone = false;
      const acc = c.collect ? new Map<number, string>() : undefined;
      const send = (text: string) => {
        if (res.destroyed) return;
        res.write(text);
        if (first) {
          first = false;
          d.metrics.ttfb.observe({ model: ctx.model }, (now() - ctx.t0) / 1000);
        }
      };
      screen = c.screen
        ? new StreamScreen({
            windowChars: c.screenWindowChars ?? 200,
            screen: c.screen,
            write: send,
            pause: () => ur.pause(),
            resume: () => ur.resume(),
            stop: (err) => {
              // Refused mid-stream: cut the model off (frees the GPU), charge what it generated,
              // audit the refusal, then end the stream with an error event in OpenAI's shape.
              refused = true;
              ctx.status = err.status;
              up.destroy();
              chargeGenerated();
              finish({}, () => {
                res.write(`data: ${errorBody(err)}\n\n`);
                res.end();
              });
            },
          })
        : undefined;
      /** Passes one complete event (without its blank line) on, through the screen when there is one. */
      const screened = (ev: string) => {
        const pieces: [number, string][] = [];
        if (relayEvent(ev, ctx, c.clientWantsUsage, acc, pieces)) screen!.add(ev + "\n\n", pieces);
      };
      ur.setEncoding("utf8");
      ur.on("data", (chunk: string) => {
        if (refused) return;
        pending += chunk;
        let cut = pending.lastIndexOf("\n\n");
        if (cut < 0) return;
        cut += 2;
        const complete = pending.slice(0, cut);
        pending = pending.slice(cut);
        let outText = complete;
        // Events sent, for charging a stream the client leaves before its usage chunk.
        events += countEvents(complete);
        if (screen) {
          // Every event is read (its text is screened); [DONE] is held back until the end.
          for (const ev of complete.split("\n\n")) {
            if (!ev) continue;
            if (/^data:\s*\[DONE\]\s*$/.test(ev)) sawDone = true;
            else screened(ev);
          }
          return;
        }
        // Events are parsed only when they carry usage or the content is collected; the final
        // [DONE] is held back until beforeEnd has run.
        const holdDone = c.beforeEnd !== undefined && complete.includes("[DONE]");
        if (complete.includes('"usage"') || acc || holdDone) {
          outText = "";
          for (const ev of complete.split("\n\n")) {
            if (!ev) continue;
            if (holdDone && /^data:\s*\[DONE\]\s*$/.test(ev)) {
              sawDone = true;
              continue;
            }
            if (!relayEvent(ev, ctx, c.clientWantsUsage, acc)) continue;
            outText += ev + "\n\n";
          }
        }
        if (!outText) return;
        send(outText);
      });
      ur.on("error", () => {
        if (!refused) done(errors.badGateway("the model server stream failed"));
      });
      ur.on("end", () => {
        if (refused) return;
        if (screen) {
          const tail = pending.trim();
          if (tail && !/^data:\s*\[DONE\]$/.test(tail)) screened(tail);
          else if (tail) sawDone = true;
          // The tail window is screened before the end; a refusal ends the stream itself.
          void screen.end().then((ok) => ok && complete());
          return;
        }
        if (pending) res.write(pending);
        complete();
      });
      const complete = () => {
        const choices = acc
          ? [...acc]
              .sort(([a], [b]) => a - b)
              .map(([index, content]) =>
                ctx.endpoint === "/v1/chat/completions"
                  ? { index, message: { role: "assistant", content } }
                  : { index, text: content },
              )
          : undefined;
        finish(choices ? { response: { choices } } : {}, () => {
          if (sawDone) res.write("data: [DONE]\n\n");
          res.end();
        });
      };
    };

    /**
     * The model worked until now and did not report usage: charge what it generated (each
     * streamed event carries at most about one token; the first is the role) and the prompt's
     * estimate.
     */
    const chargeGenerated = () => {
      if (!ctx.tokensIn && !ctx.tokensOut && events > 0) {
        ctx.tokensIn = c.promptTokensEstimate ?? 0;
        ctx.tokensOut = Math.max(1, events - (ctx.endpoint === "/v1/chat/completions" ? 1 : 0));
      }
    };

    up.on("timeout", () => up.destroy(Object.assign(new Error("upstream timeout"), { code: "ETIMEDOUT" })));
    up.on("error", (e: NodeJS.ErrnoException) => {
      if (refused) return;
      d.metrics.upstreamErrors.inc({ model: ctx.model });
      if (res.headersSent) {
        // mid-stream: nothing sensible to send; close the client connection
        ctx.status = ctx.status || 502;
        res.destroy();
        return done();
      }
      if (clientGone) return done();
      if (e.code === "ETIMEDOUT") return done(errors.timeout("the model server did not answer in time"));
      done(errors.badGateway(`the model server for "${ctx.model}" is unreachable`));
    });
    let screen: StreamScreen | undefined;
    // A client that goes away aborts the upstream request (and frees the GPU).
    res.on("close", () => {
      if (!res.writableFinished) {
        clientGone = true;
        screen?.abort(); // no more decisions for text nobody will read
        ctx.status = 499;
        up.destroy();
        chargeGenerated();
        done();
      }
    });
    up.end(body);
  });
}

/** The text of an answer's choices: message content and refusal, completion text, tool-call names and arguments. */
export function answerText(choices: unknown[]): string {
  const parts: string[] = [];
  for (const ch of choices) {
    const c = (ch ?? {}) as {
      text?: unknown;
      message?: {
        content?: unknown;
        refusal?: unknown;
        tool_calls?: { function?: { name?: unknown; arguments?: unknown } }[];
      };
    };
    if (typeof c.text === "string") parts.push(c.text);
    if (typeof c.message?.content === "string") parts.push(c.message.content);
    if (typeof c.message?.refusal === "string") parts.push(c.message.refusal);
    for (const t of Array.isArray(c.message?.tool_calls) ? c.message.tool_calls : [])
      parts.push(`${String(t.function?.name ?? "")}(${String(t.function?.arguments ?? "")})`);
  }
  return parts.join("\n");
}

/** SSE events in a block of complete events. */
function countEvents(block: string): number {
  let n = 0;
  for (let i = block.indexOf("\n\n"); i >= 0; i = block.indexOf("\n\n", i + 2)) n++;
  return n;
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

/** A token count from the upstream: a non-negative safe integer, anything else 0. */
function tokenCount(v: unknown): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : 0;
}

function countUsage(ctx: RequestContext, u: Usage | null | undefined): void {
  if (!u || typeof u !== "object") return;
  ctx.tokensIn = tokenCount(u.prompt_tokens);
  ctx.tokensOut = tokenCount(u.completion_tokens);
}

/** Inspects one SSE event; returns false when it must not be forwarded (the usage-only chunk the client did not ask for). */
export function relayEvent(
  ev: string,
  ctx: RequestContext,
  clientWantsUsage: boolean,
  acc: Map<number, string> | undefined,
  /** Receives the text the event adds, per choice: content, text, tool-call names and arguments. */
  pieces?: [number, string][],
): boolean {
  if (!ev.startsWith("data:")) {
    // An event of another kind (a comment line is never shown): its text is screened as is.
    if (!ev.startsWith(":")) pieces?.push([0, ev]);
    return true;
  }
  const data = ev.slice(5).trim();
  if (data === "[DONE]") return true;
  let chunk: {
    usage?: Usage | null;
    choices?: {
      index?: number;
      delta?: {
        content?: string;
        refusal?: string;
        tool_calls?: { function?: { name?: unknown; arguments?: unknown } }[];
      };
      text?: string;
    }[];
  };
  try {
    chunk = JSON.parse(data) as typeof chunk;
  } catch {
    pieces?.push([0, data]); // not JSON: screened as text all the same
    return true;
  }
  if ((acc || pieces) && Array.isArray(chunk.choices)) {
    for (const ch of chunk.choices) {
      const index = typeof ch?.index === "number" ? ch.index : 0;
      const piece = ch?.delta?.content ?? ch?.text;
      if (typeof piece === "string") acc?.set(index, (acc.get(index) ?? "") + piece);
      if (!pieces) continue;
      if (typeof piece === "string" && piece) pieces.push([index, piece]);
      if (typeof ch?.delta?.refusal === "string") pieces.push([index, ch.delta.refusal]);
      for (const t of Array.isArray(ch?.delta?.tool_calls) ? ch.delta.tool_calls : []) {
        const f = t?.function;
        if (typeof f?.name === "string") pieces.push([index, `\ntool call ${f.name}(`]);
        if (typeof f?.arguments === "string") pieces.push([index, f.arguments]);
      }
    }
  }
  if (chunk.usage) {
    countUsage(ctx, chunk.usage);
    if (!clientWantsUsage && (!chunk.choices || chunk.choices.length === 0)) return false;
  }
  return true;
}
