/**
 * Stage 7: capture for the training flywheel, where the decision's obligations allow it. The
 * plan (redaction patterns) is made before the upstream call, so the proxy assembles the
 * response content only when it will be captured. Redaction runs off the request path and off
 * the event loop: the record is handed to a {@link Redactor}, which redacts it on a worker
 * thread with bounded work per record (linear-time patterns, a size cap) and a bounded backlog,
 * and only then queues it for delivery. With GATEWAY_AUDIT_SYNC the
 * answer waits until its record is redacted and written durably (fsynced spill file), like its
 * audit row.
 */
import type * as http from "node:http";
import { createRequire } from "node:module";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
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
import type { RedactJob, RedactResult } from "../redact-worker";

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
  /**
   * The gateway's classification of the model beyond the catalog (a flywheel adapter's, from the
   * registry: flywheel/classification.ts): the record is classified at the higher of the two, so
   * what a version trained on restricted data answered is never captured as less.
   */
  readonly modelClassification?: Classification;
}

/**
 * Hands the record of a request to the redactor (which queues it once redacted). A request that
 * opted out, or whose answer the guard flagged, is recorded without its content (request and
 * response null), so the dataset builder can count it and nothing of it can be trained on.
 * With `durable`, returns a promise that resolves once the redacted record is on disk
 * (fsynced); the caller holds the answer's end until then.
 */
