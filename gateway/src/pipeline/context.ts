/**
 * The typed state one request carries through the pipeline (authenticate → validate → decide →
 * route → proxy → account → capture). Each stage reads what earlier stages set and records what
 * the audit row, the metrics and the access log need.
 */
import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import type { AuthzInput } from "../../../components/lib/contracts";
import type { Principal } from "../auth";
import type { AuditRow } from "../db";
import type { GuardVerdict } from "../guard";

export type Endpoint = AuthzInput["request"]["endpoint"];
export type InferenceEndpoint = Exclude<Endpoint, "/v1/models">;

export const INFERENCE_ENDPOINTS: ReadonlySet<string> = new Set<InferenceEndpoint>([
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
]);

export interface RequestContext {
  /** The gateway's own id of this request (also sent upstream and to the client). */
  readonly id: string;
  /** The X-Request-Id the client sent (printable, at most 128 characters), recorded beside `id`. */
  readonly clientRequestId?: string;
  /** performance.now() at arrival. */
  readonly t0: number;
  /** ISO time of arrival. */
  readonly ts: string;
  readonly endpoint: string;
  readonly clientAddress: string;
  principal?: Principal;
  model: string;
  decision: AuditRow["decision"];
  reasons: readonly string[];
  /** The guard's verdict on the prompt, when the policy asked for one. */
  guard?: GuardVerdict;
  status: number;
  tokensIn: number;
  tokensOut: number;
  /** Time spent waiting for the model server, ms. */
  upstreamMs: number;
  streamed: boolean;
  captured: boolean;
  /** The audit row was written durably before the answer (GATEWAY_AUDIT_SYNC). */
  journaled: boolean;
  /** The flywheel version that served a flywheel adapter's request (the canary split). */
  servedVersion?: { readonly adapter: string; readonly version: string; readonly canary: boolean };
}

export const now = (): number => performance.now();

/** A fresh context for a request to `endpoint`. */
export function newContext(req: http.IncomingMessage, endpoint: string): RequestContext {
  const rid = header(req, "x-request-id");
  return {
    // Always the gateway's own: a client's id could repeat, and audit rows are keyed by it.
    id: randomUUID(),
    clientRequestId: rid ? rid.replace(/[^\x20-\x7e]/g, "").slice(0, 128) : undefined,
    t0: now(),
    ts: new Date().toISOString(),
    endpoint,
    clientAddress: req.socket.remoteAddress ?? "",
    model: "",
    decision: "none",
    reasons: [],
    status: 0,
    tokensIn: 0,
    tokensOut: 0,
    upstreamMs: 0,
    streamed: false,
    captured: false,
    journaled: false,
  };
}

/** The first value of a request header. */
export function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
