// The blacklist: uWSGI's throttle for vassals that die before they are loyal (docs/UWSGI.md §3.2), kept per vassal and
// expressed as a "not before" time the emperor schedules a timer on, never a sleep in the event loop.
//
// The numbers are uWSGI's observable ones, on purpose. uWSGI stores the level in microseconds but seeds a new entry
// with the raw --emperor-throttle value (ms used as µs): with the default 1000 that is a 1 ms first delay, then
// +throttle ms per further unloyal death (1.001 s, 2.001 s, ...) until the level reaches --emperor-max-throttle,
// where it is halved and climbs again. We keep that arithmetic in µs exactly, so one crash is retried at once, an
// existing deployment's tuned throttle values behave as before, and our stats show the same throttle_level values
// (e.g. 4001 at attempt 4). What we drop is uWSGI's rounding of every delay up to the next scan (up to
// --emperor-freq seconds late): the emperor can spawn at exactly the "not before" time.
import { vassalLogger } from '../log';

/** One entry in uWSGI's stats layout ("blacklist" array): times in unix seconds, throttle_level in ms. */
export interface BlacklistEntry {
  id: string;
  throttle_level: number;
  attempt: number;
  first_attempt: number;
  last_attempt: number;
}

interface Entry {
  levelUs: number;
  attempt: number;
  firstAttemptMs: number;
  lastAttemptMs: number;
}

export interface BlacklistOptions {
  /** --emperor-throttle, ms (uWSGI default 1000). */
  throttleMs: number;
  /** --emperor-max-throttle, ms (uWSGI default 180000). */
  maxThrottleMs: number;
}

export class Blacklist {
  private readonly entries_ = new Map<string, Entry>();

  constructor(private readonly opts: BlacklistOptions) {
    for (const [k, v] of Object.entries(opts)) {
      if (!Number.isFinite(v) || v < 0) throw new Error(`blacklist: ${k} must be a non-negative number of milliseconds, got ${v}`);
    }
  }

  /** An unloyal death (or removal) of `name` at `nowMs` (epoch ms). */
  add(name: string, nowMs: number): void {
    const e = this.entries_.get(name);
    if (!e) {
      this.entries_.set(name, { levelUs: this.opts.throttleMs, attempt: 0, firstAttemptMs: nowMs, lastAttemptMs: nowMs });
      return;
    }
    e.lastAttemptMs = nowMs;
    if (e.levelUs < this.opts.maxThrottleMs * 1000) {
      e.levelUs += this.opts.throttleMs * 1000;
    } else {
      vassalLogger(name).warn(
        { event: 'max-throttle', throttle_level: Math.floor(e.levelUs / 1000) },
        `maximum throttle level for vassal ${name} reached !!!`,
      );
      e.levelUs = Math.floor(e.levelUs / 2);
    }
    e.attempt++;
    if (e.attempt === 2) vassalLogger(name).warn({ event: 'unloyal' }, `unloyal bad behaving vassal found: ${name} throttling it...`);
  }

  /** Milliseconds until `name` may be spawned; 0 = now. */
  delayMs(name: string, nowMs: number): number {
    const e = this.entries_.get(name);
    if (!e) return 0;
    return Math.max(0, Math.ceil(e.lastAttemptMs + e.levelUs / 1000 - nowMs));
  }

  /** The vassal became loyal (byte 17): it leaves the blacklist. */
  loyal(name: string): void {
    this.entries_.delete(name);
  }

  /** SIGURG. */
  clear(): void {
    this.entries_.clear();
  }

  entries(): BlacklistEntry[] {
    return [...this.entries_].map(([id, e]) => ({
      id,
      throttle_level: Math.floor(e.levelUs / 1000),
      attempt: e.attempt,
      first_attempt: Math.floor(e.firstAttemptMs / 1000),
      last_attempt: Math.floor(e.lastAttemptMs / 1000),
    }));
  }
}
