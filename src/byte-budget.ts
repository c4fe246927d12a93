// A per-second byte budget on what the emperor reads from one vassal: past it, the vassal's channels are paused
// until the next second begins, so the sender waits on its own writes and costs the emperor no more than the budget,
// whatever it sends. A leaf: it imports nothing of the project.

/**
 * Bytes read per vassal per second: a uWSGI vassal's pipes, and everything a native vassal's init sends (its relayed
 * output, frames and all). native/init/output.cc holds its relay to the same figure (kBudget), so an honest init is
 * never paused for long; a hostile one (the tenant owns her init) is held to it here.
 */
export const OUTPUT_BYTES_PER_SECOND = 4 * 1024 * 1024;

const WINDOW_MS = 1000;

/** What the budget stops and starts: a channel, or all of a vassal's channels. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

export class ByteBudget {
  private windowStart = 0;
  private spent = 0;
  private resumeTimer?: NodeJS.Timeout;

  constructor(
    private readonly target: Pausable,
    private readonly perSecond = OUTPUT_BYTES_PER_SECOND,
  ) {}

  /** `n` bytes were read: past the budget of this second, the target waits until the next one. */
  spend(n: number): void {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.spent = 0;
    }
    this.spent += n;
    if (this.spent <= this.perSecond || this.resumeTimer) return;
    this.target.pause();
    this.resumeTimer = setTimeout(
      () => {
        this.resumeTimer = undefined;
        this.target.resume();
      },
      Math.max(1, this.windowStart + WINDOW_MS - now),
    );
  }

  /** Nothing left to resume: the timer goes. */
  close(): void {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }
}
