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
import { tlsFailure, upstreamTlsOptions, type UpstreamTls } from "../upstream-tls";

export type { UpstreamTls };

/** A parsed upstream URL with its connection pool (parsed once per target, not per request). */
export interface UpstreamTarget {
  readonly url: URL;
  readonly agent: http.Agent;
  /** `Host` header value. */
  readonly host: string;
  readonly https: boolean;
}

/** Parsed targets kept at most; past that the cache starts over (targets are a bounded set). */
const MAX_TARGETS = 4096;

/**
 * Keep-alive connection pools, one per upstream origin and TLS server name. An https target is
 * verified against `tls.ca` and the host name its route names (`serverName`): a replica reached
 * by its pod address must present a certificate for its Service's name.
 */
export class UpstreamAgents {
  private readonly agents = new Map<string, http.Agent>();
  private readonly targets = new Map<string, UpstreamTarget>();

  constructor(private readonly tls: UpstreamTls = {}) {}

  /** The parsed `target` and its origin's pool; `serverName`: the name its certificate must carry. */
  target(target: string, serverName?: string): UpstreamTarget {
    const key = serverName ? `${target} ${serverName}` : target;
    let t = this.targets.get(key);
    if (!t) {
      const url = new URL(target);
      t = { url, agent: this.for(url, serverName), host: url.host, https: url.protocol === "https:" };
      if (this.targets.size >= MAX_TARGETS) this.targets.clear();
      this.targets.set(key, t);
    }
    return t;
  }

