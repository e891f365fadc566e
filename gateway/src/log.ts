/**
 * Structured JSON logs, one object per line on stdout. Callers pass ids, counts and statuses
 * only: no function here accepts request or response bodies, so prompt text cannot reach a log.
 *
 * Lines to stdout are batched (flushed every 100 ms, at 64 KiB, and by `flush()`), so a busy
 * gateway makes one write call per batch rather than one per request.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined | readonly string[]>>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Writes out buffered lines now. */
  flush(): void;
}

const MAX_BUFFER = 64 * 1024;

/** A logger writing to `write` line by line, or (default) to stdout in batches. */
export function createLogger(write?: (line: string) => void): Logger {
  let buf: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!buf.length) return;
    const out = buf.join("");
    buf = [];
    size = 0;
    process.stdout.write(out);
  };
  const sink =
    write ??
    ((line: string) => {
      buf.push(line);
      size += line.length;
      if (size >= MAX_BUFFER) flush();
      else if (!timer) {
        timer = setTimeout(flush, 100);
        timer.unref();
      }
    });
  const emit = (level: string, msg: string, fields?: LogFields) =>
    sink(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + "\n");
  return {
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    flush,
  };
}
