/**
 * Stage 7: capture for the training flywheel, where the decision's obligations allow it. The
 * plan (redaction patterns) is made before the upstream call, so the proxy assembles the
 * response content only when it will be captured. Redaction runs off the request path: the
 * record is handed to a {@link Redactor}, which redacts one record per event-loop turn after
 * the response has been sent, with bounded work per record (linear-time patterns, a size cap)
 * and a bounded backlog, and only then queues it for delivery. With GATEWAY_AUDIT_SYNC the
 * answer waits until its record is redacted and written durably (fsynced spill file), like its
 * audit row.
 */
import type { AuthzDecision } from "../../../components/lib/contracts";
import { compilePatterns, redactRecord, textSize, type CaptureRecord, type Pattern } from "../capture";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { SpillQueue } from "../spill-queue";
import type { RequestContext } from "./context";
import type { InferenceRequest } from "./validate";

export interface CapturePlan {
  readonly patterns: Pattern[];
}

export interface CaptureDeps {
  readonly metrics: Metrics;
  /** Absent when capture is off. */
  readonly capture?: SpillQueue<CaptureRecord>;
  readonly redactPatterns: readonly string[];
  /** Absent when capture is off. */
  readonly redactor?: Redactor;
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

/**
 * Hands the record of a successful request to the redactor (which queues it once redacted).
 * With `durable`, returns a promise that resolves once the redacted record is on disk
 * (fsynced); the caller holds the answer's end until then.
 */
export function capture(
  d: CaptureDeps,
  ctx: RequestContext,
  r: InferenceRequest,
  plan: CapturePlan,
  response: unknown,
  durable = false,
): Promise<void> | undefined {
  if (!d.redactor) return undefined;
  const p = ctx.principal;
  const written = d.redactor.submit(
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
    durable,
  );
  ctx.captured = written !== false;
  return written === false || written === true ? undefined : written;
}

export interface RedactorOptions {
  readonly queue: SpillQueue<CaptureRecord>;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Records waiting for redaction at most; more are dropped (counted). */
  readonly maxPending: number;
  /** Characters of text a record may hold; a larger one is not captured (counted). */
  readonly maxChars: number;
}

/** Redacts captured records one per event-loop turn, after their responses have been sent. */
export class Redactor {
  private pending: { r: CaptureRecord; patterns: readonly Pattern[]; written?: () => void }[] = [];
  private scheduled = false;
  private idle?: () => void;

  constructor(private readonly o: RedactorOptions) {}

  /**
   * Accepts a record for redaction; false (and counted as dropped) when it is too large or the
   * backlog is full. With `durable`, an accepted record gives a promise instead, resolved once
   * the redacted record is written and fsynced (or could not be: the failure is counted).
   */
  submit(r: CaptureRecord, patterns: readonly Pattern[], durable: true): false | Promise<void>;
  submit(r: CaptureRecord, patterns: readonly Pattern[], durable?: boolean): boolean | Promise<void>;
  submit(r: CaptureRecord, patterns: readonly Pattern[], durable = false): boolean | Promise<void> {
    if (this.pending.length >= this.o.maxPending) {
      this.o.metrics.captureDropped.inc();
      return false;
    }
    const size = textSize(r.request, this.o.maxChars) + textSize(r.response, this.o.maxChars);
    if (size > this.o.maxChars) {
      this.o.metrics.captureDropped.inc();
      this.o.log.warn("capture skipped: record too large to redact", {
        requestId: r.requestId,
        limit: this.o.maxChars,
      });
      return false;
    }
    if (!durable) {
      this.pending.push({ r, patterns });
      this.schedule();
      return true;
    }
    return new Promise<void>((written) => {
      this.pending.push({ r, patterns, written });
      this.schedule();
    });
  }

  get backlog(): number {
    return this.pending.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.step());
  }

  private step(): void {
    this.scheduled = false;
    const job = this.pending.shift();
    if (job) {
      try {
        const red = redactRecord(job.r, job.patterns);
        if (job.written) void this.o.queue.pushDurable(red).then(job.written);
        else this.o.queue.push(red);
      } catch (e) {
        this.o.metrics.captureDropped.inc();
        this.o.log.error("capture redaction failed", { requestId: job.r.requestId, error: String(e) });
        job.written?.();
      }
    }
    if (this.pending.length) this.schedule();
    else this.idle?.();
  }

  /** Resolves once every accepted record has been redacted and queued. */
  drain(): Promise<void> {
    if (!this.pending.length && !this.scheduled) return Promise.resolve();
    return new Promise((r) => {
      this.idle = () => {
        this.idle = undefined;
        r();
      };
    });
  }
}