  for(url: URL, serverName?: string): http.Agent {
    const https_ = url.protocol === "https:";
    const name = https_ ? (serverName ?? url.hostname) : "";
    const key = `${url.origin} ${name}`;
    let a = this.agents.get(key);
    if (!a) {
      const opts = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: "lifo" as const };
      a = https_ ? new https.Agent({ ...opts, ...upstreamTlsOptions(this.tls, name) }) : new http.Agent(opts);
      this.agents.set(key, a);
    }
    return a;
  }

  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
    this.targets.clear();
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
  /** The model server's API key (`GatewayConfig.modelApiKeys`), sent as `Authorization: Bearer`. */
  readonly apiKey?: string;
  /** The host name the model server's certificate must carry (its route's), for a replica's address. */
  readonly serverName?: string;
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
  const t = d.agents.target(c.target, c.serverName);
  const url = t.url;
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
    const up = (t.https ? https : http).request(
      {
        protocol: url.protocol,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent: t.agent,
        timeout: d.upstreamTimeoutMs,
        // As a flat list: Node writes it as is (no per-header bookkeeping); Host must then be
        // given, and the agent adds Connection: keep-alive. The body goes in the same write.
        headers: [
          "host",
          t.host,
          "content-type",
          "application/json",
          "content-length",
          String(body.length),
          "accept",
          stream ? "text/event-stream" : "application/json",
          "x-request-id",
          ctx.id,
          ...(c.apiKey ? ["authorization", `Bearer ${c.apiKey}`] : []),
        ],
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
        let out = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
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
      // Relay each complete SSE event as soon as it arrives, as the bytes the model server sent:
      // events that need no reading (no usage, nothing collected or screened) are written on
      // without being decoded, copied or re-encoded.
      ctx.status = 200;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      });
      // The headers leave with the first events (one write) when those are at hand in this turn
      // of the event loop, as they usually are; otherwise on their own right after it. A
      // screened stream sends them now (its first window waits for the guard).
      let headersOut: NodeJS.Immediate | undefined;
      if (c.screen) res.flushHeaders();
      else
        headersOut = setImmediate(() => {
          headersOut = undefined;
          if (!res.destroyed) res.flushHeaders(); // (headersSent is already true: writeHead ran)
        });
      let first = true;
      let pending: Buffer | undefined;
      let sawDone = false;
      /** Events of the last block held back with [DONE], written with the end. */
      let held = "";
      const acc = c.collect ? new Map<number, string>() : undefined;
      const send = (data: string | Buffer) => {
        if (res.destroyed) return;
        if (headersOut) {
          clearImmediate(headersOut);
          headersOut = undefined;
        }
        res.write(data);
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
                res.end(`data: ${errorBody(err)}\n\n`);
              });
            },
          })
        : undefined;
      /** Passes one complete event (without its blank line) on, through the screen when there is one. */
      const screened = (ev: string) => {
        const pieces: [number, string][] = [];
        if (relayEvent(ev, ctx, c.clientWantsUsage, acc, pieces)) screen!.add(ev + "\n\n", pieces);
      };
      ur.on("data", (chunk: Buffer) => {
        if (refused) return;
        const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        const cut = buf.lastIndexOf(EVENT_END);
        if (cut < 0) {
          pending = buf;
          return;
        }
        const end = cut + 2;
        // Complete events end on a blank line (ASCII), so no character is split across blocks.
        const complete = end === buf.length ? buf : buf.subarray(0, end);
        pending = end === buf.length ? undefined : buf.subarray(end);
        // Events sent, for charging a stream the client leaves before its usage chunk.
        events += countEvents(complete);
        if (screen) {
          // Every event is read (its text is screened); [DONE] is held back until the end.
          for (const ev of complete.toString("utf8").split("\n\n")) {
            if (!ev) continue;
            if (/^data:\s*\[DONE\]\s*$/.test(ev)) sawDone = true;
            else screened(ev);
          }
          return;
        }
        // Events are parsed only when they carry usage or the content is collected; the final
        // [DONE] is held back until beforeEnd has run (with the events of its block, so the end
        // of the stream is one write).
        const holdDone = c.beforeEnd !== undefined && complete.includes(DONE);
        // Events after [DONE] (no model server sends them) keep their order behind the held ones.
        if (held && !holdDone) {
          send(held);
          held = "";
        }
        if (!complete.includes(USAGE) && !acc && !holdDone) return send(complete);
        let outText = "";
        for (const ev of complete.toString("utf8").split("\n\n")) {
          if (!ev) continue;
          if (holdDone && /^data:\s*\[DONE\]\s*$/.test(ev)) {
            sawDone = true;
            continue;
          }
          if (!relayEvent(ev, ctx, c.clientWantsUsage, acc)) continue;
          outText += ev + "\n\n";
        }
        if (holdDone && sawDone) held += outText;
        else if (outText) send(outText);
      });
      ur.on("error", () => {
        if (!refused) done(errors.badGateway("the model server stream failed"));
      });
      ur.on("end", () => {
        if (refused) return;
        if (screen) {
          const tail = pending?.toString("utf8").trim() ?? "";
          if (tail && !/^data:\s*\[DONE\]$/.test(tail)) screened(tail);
          else if (tail) sawDone = true;
          // The tail window is screened before the end; a refusal ends the stream itself.
          void screen.end().then((ok) => ok && complete());
          return;
        }
        if (pending) held += pending.toString("utf8");
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
          if (headersOut) clearImmediate(headersOut);
          const last = sawDone ? held + "data: [DONE]\n\n" : held;
          if (last && first) {
            first = false;
            d.metrics.ttfb.observe({ model: ctx.model }, (now() - ctx.t0) / 1000);
          }
          // One write: the held events, [DONE] and the end of the chunked body.
          if (last) res.end(last);
          else res.end();
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
      const tls = t.https ? tlsFailure(e) : undefined;
      // fails closed: nothing is sent to a server whose certificate is not accepted
      if (tls) c.log?.error("model server TLS failed", { model: ctx.model, upstream: url.host, reason: tls });
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

const EVENT_END = Buffer.from("\n\n");
const DONE = Buffer.from("[DONE]");
const USAGE = Buffer.from('"usage"');

/** SSE events in a block of complete events. */
function countEvents(block: Buffer): number {
  let n = 0;
  for (let i = block.indexOf(EVENT_END); i >= 0; i = block.indexOf(EVENT_END, i + 2)) n++;
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
