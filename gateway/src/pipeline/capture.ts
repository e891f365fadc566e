/**
 * Stage 7: capture for the training flywheel, where the decision's obligations allow it. The
 * plan (redaction patterns) is made before the upstream call, so the proxy assembles the
 * response content only when it will be captured; the record is redacted before it is queued.
 */
import type { AuthzDecision } from "../../../components/lib/contracts";
import { compilePatterns, redact, type CaptureRecord } from "../capture";
import type { Metrics } from "../metrics";
import type { SpillQueue } from "../spill-queue";
import type { RequestContext } from "./context";
import type { InferenceRequest } from "./validate";

export interface CapturePlan {
  readonly patterns: RegExp[];
}

export interface CaptureDeps {
  readonly metrics: Metrics;
  /** Absent when capture is off. */
  readonly capture?: SpillQueue<CaptureRecord>;
  readonly redactPatterns: readonly string[];
}

/** Whether (and how) this request is captured; undefined means not at all. */
export function planCapture(
  d: CaptureDeps,
  r: InferenceRequest,
  decision: AuthzDecision,
): CapturePlan | undefined {
  if (!decision.obligations.capture || !d.capture || r.endpoint === "/v1/embeddings") return undefined;
  try {
    return { patterns: compilePatterns([...d.redactPatterns, ...decision.obligations.redact]) };
  } catch {
    d.metrics.captureDropped.inc(); // an unusable redaction pattern: never capture unredacted
    return undefined;
  }
}

/** Queues the redacted record of a successful request. */
export function capture(
  d: CaptureDeps,
  ctx: RequestContext,
  r: InferenceRequest,
  plan: CapturePlan,
  response: unknown,
): void {
  if (!d.capture) return;
  const p = ctx.principal;
  ctx.captured = true;
  d.capture.push(
    redact(
      {
        ts: ctx.ts,
        requestId: ctx.id,
        team: p?.team ?? "",
        subject: p?.sub ?? "",
        model: r.model,
        endpoint: r.endpoint,
        request: r.body,
        response,
        usage: { promptTokens: ctx.tokensIn, completionTokens: ctx.tokensOut },
      },
      plan.patterns,
    ),
  );
}
