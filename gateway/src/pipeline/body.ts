/**
 * The body the model server receives, built from the bytes the client sent wherever that is
 * possible: a body the gateway does not change is forwarded as received (no re-serialization),
 * and a stream that must ask for its usage chunk gets `"stream_options":{"include_usage":true}`
 * spliced in before the closing brace (one copy of the bytes, no JSON.stringify of the whole
 * body). Only a rewritten model name, or stream options the client set otherwise, re-serialize.
 */
import type { InferenceRequest } from "./validate";

const INCLUDE_USAGE = Buffer.from(',"stream_options":{"include_usage":true}');

/** JSON whitespace (RFC 8259): space, tab, line feed, carriage return. */
const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * The upstream body of `r`: with `model` renamed to `served` when given, and for a stream with
 * `stream_options.include_usage` set (so the gateway can count tokens). The parsed body and
 * the bytes agree (validate parsed `r.raw` into `r.body`), so a splice keeps every other field
 * exactly as the client sent it, duplicate keys and number spellings included.
 */
export function upstreamBody(r: Pick<InferenceRequest, "raw" | "body" | "stream">, served?: string): Buffer {
  if (!served) {
    if (!r.stream) return r.raw;
    const so = r.body.stream_options;
    if (so === undefined) {
      // The body is a JSON object with at least "model": its last non-space byte is "}".
      let end = r.raw.length - 1;
      while (end > 0 && isSpace(r.raw[end])) end--;
      if (r.raw[end] === 0x7d)
        return Buffer.concat([r.raw.subarray(0, end), INCLUDE_USAGE, r.raw.subarray(end)]);
    } else if ((so as { include_usage?: unknown }).include_usage === true) return r.raw;
  }
  return Buffer.from(
    JSON.stringify({
      ...r.body,
      ...(served ? { model: served } : {}),
      ...(r.stream ? { stream_options: { ...(r.body.stream_options as object), include_usage: true } } : {}),
    }),
  );
}
