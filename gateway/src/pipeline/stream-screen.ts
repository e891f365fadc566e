/**
 * Screening of a streamed answer in bounded windows. Events are held back until the text they
 * carry has been screened: once a window holds `windowChars` characters of generated text it is
 * sealed and screened together with the window before it, and only then is that earlier window
 * released to the client. So every piece of text reaches the client only after the guard has
 * read it together with up to a window of the text that follows it: a phrase split by a window
 * boundary is seen whole before any of it is sent. When the model server ends the stream, the
 * tail is screened (with the window before it) and everything held is released. Windows are
 * screened one after the other, in order, while the model keeps generating; with
 * {@link MAX_WAITING} windows held the upstream is paused (bounded memory, back-pressure on the
 * model server). Events that carry no text (the role event) go straight through when nothing is
 * held before them.
 */
import { errors, ApiError } from "../errors";

export interface StreamScreenOptions {
  /** Characters of generated text per window (at least 1). */
  readonly windowChars: number;
  /** Screens a window's text: an error stops the stream. A rejection counts as "screening failed" (503). */
  readonly screen: (text: string) => Promise<ApiError | undefined>;
  /** Sends released events to the client. */
  readonly write: (events: string) => void;
  /** Called once, when a window is refused: nothing more is released. */
  readonly stop: (err: ApiError) => void;
  /** Flow control of the upstream. */
  readonly pause: () => void;
  readonly resume: () => void;
}

/** Windows held (sealed, not released) before the upstream is paused. */
const MAX_WAITING = 3;

interface Window {
  events: string;
  readonly text: ReadonlyMap<number, string>;
}

export class StreamScreen {
  private held: string[] = [];
  private win = new Map<number, string>();
  private winChars = 0;
  /** The last window screened and not yet released (it waits for the text after it). */
  private last?: Window;
  private waiting = 0;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Decisions asked (for tests and logs). */
  windows = 0;

  constructor(private readonly o: StreamScreenOptions) {}

  /** One complete SSE event (with its terminating blank line) and the text pieces it adds, per choice. */
  add(event: string, pieces: readonly (readonly [number, string])[]): void {
    if (this.stopped) return;
    let chars = 0;
    for (const [, p] of pieces) chars += p.length;
    if (chars === 0 && this.held.length === 0 && this.waiting === 0) {
      this.o.write(event);
      return;
    }
    this.held.push(event);
    for (const [i, p] of pieces) if (p) this.win.set(i, (this.win.get(i) ?? "") + p);
    this.winChars += chars;
    if (this.winChars >= this.o.windowChars) this.seal();
  }

  /** The client left: nothing more is screened or released. */
  abort(): void {
    this.stopped = true;
  }

  /** Screens the tail; resolves true once everything was released, false when refused. */
  async end(): Promise<boolean> {
    this.seal();
    this.chain = this.chain.then(() => {
      if (this.stopped || !this.last) return;
      this.o.write(this.last.events);
      this.last = undefined;
    });
    await this.chain;
    return !this.stopped;
  }

  private seal(): void {
    if (!this.held.length) return;
    const w: Window = { events: this.held.join(""), text: this.win };
    const hasText = this.winChars > 0;
    this.held = [];
    this.win = new Map();
    this.winChars = 0;
    if (++this.waiting >= MAX_WAITING) this.o.pause();
    this.chain = this.chain.then(() => this.check(w, hasText));
  }

  /** Screens `w` with the window before it; on allow, releases that one and holds `w`. */
  private async check(w: Window, hasText: boolean): Promise<void> {
    if (this.stopped) return;
    const prev = this.last;
    if (!hasText) {
      // Nothing new to read (a finish or usage event): it follows the held window.
      if (prev) prev.events += w.events;
      else this.o.write(w.events);
      this.released();
      return;
    }
    const text = [...new Set([...(prev?.text.keys() ?? []), ...w.text.keys()])]
      .sort((a, b) => a - b)
      .map((i) => (prev?.text.get(i) ?? "") + (w.text.get(i) ?? ""))
      .filter(Boolean)
      .join("\n\n");
    let err: ApiError | undefined;
    this.windows++;
    try {
      err = await this.o.screen(text);
    } catch (e) {
      err = e instanceof ApiError ? e : errors.unavailable("response screening failed");
    }
    if (this.stopped) return;
    if (err) {
      this.stopped = true;
      this.o.stop(err);
      return;
    }
    if (prev) {
      this.o.write(prev.events);
      this.released();
    }
    this.last = w;
  }

  private released(): void {
    if (--this.waiting < MAX_WAITING) this.o.resume();
  }
}
