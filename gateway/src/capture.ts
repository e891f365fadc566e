/**
 * Capture for the training flywheel: prompt/completion records, PII-redacted, written as JSONL
 * objects to the inference-log bucket under
 * `<prefix>date=YYYY-MM-DD/team=<team>/model=<model>/<batch id>.jsonl`. Records are built
 * only where the decision's obligations allow capture; redaction happens before the record
 * enters the queue, so unredacted text never reaches memory queues, disk or the bucket.
 */
import type { Batch } from "./spill-queue";
import type { S3Client } from "./s3";

export interface CaptureRecord {
  readonly ts: string;
  readonly requestId: string;
  readonly team: string;
  readonly subject: string;
  readonly model: string;
  readonly endpoint: string;
  readonly request: unknown;
  readonly response: unknown;
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
}

export const REDACTED = "[REDACTED]";

const compiled = new Map<string, RegExp>();

/** Compiles patterns (cached); throws on an invalid one so the caller can refuse to capture. */
export function compilePatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    let re = compiled.get(p);
    if (!re) {
      re = new RegExp(p, "g");
      if (compiled.size > 1000) compiled.clear();
      compiled.set(p, re);
    }
    return re;
  });
}

/** Replaces every match of every pattern in every string of `v` (deeply). */
export function redact<T>(v: T, patterns: readonly RegExp[]): T {
  if (!patterns.length) return v;
  const walk = (x: unknown): unknown => {
    if (typeof x === "string") {
      let s = x;
      for (const re of patterns) {
        re.lastIndex = 0;
        s = s.replace(re, REDACTED);
      }
      return s;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === "object") {
      const o: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(x)) o[k] = walk(val);
      return o;
    }
    return x;
  };
  return walk(v) as T;
}

/** Object key of one partition of a batch (stable per batch id, so a retried PUT overwrites). */
export function partitionKey(
  prefix: string,
  r: Pick<CaptureRecord, "ts" | "team" | "model">,
  batchId: string,
): string {
  const date = r.ts.slice(0, 10);
  return `${prefix}date=${date}/team=${r.team}/model=${r.model}/${batchId}.jsonl`;
}

/** Groups a batch by partition and PUTs one JSONL object per partition. */
export function captureSink(s3: S3Client, prefix: string): (batch: Batch<CaptureRecord>) => Promise<void> {
  return async (batch) => {
    const parts = new Map<string, string[]>();
    for (const r of batch.records) {
      const key = partitionKey(prefix, r, batch.id);
      let l = parts.get(key);
      if (!l) parts.set(key, (l = []));
      l.push(JSON.stringify(r));
    }
    await Promise.all(
      [...parts].map(([key, lines]) =>
        s3.putObject(key, Buffer.from(lines.join("\n") + "\n"), "application/x-ndjson"),
      ),
    );
  };
}
