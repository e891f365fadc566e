/**
 * The capture redactor's worker thread: redacts records off the main event loop, so the work
 * (linear in a record's text, up to GATEWAY_CAPTURE_MAX_CHARS) never delays other requests.
 * One message in, one out, in order.
 */
import { parentPort } from "node:worker_threads";
import { compilePatterns, redactRecord, type CaptureRecord } from "./capture";

export interface RedactJob {
  readonly id: number;
  readonly record: CaptureRecord;
  /** Pattern sources (compiled and cached here). */
  readonly patterns: readonly string[];
}

export type RedactResult =
  { readonly id: number; readonly record: CaptureRecord } | { readonly id: number; readonly error: string };

parentPort?.on("message", (j: RedactJob) => {
  let out: RedactResult;
  try {
    out = { id: j.id, record: redactRecord(j.record, compilePatterns(j.patterns)) };
  } catch (e) {
    out = { id: j.id, error: String(e) };
  }
  parentPort!.postMessage(out);
});
