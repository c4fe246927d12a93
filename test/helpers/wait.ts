// Waiting in tests: every wait ends within a bound, with an error that says what never came, so a broken process
// fails its test at once instead of hanging the suite until the runner's timeout.

/** Settles as `promise` does, or rejects after timeoutMs with "timed out after N ms waiting for <what>". */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Polls fn until it returns a truthy value (returned). A throw counts as "not yet" and is reported at the deadline;
 * an fn whose promise never settles is cut off at the deadline too.
 */
export async function until<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await within(Promise.resolve(fn()), Math.max(deadline - Date.now(), 1), `one probe of ${what}`);
      if (v) return v;
    } catch (e) {
      // not up yet (a stats socket not listening, a file not written): keep polling, report it at the end
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Watches this process's event loop with a 10 ms ticker until the test ends; returns a function giving the longest
 * gap between two ticks so far (a loop that waited on something shows as one long gap).
 */
export function loopLag(t: { after(fn: () => void): void }): () => number {
  let last = performance.now();
  let worst = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  t.after(() => clearInterval(ticker));
  return () => Math.max(worst, performance.now() - last);
}
