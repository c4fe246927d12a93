// Asks an emperor's stats server again and again while a test does its worst, and keeps how long each answer took:
// a stalled event loop shows as one slow answer (or none), whatever else the test looks at.
import { fetchStats } from '../../src/ops';
import type { StatsDocument } from '../../src/ops/stats-document';

export interface Probe {
  /** Stops probing; resolves with every answer time (ms) and the failures seen. */
  stop(): Promise<{ times: number[]; failures: string[]; worst: number }>;
  /** The latest stats document. */
  latest(): StatsDocument | undefined;
}

export function probeStats(addr: string, everyMs = 25): Probe {
  const times: number[] = [];
  const failures: string[] = [];
  let latest: StatsDocument | undefined;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        latest = await fetchStats(addr, 5000);
        times.push(performance.now() - t0);
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    latest: () => latest,
    stop: async () => {
      running = false;
      await loop;
      return { times, failures, worst: Math.max(0, ...times) };
    },
  };
}
