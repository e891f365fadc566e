/**
 * The OPA client: one decision per request at the contract's path, over a keep-alive
 * connection pool, with a hard deadline. Any failure (timeout, connection refused, non-200, a
 * missing or malformed result) is an {@link OpaUnavailable}: the caller fails closed.
 */
import * as http from "node:http";
import type { AuthzDecision, AuthzInput } from "../../components/lib/contracts";

export const DECISION_PATH = "/v1/data/sovereign/authz/decision";

export class OpaUnavailable extends Error {}

export class OpaClient {
  private readonly agent = new http.Agent({
    keepAlive: true,
    maxSockets: 64,
    maxFreeSockets: 64,
    scheduling: "lifo",
  });
  private readonly url: URL;

  constructor(
    baseUrl: string,
    private readonly timeoutMs: number,
  ) {
    this.url = new URL(DECISION_PATH, baseUrl);
  }

  decide(input: AuthzInput): Promise<AuthzDecision> {
    const body = Buffer.from(`{"input":${JSON.stringify(input)}}`);
    return new Promise<AuthzDecision>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, d?: AuthzDecision) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(d as AuthzDecision);
      };
      const req = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method: "POST",
          agent: this.agent,
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (e) => finish(new OpaUnavailable(`OPA response failed: ${e.message}`)));
          res.on("end", () => {
            if (res.statusCode !== 200) return finish(new OpaUnavailable(`OPA answered ${res.statusCode}`));
            try {
              finish(undefined, parseDecision(Buffer.concat(chunks).toString("utf8")));
            } catch (e) {
              finish(e as Error);
            }
          });
        },
      );
      const timer = setTimeout(() => {
        finish(new OpaUnavailable(`OPA did not answer within ${this.timeoutMs} ms`));
        req.destroy();
      }, this.timeoutMs);
      req.on("error", (e) => finish(new OpaUnavailable(`OPA request failed: ${e.message}`)));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Parses `{result: AuthzDecision}` strictly: anything else is unavailable (fail closed). */
export function parseDecision(text: string): AuthzDecision {
  let r: unknown;
  try {
    r = (JSON.parse(text) as { result?: unknown }).result;
  } catch {
    throw new OpaUnavailable("OPA answered with invalid JSON");
  }
  const d = r as Partial<AuthzDecision> | undefined;
  if (
    !d ||
    typeof d.allow !== "boolean" ||
    !Array.isArray(d.reasons) ||
    typeof d.obligations !== "object" ||
    d.obligations === null ||
    typeof d.obligations.capture !== "boolean" ||
    !Array.isArray(d.obligations.redact)
  ) {
    throw new OpaUnavailable("OPA returned no decision of the expected shape (is the policy loaded?)");
  }
  return {
    allow: d.allow,
    reasons: d.reasons.map(String),
    obligations: { capture: d.obligations.capture, redact: d.obligations.redact.map(String) },
  };
}
