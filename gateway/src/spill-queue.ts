/**
 * A durable, non-blocking delivery queue used by audit rows and captured records.
 *
 * - `push` never blocks and never awaits: records go to a bounded in-memory queue.
 * - A timer cuts batches and hands them to the sink. Each batch has a stable id, so a sink can
 *   make delivery idempotent (the capture sink derives object keys from it; the audit sink
 *   inserts with `ON CONFLICT DO NOTHING`).
 * - When the sink fails, or the memory queue is full, the batch is written to a spill file on
 *   local disk (temp file + rename, so a file is either complete or absent). A retry timer
 *   delivers spill files oldest first and deletes each once delivered.
 * - On start, spill files left by an earlier process are picked up; on `close`, memory is
 *   flushed to the sink or to disk, so a graceful shutdown or a restart loses nothing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "./log";

export interface Batch<T> {
  readonly id: string;
  readonly records: readonly T[];
}

export interface SpillQueueOptions<T> {
  /** Names log lines and spill files. */
  readonly name: string;
  readonly dir: string;
  readonly instanceId: string;
  readonly maxInMemory: number;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly retryIntervalMs: number;
  readonly deliver: (batch: Batch<T>) => Promise<void>;
  /** Records in memory and on disk, after every change. */
  readonly onDepth?: (inMemory: number, spilled: number) => void;
  readonly onDropped?: (n: number) => void;
  /**
   * Whether a delivery error was caused by the records themselves (they can never be
   * delivered). Such a batch is split; each record the sink refuses is moved to the dead-letter
   * store (`<dir>/dead/`), so one bad record never blocks the others.
   */
  readonly isPoison?: (e: unknown) => boolean;
  readonly onDeadLetter?: (n: number) => void;
  readonly log: Logger;
}

export class SpillQueue<T> {
  private mem: T[] = [];
  private seq = 0;
  private spilled = 0;
  private sinkDown = false;
  private flushing?: Promise<void>;
  private retrying?: Promise<void>;
  private readonly writes = new Set<Promise<void>>();
  private flushTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  private group?: { records: T[]; waiters: (() => void)[] };
  /** The last spill write failed: records are being lost (readiness reports it). */
  failing = false;
  deadLetters = 0;
  /** Records written durably by pushDurable and not delivered yet (not a backlog while the sink is up). */
  private journaled = 0;

  constructor(private readonly o: SpillQueueOptions<T>) {}

  /** Creates the spill directory and counts what an earlier process left there. */
  async start(): Promise<void> {
    await fs.promises.mkdir(this.o.dir, { recursive: true });
    for (const f of await fs.promises.readdir(this.o.dir)) {
      const p = path.join(this.o.dir, f);
      if (f.endsWith(".tmp")) {
        // A crash while writing: the records were still in memory elsewhere; keep complete lines.
        const recs = parseLines<T>(await fs.promises.readFile(p, "utf8"));
        if (recs.length) await this.writeSpill({ id: f.slice(0, -4).replace(/\.jsonl$/, ""), records: recs });
        await fs.promises.rm(p, { force: true });
      } else if (f.endsWith(".jsonl")) {
        this.spilled += parseLines<T>(await fs.promises.readFile(p, "utf8")).length;
      }
    }
    this.depth();
    this.flushTimer = setInterval(() => void this.flush(), this.o.flushIntervalMs);
    this.flushTimer.unref();
    this.retryTimer = setInterval(() => void this.retry(), this.o.retryIntervalMs);
    this.retryTimer.unref();
    if (this.spilled) void this.retry();
  }

  push(record: T): void {
    if (this.closed) {
      // After close nothing is delivered any more: keep it on disk for the next process.
      void this.spill(this.cut([record]));
      return;
    }
    this.mem.push(record);
    if (this.mem.length >= this.o.maxInMemory) {
      const all = this.mem;
      this.mem = [];
      void this.spill(this.cut(all));
    } else if (this.mem.length >= this.o.batchSize) {
      void this.flush();
    }
    this.depth();
  }

  /**
   * Durable push: resolves once the record is on disk (written and fsynced, in a spill file
   * that is then delivered like any other). Records pushed in the same event-loop turn share
   * one write (group commit).
   */
  pushDurable(record: T): Promise<void> {
    if (!this.group) {
      const g = (this.group = { records: [] as T[], waiters: [] as (() => void)[] });
      setImmediate(() => {
        this.group = undefined;
        const b = this.cut(g.records);
        void this.spill({ id: `${b.id}-j`, records: b.records }, true).then(() => {
          for (const w of g.waiters) w();
          void this.retry();
        });
      });
    }
    this.group.records.push(record);
    return new Promise((r) => this.group!.waiters.push(r));
  }

