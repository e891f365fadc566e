/**
 * The guard call, made by the gateway. The policy says whether and how to ask the guard model
 * (`data.sovereign.authz.guard_call`: URL, request body, timeout, cache duration, family); the
 * gateway asks it with the semantics OPA's `http.send` had when the policy asked it itself
 * (`timeout`, `raise_error: false`, `force_cache` for `cacheSeconds`), reads the answer in the
 * family's format, and hands the verdict back to the same decision as `input.guard`.
 *
 * A verdict is `safe`, `unsafe` (with the categories the guard named) or `down`: unreachable,
 * slower than the timeout, an error status, or an answer that is not a verdict in the family's
 * format. The equivalence test (test/policies/wasm-equivalence.test.ts) holds this reading to the
 * policy's own (authz.rego's guard_verdict_of and guard_categories) on the same answers.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { GuardFamily } from "../../components/lib/contracts";
import type { Logger } from "./log";
import { tlsFailure } from "./upstream-tls";

/** What the policy's `guard_call` describes. */
export interface GuardCall {
  readonly url: string;
  readonly body: Record<string, unknown>;
  readonly timeoutMs: number;
  readonly cacheSeconds: number;
  readonly family: GuardFamily;
}

export interface GuardVerdict {
  readonly verdict: "safe" | "unsafe" | "down";
  /** Llama Guard's categories ("S1", "S10") when unsafe; the yes/no families name none. */
  readonly categories: readonly string[];
}

/**
 * Status codes whose responses OPA's `http.send` keeps in its cache (`force_cache`); any other
 * answer, and no answer, is asked again next time.
 */
export const CACHEABLE_STATUS = new Set([200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501]);

// Go's strings.TrimSpace (unicode.IsSpace), which the policy's trim_space uses: JavaScript's
// trim() also strips U+FEFF and does not strip U+0085.
const GO_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const LEADING = new RegExp(`^[${GO_SPACE}]+`);
const TRAILING = new RegExp(`[${GO_SPACE}]+$`);
const trimSpace = (s: string) => s.replace(LEADING, "").replace(TRAILING, "");
// RE2's \s is [\t\n\f\r ] (no \v); JavaScript's is wider.
const FIRST_WORD = /^[\t\n\f\r ]*([A-Za-z]+)/;
const SCORE = /<score>[\t\n\f\r ]*([A-Za-z]+)[\t\n\f\r ]*<\/score>/;
const YES_NO: Readonly<Record<string, "safe" | "unsafe">> = { yes: "unsafe", no: "safe" };

/** Reads a guard's answer in its family's format, as authz.rego does. */
export function readGuardAnswer(family: GuardFamily, answer: unknown): GuardVerdict {
  const down: GuardVerdict = { verdict: "down", categories: [] };
  if (typeof answer !== "string") return down;
  let verdict: "safe" | "unsafe" | undefined;
  if (family === "llama-guard") {
    const lines = trimSpace(answer).split("\n");
    const first = trimSpace(lines[0]).toLowerCase();
    verdict = first === "safe" || first === "unsafe" ? first : undefined;
    if (verdict === "unsafe")
      return { verdict, categories: lines.length > 1 ? lines[1].split(",").map(trimSpace) : [] };
  } else if (family === "granite-guardian") {
    const parts = answer.split("</think>");
    const tail = parts[parts.length - 1];
    const score = (tail.includes("<score>") ? SCORE.exec(tail) : null) ?? FIRST_WORD.exec(tail);
    verdict = score ? YES_NO[score[1].toLowerCase()] : undefined;
  } else if (family === "shieldgemma") {
    const w = FIRST_WORD.exec(answer);
    verdict = w ? YES_NO[w[1].toLowerCase()] : undefined;
  }
  return verdict ? { verdict, categories: [] } : down;
}

interface Answer {
  readonly status: number;
  readonly content: unknown;
}

export interface GuardClientOptions {
  /** Entries kept in the verdict cache; the oldest go first. @default 10000 */
  readonly maxEntries?: number;
  /** The clock, ms (tests). @default Date.now */
  readonly now?: () => number;
  /**
   * The API key of the model server at a URL (`modelApiKeyFor`), sent as `Authorization:
   * Bearer` with the call; undefined: none is sent. @default none
   */
  readonly apiKeyFor?: (url: URL) => string | undefined;
  /**
   * CA certificates (PEM) the guard's https certificate must chain to, trusted alone (the model
   * CA, `GatewayConfig.modelCa`). @default the public CAs
   */
  readonly ca?: string;
  /** Told why a call failed on TLS (the verdict is then "down"). @default none */
  readonly log?: Logger;
}

/** Asks the guard with a keep-alive pool and a cache keyed by the whole call. */
export class GuardClient {
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly log?: Logger;
  private readonly cache = new Map<string, { until: number; answer: Answer }>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly apiKeyFor: (url: URL) => string | undefined;
  /** Calls actually sent (not served from the cache). */
  sent = 0;

  constructor(o: GuardClientOptions = {}) {
    this.maxEntries = o.maxEntries ?? 10_000;
    this.now = o.now ?? Date.now;
    this.apiKeyFor = o.apiKeyFor ?? (() => undefined);
    this.log = o.log;
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
      https: new https.Agent({
        keepAlive: true,
        maxSockets: 64,
        rejectUnauthorized: true,
        ...(o.ca ? { ca: o.ca } : {}),
      }),
    };
  }

  async ask(call: GuardCall): Promise<GuardVerdict> {
    const key = JSON.stringify([call.url, call.body]);
    const hit = this.cache.get(key);
    let answer: Answer;
    if (hit && hit.until > this.now()) {
      answer = hit.answer;
    } else {
      if (hit) this.cache.delete(key);
      answer = await this.post(call);
      if (CACHEABLE_STATUS.has(answer.status) && call.cacheSeconds > 0) {
        this.cache.set(key, { until: this.now() + call.cacheSeconds * 1000, answer });
        if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
      }
    }
    return answer.status === 200
      ? readGuardAnswer(call.family, answer.content)
      : { verdict: "down", categories: [] };
  }

  /** One POST; any failure is status 0 (`raise_error: false`). */
  private post(call: GuardCall): Promise<Answer> {
    this.sent++;
    return new Promise<Answer>((resolve) => {
      let done = false;
      const finish = (a: Answer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(a);
      };
      let url: URL;
      try {
        url = new URL(call.url);
      } catch {
        return finish({ status: 0, content: undefined });
      }
      const body = Buffer.from(JSON.stringify(call.body));
      const mod = url.protocol === "https:" ? https : http;
      const key = this.apiKeyFor(url);
      const req = mod.request(
        url,
        {
          method: "POST",
          agent: url.protocol === "https:" ? this.agents.https : this.agents.http,
          headers: {
            "content-type": "application/json",
            "content-length": body.length,
            ...(key ? { authorization: `Bearer ${key}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", () => finish({ status: 0, content: undefined }));
          res.on("end", () => {
            let content: unknown;
            try {
              const b = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
                choices?: { message?: { content?: unknown } }[];
              };
              content = b.choices?.[0]?.message?.content;
            } catch {
              content = undefined;
            }
            finish({ status: res.statusCode ?? 0, content });
          });
        },
      );
      const timer = setTimeout(() => {
        finish({ status: 0, content: undefined });
        req.destroy();
      }, call.timeoutMs);
      req.on("error", (e: NodeJS.ErrnoException) => {
        const tls = url.protocol === "https:" ? tlsFailure(e) : undefined;
        if (tls) this.log?.error("guard TLS failed", { upstream: url.host, reason: tls });
        finish({ status: 0, content: undefined });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