export function capture(
  d: CaptureDeps,
  ctx: RequestContext,
  r: InferenceRequest,
  plan: CapturePlan,
  response: unknown,
  catalog?: Catalog,
  marks: CaptureMarks = {},
  durable = false,
): Promise<void> | undefined {
  if (!d.redactor) return undefined;
  const p = ctx.principal;
  const declared = catalog ? modelClassification(catalog, r.model) : undefined;
  const known = marks.modelClassification;
  const classification =
    declared && known
      ? CLASSIFICATIONS.indexOf(known) > CLASSIFICATIONS.indexOf(declared)
        ? known
        : declared
      : (declared ?? known);
  const contentFree = marks.optOut === true || marks.guardFlagged === true;
  const written = d.redactor.submit(
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
  /** Redact on the event loop, one record per turn, instead of on a worker thread. @default false */
  readonly inThread?: boolean;
}

/**
 * Records with fewer characters of text than this are redacted on the event loop (a fraction of
 * a millisecond), larger ones on the worker thread: handing a record over costs more than
 * redacting a small one.
 */
export const OFFLOAD_CHARS = 4096;

interface Job {
  readonly r: CaptureRecord;
  readonly patterns: readonly Pattern[];
  readonly written?: () => void;
}

/**
 * The worker thread of the redactor. The compiled gateway runs `redact-worker.js`; from the
 * TypeScript sources (tests, benches) the worker loads them through tsx.
 */
function startWorker(): Worker {
  const ext = path.extname(__filename);
  const file = path.join(__dirname, "..", `redact-worker${ext}`);
  if (ext !== ".ts") return new Worker(file);
  const tsx = createRequire(__filename).resolve("tsx/cjs");
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(file)});`, { eval: true });
}

/**
 * Redacts captured records after their responses have been sent: small ones on the event loop,
 * one per turn; larger ones ({@link OFFLOAD_CHARS} characters of text or more) on a worker
 * thread (one at a time, in order), so the event loop only copies them. Accepted records are
 * bounded by `maxPending`. Should the worker fail to start, everything is redacted on the event
 * loop, one record per turn (logged).
 */
export class Redactor {
  private readonly jobs = new Map<number, Job>();
  private seq = 0;
  private worker?: Worker;
  private inThread: boolean;
  private pending: Job[] = [];
  private scheduled = false;
  private idle?: () => void;

  constructor(private readonly o: RedactorOptions) {
    this.inThread = o.inThread ?? false;
  }

  /**
   * Accepts a record for redaction; false (and counted as dropped) when it is too large or the
   * backlog is full. With `durable`, an accepted record gives a promise instead, resolved once
   * the redacted record is written and fsynced (or could not be: the failure is counted).
   */
  submit(r: CaptureRecord, patterns: readonly Pattern[], durable: true): false | Promise<void>;
  submit(r: CaptureRecord, patterns: readonly Pattern[], durable?: boolean): boolean | Promise<void>;
  submit(r: CaptureRecord, patterns: readonly Pattern[], durable = false): boolean | Promise<void> {
    if (this.backlog >= this.o.maxPending) {
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
    const offload = size >= OFFLOAD_CHARS;
    if (!durable) {
      this.enqueue({ r, patterns }, offload);
      return true;
    }
    return new Promise<void>((written) => this.enqueue({ r, patterns, written }, offload));
  }

  get backlog(): number {
    return this.jobs.size + this.pending.length;
  }

  private enqueue(job: Job, offload: boolean): void {
    const w = offload ? this.ensureWorker() : undefined;
    if (!w) {
      this.pending.push(job);
      this.schedule();
      return;
    }
    const id = this.seq++;
    this.jobs.set(id, job);
    if (this.jobs.size === 1) w.ref();
    const msg: RedactJob = { id, record: job.r, patterns: job.patterns.map((p) => p.pattern()) };
    try {
      w.postMessage(msg);
    } catch (e) {
      // Not cloneable (cannot happen with parsed JSON): redact here instead.
      this.jobs.delete(id);
      this.o.log.warn("capture redaction: record not sent to the worker", { error: String(e) });
      this.pending.push(job);
      this.schedule();
    }
  }

  private ensureWorker(): Worker | undefined {
    if (this.inThread) return undefined;
    if (this.worker) return this.worker;
    try {
      const w = startWorker();
      w.unref();
      w.on("message", (m: RedactResult) => this.done(m));
      w.on("error", (e) => this.lost(w, e));
      w.on("exit", (code) => this.lost(w, new Error(`redaction worker exited (${code})`)));
      this.worker = w;
      this.o.log.info("capture redaction worker started", { threadId: w.threadId });
      return w;
    } catch (e) {
      this.inThread = true;
      this.o.log.warn("capture redaction worker unavailable; redacting on the event loop", {
        error: String(e),
      });
      return undefined;
    }
  }

  /** A redacted record back from the worker: queue it (durably when asked). */
  private done(m: RedactResult): void {
    const job = this.jobs.get(m.id);
    if (!job) return;
    this.jobs.delete(m.id);
    if ("error" in m) this.failed(job, m.error);
    else this.deliver(job, m.record);
    if (!this.jobs.size) {
      this.worker?.unref();
      this.checkIdle();
    }
  }

  /** The worker died: its records are lost (counted); the next record starts a new one. */
  private lost(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    if (this.closing) return;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const j of jobs) this.failed(j, e.message);
    this.checkIdle();
  }

  private deliver(job: Job, red: CaptureRecord): void {
    if (job.written) void this.o.queue.pushDurable(red).then(job.written);
    else this.o.queue.push(red);
  }

  private failed(job: Job, error: string): void {
    this.o.metrics.captureDropped.inc();
    this.o.log.error("capture redaction failed", { requestId: job.r.requestId, error });
    job.written?.();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.step());
  }

  /** In-thread redaction: one record per event-loop turn. */
  private step(): void {
    this.scheduled = false;
    const job = this.pending.shift();
    if (job) {
      let red: CaptureRecord | undefined;
      try {
        red = redactRecord(job.r, job.patterns);
      } catch (e) {
        this.failed(job, String(e));
      }
      if (red) this.deliver(job, red);
    }
    if (this.pending.length) this.schedule();
    else this.checkIdle();
  }

  private checkIdle(): void {
    if (!this.backlog && !this.scheduled) this.idle?.();
  }

  /** Resolves once every accepted record has been redacted and queued. */
  drain(): Promise<void> {
    if (!this.backlog && !this.scheduled) return Promise.resolve();
    return new Promise((r) => {
      this.idle = () => {
        this.idle = undefined;
        r();
      };
    });
  }

  private closing = false;

  /** Drains, then stops the worker. */
  async close(): Promise<void> {
    await this.drain();
    this.closing = true;
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