  /**
   * Delivers a batch; when the sink refuses it because of its records (`isPoison`), delivers
   * them one by one and moves each refused record to the dead-letter store.
   */
  private async deliver(batch: Batch<T>): Promise<void> {
    try {
      await this.o.deliver(batch);
      return;
    } catch (e) {
      if (!this.o.isPoison?.(e)) throw e;
    }
    const dead: T[] = [];
    for (let i = 0; i < batch.records.length; i++) {
      const one = { id: `${batch.id}-${i}`, records: [batch.records[i]] };
      try {
        await this.o.deliver(one);
      } catch (e) {
        if (!this.o.isPoison?.(e)) throw e;
        dead.push(batch.records[i]);
        this.o.log.error(`${this.o.name} record refused by the sink; moved to the dead-letter store`, {
          error: String((e as Error).message ?? e),
          batch: batch.id,
        });
      }
    }
    if (dead.length) {
      const dir = path.join(this.o.dir, "dead");
      await fs.promises.mkdir(dir, { recursive: true });
      await fs.promises.appendFile(
        path.join(dir, `${batch.id}.jsonl`),
        dead.map((r) => JSON.stringify(r)).join("\n") + "\n",
      );
      this.deadLetters += dead.length;
      this.o.onDeadLetter?.(dead.length);
    }
  }

  get inMemory(): number {
    return this.mem.length;
  }
  get onDisk(): number {
    return this.spilled;
  }

  private cut(records: T[]): Batch<T> {
    const id = `${Date.now().toString().padStart(15, "0")}-${this.o.instanceId}-${process.pid}-${(this.seq++).toString().padStart(8, "0")}`;
    return { id, records };
  }

  private depth(): void {
    this.o.onDepth?.(this.mem.length, this.spilled + (this.sinkDown ? this.journaled : 0));
  }

  /** Delivers what is in memory now; failed batches go to disk. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.mem.length) return Promise.resolve();
    this.flushing = (async () => {
      while (this.mem.length) {
        const batch = this.cut(this.mem.splice(0, this.o.batchSize));
        this.depth();
        if (this.sinkDown) {
          await this.spill(batch);
          continue;
        }
        try {
          await this.deliver(batch);
        } catch (e) {
          this.markDown(e);
          await this.spill(batch);
        }
      }
    })().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private markDown(e: unknown): void {
    if (!this.sinkDown)
      this.o.log.warn(`${this.o.name} sink unavailable, spilling to disk`, {
        error: String((e as Error).message ?? e),
      });
    this.sinkDown = true;
  }

  private spill(batch: Batch<T>, sync = false): Promise<void> {
    const w = this.writeSpill(batch, sync)
      .then(() => {
        this.failing = false;
        if (sync) this.journaled += batch.records.length;
        else this.spilled += batch.records.length;
        this.depth();
      })
      .catch((e: Error) => {
        this.failing = true;
        this.o.log.error(`${this.o.name} spill to disk failed; records dropped`, {
          error: e.message,
          records: batch.records.length,
        });
        this.o.onDropped?.(batch.records.length);
      })
      .finally(() => this.writes.delete(w));
    this.writes.add(w);
    return w;
  }

  private async writeSpill(batch: Batch<T>, sync = false): Promise<void> {
    const file = path.join(this.o.dir, `${batch.id}.jsonl`);
    const tmp = `${file}.tmp`;
    const text = batch.records.map((r) => JSON.stringify(r)).join("\n") + "\n";
    if (!sync) await fs.promises.writeFile(tmp, text);
    else {
      const fh = await fs.promises.open(tmp, "w");
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await fs.promises.rename(tmp, file);
  }

  /** Delivers spill files oldest first; stops at the first failure. */
  retry(): Promise<void> {
    if (this.retrying) return this.retrying;
    this.retrying = (async () => {
      let files: string[];
      try {
        files = (await fs.promises.readdir(this.o.dir)).filter((f) => f.endsWith(".jsonl")).sort();
      } catch {
        return;
      }
      for (const f of files) {
        const p = path.join(this.o.dir, f);
        let records: T[];
        try {
          records = parseLines<T>(await fs.promises.readFile(p, "utf8"));
        } catch {
          continue; // removed meanwhile
        }
        try {
          await this.deliver({ id: f.slice(0, -".jsonl".length), records });
        } catch (e) {
          this.markDown(e);
          return;
        }
        await fs.promises.rm(p, { force: true });
        if (f.endsWith("-j.jsonl")) this.journaled = Math.max(0, this.journaled - records.length);
        else this.spilled = Math.max(0, this.spilled - records.length);
        this.depth();
        if (this.sinkDown) {
          this.sinkDown = false;
          this.o.log.info(`${this.o.name} sink is back, delivering spilled records`);
        }
      }
      // Nothing left on disk and the sink answered: accept new batches directly again.
      if (!files.length && this.sinkDown) {
        this.sinkDown = false;
      }
    })().finally(() => (this.retrying = undefined));
    return this.retrying;
  }

  /**
   * Stops the timers and flushes memory (to the sink, or to disk when it is down). With
   * `deadlineMs`, also tries to deliver spilled files until then.
   */
  async close(deadlineMs = 0): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.retryTimer);
    await this.retrying;
    await this.flushing;
    await this.flush();
    this.closed = true;
    const until = Date.now() + deadlineMs;
    while (this.spilled > 0 && !this.sinkDown && Date.now() < until) {
      const before = this.spilled;
      await this.retry();
      if (this.spilled >= before) break;
    }
    await Promise.all([...this.writes]);
  }
}

function parseLines<T>(text: string): T[] {
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a torn last line of a crashed write
    }
  }
  return out;
}
