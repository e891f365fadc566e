/**
 * The OPA client: one decision per request at the contract's path, over a keep-alive
 * connection pool, with a hard deadline. Any failure (timeout, connection refused, non-200, a
 * missing or malformed result) is an {@link OpaUnavailable}: the caller fails closed.
 */
import * as http from "node:http";
import type { AuthzDecision, AuthzInput } from "../../components/lib/contracts";
import type { GuardCall, GuardVerdict } from "./guard";

export const DECISION_PATH = "/v1/data/sovereign/authz/decision";
export const PLAN_PATH = "/v1/data/sovereign/authz/plan";

export class OpaUnavailable extends Error {}

/** The policy input as the gateway sends it: the contract's, plus the guard's verdict once asked. */
export type PolicyInput = AuthzInput & { readonly guard?: GuardVerdict };

export type Plan = { readonly decision: AuthzDecision } | { readonly guard: GuardCall };

/** The model listing's decisions: the listing's own, and the models a call would be allowed to. */
export interface Listing {
  readonly listing: AuthzDecision;
  readonly allowed: string[];
}

/** The models a listing decides on, each with the endpoint a call to it would use. */
export type ListedModels = readonly {
  model: string;
  endpoint: AuthzInput["request"]["endpoint"];
  /** As `input.request.modelClassification` of a call to the model (absent: none). */
  modelClassification?: AuthzInput["request"]["modelClassification"];
}[];

export interface PolicyEngine {
  /** `timeoutMs` bounds an evaluation over the network; in process it is not needed. */
  plan(input: PolicyInput, timeoutMs: number): Promise<Plan>;
  /**
   * The model listing: the decision for `base` at /v1/models and, per model, whether the
   * decision a call to it would get (no prompt, so no guard call) allows it.
   */
  listing(base: Omit<AuthzInput, "request">, models: ListedModels, timeoutMs?: number): Promise<Listing>;
}

/** Parses a plan strictly: anything but a decision or a guard call is unavailable (fail closed). */
export function parsePlan(r: unknown): Plan {
  const p = r as { decision?: unknown; guard?: unknown } | undefined;
  if (p && typeof p === "object" && "decision" in p) return { decision: checkDecision(p.decision) };
  const g = p?.guard as Partial<GuardCall> | undefined;
  if (
    g &&
    typeof g.url === "string" &&
    typeof g.body === "object" &&
    g.body !== null &&
    typeof g.timeoutMs === "number" &&
    typeof g.cacheSeconds === "number" &&
    typeof g.family === "string"
  )
    return { guard: g as GuardCall };
  throw new OpaUnavailable("the policy returned no plan of the expected shape (is the policy loaded?)");
}

/**
 * How long a request past its deadline may still hold its connection for the late answer before
 * the connection is given up: four deadlines, at least a second.
 */
export const opaGraceMs = (timeoutMs: number): number => Math.max(1000, 4 * timeoutMs);

export class OpaClient implements PolicyEngine {
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

  /** One decision; `timeoutMs` overrides the client's deadline for this call. */
  decide(input: AuthzInput, timeoutMs = this.timeoutMs): Promise<AuthzDecision> {
    return this.post(
      this.url.pathname,
      Buffer.from(`{"input":${JSON.stringify(input)}}`),
      parseDecision,
      timeoutMs,
    );
  }

  /** The gateway's plan (policy.ts): the decision, or the guard call to make first. */
  plan(input: PolicyInput, timeoutMs = this.timeoutMs): Promise<Plan> {
    return this.post(
      PLAN_PATH,
      Buffer.from(`{"input":${JSON.stringify(input)}}`),
      (text) => {
        let r: unknown;
        try {
          r = (JSON.parse(text) as { result?: unknown }).result;
        } catch {
          throw new OpaUnavailable("OPA answered with invalid JSON");
        }
        return parsePlan(r);
      },
      timeoutMs,
    );
  }

  /**
   * The model listing in one OPA call: the listing decision for `base` (endpoint /v1/models)
   * and, for each model, whether the decision a call to it would get (no prompt) allows it.
   */
  listing(
    base: Omit<AuthzInput, "request">,
    models: ListedModels,
    timeoutMs = this.timeoutMs,
  ): Promise<Listing> {
    const body = Buffer.from(JSON.stringify({ query: LISTING_QUERY, input: { base, models } }));
    return this.post("/v1/query", body, parseListing, timeoutMs);
  }

  private post<R>(path: string, body: Buffer, parse: (text: string) => R, timeoutMs: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, d?: R) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(d as R);
      };
      const req = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
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
              finish(undefined, parse(Buffer.concat(chunks).toString("utf8")));
            } catch (e) {
              finish(e as Error);
            }
          });
        },
      );
      // Past the deadline the caller fails closed at once, but the connection is kept: the late
      // answer is read and dropped, and the socket goes back to the pool (destroying it would
      // cost a new connection per timeout, just when OPA is slow). Only an answer that is still
      // missing after the grace period gives the socket up.
      let abandon: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        finish(new OpaUnavailable(`OPA did not answer within ${timeoutMs} ms`));
        abandon = setTimeout(() => req.destroy(), opaGraceMs(timeoutMs));
        abandon.unref();
      }, timeoutMs);
      req.on("close", () => clearTimeout(abandon));
      req.on("error", (e) => finish(new OpaUnavailable(`OPA request failed: ${e.message}`)));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One query, many decisions: the listing's own and, per model, whether a call would be allowed. */
export const LISTING_QUERY = [
  'listing := data.sovereign.authz.decision with input as object.union(input.base, {"request": {"model": "", "endpoint": "/v1/models", "estimatedTokens": 0}})',
  'allowed := [m.model | some m in input.models; data.sovereign.authz.decision.allow with input as object.union(input.base, {"request": object.union({"model": m.model, "endpoint": m.endpoint, "estimatedTokens": 0}, object.filter(m, ["modelClassification"]))})]',
].join("; ");

function parseListing(text: string): Listing {
  let b: unknown;
  try {
    b = (JSON.parse(text) as { result?: { listing?: unknown; allowed?: unknown }[] }).result?.[0];
  } catch {
    throw new OpaUnavailable("OPA answered with invalid JSON");
  }
  const r = b as { listing?: unknown; allowed?: unknown } | undefined;
  if (!r || !Array.isArray(r.allowed) || !r.allowed.every((m) => typeof m === "string"))
    throw new OpaUnavailable("OPA returned no listing of the expected shape (is the policy loaded?)");
  return { listing: checkDecision(r.listing), allowed: r.allowed };
}

/** Parses `{result: AuthzDecision}` strictly: anything else is unavailable (fail closed). */
export function parseDecision(text: string): AuthzDecision {
  let r: unknown;
  try {
    r = (JSON.parse(text) as { result?: unknown }).result;
  } catch {
    throw new OpaUnavailable("OPA answered with invalid JSON");
  }
  return checkDecision(r);
}

/** A decision of the expected shape, copied field by field; anything else is unavailable (fail closed). */
export function checkDecision(r: unknown): AuthzDecision {
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
