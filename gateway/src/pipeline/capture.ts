/**
 * Stage 7: capture for the training flywheel, where the decision's obligations allow it. The
 * plan (redaction patterns) is made before the upstream call, so the proxy assembles the
 * response content only when it will be captured. Redaction runs off the request path: the
 * record is handed to a {@link Redactor}, which redacts one record per event-loop turn after
 * the response has been sent, with bounded work per record (linear-time patterns, a size cap)
 * and a bounded backlog, and only then queues it for delivery.
 */
import type * as http from "node:http";
import { CLASSIFICATIONS, type Classification } from "../../../components/lib/classification";
import type { AuthzDecision, Catalog } from "../../../components/lib/contracts";
import type { Principal } from "../auth";
import { errors } from "../errors";
import { compilePatterns, redactRecord, textSize, type CaptureRecord, type Pattern } from "../capture";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { SpillQueue } from "../spill-queue";
import { header, type RequestContext } from "./context";
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

/** The request header that opts one request out of training: `opt-out` (or `opt-in`, the default). */
export const TRAINING_CONSENT_HEADER = "x-sovereign-training-consent";

/**
 * Whether the request opted out of training: the header `X-Sovereign-Training-Consent: opt-out`
 * or a token whose `training_consent` claim is false. Either wins over the team's default; an
 * `opt-in` cannot widen it (the decision's capture obligation still decides). Another header
 * value is a 400 naming the header.
 */
export function optedOut(req: http.IncomingMessage, p: Principal): boolean {
  const v = header(req, TRAINING_CONSENT_HEADER);
  if (v !== undefined && v !== "opt-out" && v !== "opt-in")
    throw errors.badRequest(
      `${TRAINING_CONSENT_HEADER}: expected opt-out or opt-in, found ${JSON.stringify(v.slice(0, 40))}`,
      TRAINING_CONSENT_HEADER,
    );
  return v === "opt-out" || p.trainingConsent === false;
}

/** The classification of `model` in the catalog: an adapter's is the higher of its own and its base's. */
export function modelClassification(catalog: Catalog, model: string): Classification | undefined {
  const m = Object.hasOwn(catalog.models, model) ? catalog.models[model] : undefined;
  if (!m) return undefined;
  const base =
    m.baseModel && Object.hasOwn(catalog.models, m.baseModel) ? catalog.models[m.baseModel] : undefined;
  const own = m.dataClassification;
  const inherited = base?.dataClassification;
  if (!own || !inherited) return own ?? inherited;
  return CLASSIFICATIONS.indexOf(own) >= CLASSIFICATIONS.indexOf(inherited) ? own : inherited;
}

/** What a capture record says about the request besides its content. */
export interface CaptureMarks {
  /** The request opted out of training: the record carries no content. */
  readonly optOut?: boolean;
  /** The guard flagged the answer: the record carries no content. */
  readonly guardFlagged?: boolean;
}

/**
 * Hands the record of a request to the redactor (which queues it once redacted). A request that
 * opted out, or whose answer the guard flagged, is recorded without its content (request and
 * response null), so the dataset builder can count it and nothing of it can be trained on.
 */
export function capture(
  d: CaptureDeps,
  ctx: RequestContext,
  r: InferenceRequest,
  plan: CapturePlan,
  response: unknown,
  catalog?: Catalog,
  marks: CaptureMarks = {},
): void {
  if (!d.redactor) return;
  const p = ctx.principal;
  const classification = catalog ? modelClassification(catalog, r.model) : undefined;
  const contentFree = marks.optOut === true || marks.guardFlagged === true;
  ctx.captured = d.redactor.submit(
    {
      ts: ctx.ts,
      requestId: ctx.id,
      team: p?.team ?? "",
      subject: p?.sub ?? "",
      model: r.model,
      endpoint: r.endpoint,
      request: contentFree ? null : r.body,
      response: contentFree ? null : response,
      usage: { promptTokens: ctx.tokensIn, completionTokens: ctx.tokensOut },
      ...(classification ? { classification } : {}),
      ...(p?.clearance ? { teamClearance: p.clearance } : {}),
      ...(marks.optOut ? { trainingConsent: false as const } : {}),
      ...(marks.guardFlagged ? { guardFlagged: true as const } : {}),
    },
    plan.patterns,
  );
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
  private pending: { r: CaptureRecord; patterns: readonly Pattern[] }[] = [];
  private scheduled = false;
  private idle?: () => void;

  constructor(private readonly o: RedactorOptions) {}

  /** Accepts a record for redaction; false (and counted as dropped) when it is too large or the backlog is full. */
  submit(r: CaptureRecord, patterns: readonly Pattern[]): boolean {
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
    this.pending.push({ r, patterns });
    this.schedule();
    return true;
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
        this.o.queue.push(redactRecord(job.r, job.patterns));
      } catch (e) {
        this.o.metrics.captureDropped.inc();
        this.o.log.error("capture redaction failed", { requestId: job.r.requestId, error: String(e) });
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
