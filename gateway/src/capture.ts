/**
 * Capture for the training flywheel: prompt/completion records, PII-redacted, written as JSONL
 * objects to the inference-log bucket under
 * `<prefix>team=<team>/date=YYYY-MM-DD/model=<model>/<batch id>.jsonl`: team first, so one
 * team's captures are one key prefix, which both IAM and the in-cluster store's identities
 * (prefix matches only) can grant to that team's dataset builder alone. Records are built only
 * where the decision's obligations allow capture; redaction happens before the record enters
 * the delivery queue, so unredacted text never reaches the spill disk or the bucket.
 */
import type { Batch } from "./spill-queue";
import type { S3Client } from "./s3";
import { RE2JS } from "re2js";
import type { Classification } from "../../components/lib/classification";

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
  /**
   * The data classification of the model that answered (an adapter: the higher of its own and
   * its base model's), from the catalog; absent when the catalog does not say.
   */
  readonly classification?: Classification;
  /** The clearance of the team (or of the caller's token, when lower) the request ran under. */
  readonly teamClearance?: Classification;
  /**
   * false: the request opted out of training (header or token claim; it wins over the team's
   * default). Such a record carries no content (`request` and `response` are null): it only
   * lets the dataset builder count the opt-out.
   */
  readonly trainingConsent?: false;
  /**
   * true: the guard flagged the answer (the client got 403 response_guard_flagged). Such a record
   * carries no content either; the dataset builder counts and drops it.
   */
  readonly guardFlagged?: true;
}

export const REDACTED = "[REDACTED]";

/**
 * A compiled redaction pattern. Patterns run on RE2JS, an RE2-class engine: matching is linear
 * in the input whatever the pattern, and constructs that need backtracking (backreferences,
 * lookaround) are rejected when the pattern is compiled, so at config time.
 */
export type Pattern = RE2JS;

const compiled = new Map<string, RE2JS>();

/** Compiles patterns (cached); throws on one the engine rejects, so the caller can refuse to capture. */
export function compilePatterns(patterns: readonly string[]): Pattern[] {
  return patterns.map((p) => {
    let re = compiled.get(p);
    if (!re) {
      re = RE2JS.compile(p);
      if (compiled.size > 1000) compiled.clear();
      compiled.set(p, re);
    }
    return re;
  });
}

/** Why `pattern` cannot be used for redaction, or undefined when it can. */
export function patternProblem(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function redactString(s: string, patterns: readonly Pattern[]): string {
  let out = s;
  for (const re of patterns) out = re.matcher(out).replaceAll(REDACTED);
  return out;
}

/**
 * Replaces every match of every pattern in every string of `v`: values, object keys, and
 * numbers (a card number sent as a JSON number is matched on its decimal digits and replaced by
 * the marker string). The walk uses an explicit stack, so any nesting depth is safe.
 */
export function redact<T>(v: T, patterns: readonly Pattern[]): T {
  if (!patterns.length) return v;
  const leaf = (x: unknown): unknown => {
    if (typeof x === "string") return redactString(x, patterns);
    if (typeof x === "number") {
      const s = String(x);
      return redactString(s, patterns) === s ? x : REDACTED;
    }
    return x;
  };
  if (typeof v !== "object" || v === null) return leaf(v) as T;
  const root: unknown = Array.isArray(v) ? [] : {};
  const stack: [unknown, Record<string, unknown> | unknown[]][] = [[v, root as Record<string, unknown>]];
  while (stack.length) {
    const [src, dst] = stack.pop()!;
    const put = (k: string | number, val: unknown) => {
      if (typeof val === "object" && val !== null) {
        const child = Array.isArray(val) ? [] : {};
        stack.push([val, child]);
        val = child;
      } else val = leaf(val);
      if (Array.isArray(dst)) dst[k as number] = val;
      else dst[k === "" ? k : redactString(String(k), patterns)] = val;
    };
    if (Array.isArray(src)) src.forEach((x, i) => put(i, x));
    else for (const [k, x] of Object.entries(src as Record<string, unknown>)) put(k, x);
  }
  return root as T;
}

/**
 * Redacts a capture record's content (request and response) only: the kit's own fields
 * (request id, subject, team, model, time) stay as they are, so captures join to audit rows.
 */
export function redactRecord(r: CaptureRecord, patterns: readonly Pattern[]): CaptureRecord {
  return { ...r, request: redact(r.request, patterns), response: redact(r.response, patterns) };
}

/** Characters of strings (and keys) in `v`, counted without recursion; stops past `limit`. */
export function textSize(v: unknown, limit: number): number {
  let n = 0;
  const stack: unknown[] = [v];
  while (stack.length && n <= limit) {
    const x = stack.pop();
    if (typeof x === "string") n += x.length;
    else if (typeof x === "number") n += 24;
    else if (Array.isArray(x)) stack.push(...x);
    else if (x && typeof x === "object")
      for (const [k, val] of Object.entries(x)) {
        n += k.length;
        stack.push(val);
      }
  }
  return n;
}

/** The key prefix of one team's captures: the only part of `captures/` its dataset builder may read. */
export function teamPartition(prefix: string, team: string): string {
  return `${prefix}team=${team}/`;
}

/** Object key of one partition of a batch (stable per batch id, so a retried PUT overwrites). */
export function partitionKey(
  prefix: string,
  r: Pick<CaptureRecord, "ts" | "team" | "model">,
  batchId: string,
): string {
  const date = r.ts.slice(0, 10);
  return `${teamPartition(prefix, r.team)}date=${date}/model=${r.model}/${batchId}.jsonl`;
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
