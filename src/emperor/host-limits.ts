// The kernel limits a big emperor meets. At start RLIMIT_NOFILE is raised (every vassal gets the old one back) and
// one log line says what the host allows. Later, a vassal start refused for want of a resource (EMFILE, ENFILE,
// EAGAIN from clone or a reader that cannot start, ENOMEM, ENOSPC) is one log line per episode: the vassals that
// cannot start are retried on a shared backoff, without a line each, and the running ones are left as they are.
import * as fs from 'node:fs';
import type { Logger } from '../log';
import * as native from '../native';
import { isHostLimit } from '../tables/signals-errnos';

/**
 * fds the emperor keeps per running vassal: its pidfd and its control socket, and for a uWSGI vassal the read ends
 * of its stdout and stderr pipes (a native vassal's init relays its output on the control socket). A spawn holds a
 * few more until the child has exec'd: the report pipe's read end, the pipes' write ends, the cgroup.
 */
export const FDS_PER_NATIVE_VASSAL = 2;
export const FDS_PER_UWSGI_VASSAL = 4;
/** What the emperor needs besides: Node's own, the readers and agents (2 each), watches, the stats server. */
const RESERVED_FDS = 256;
/** The most the emperor asks for itself: enough for 500,000 vassals, far below what a kernel allows by default. */
const NOFILE_WANTED = 1 << 20;
const BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];

function readNumber(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Raises the nofile limit and says, in one line, how many vassals the host's limits leave room for. */
export function raiseLimits(log: Logger): void {
  const nofile = native.raiseNofileLimit(Math.min(readNumber('/proc/sys/fs/nr_open') ?? NOFILE_WANTED, NOFILE_WANTED));
  const pidMax = readNumber('/proc/sys/kernel/pid_max');
  const room = (perVassal: number) => Math.floor((nofile.soft - RESERVED_FDS) / perVassal);
  log.info(
    {
      event: 'limits',
      nofile: nofile.soft,
      vassal_nofile: nofile.before,
      pid_max: pidMax,
      native_vassals_by_fds: room(FDS_PER_NATIVE_VASSAL),
      uwsgi_vassals_by_fds: room(FDS_PER_UWSGI_VASSAL),
    },
    `open files: ${nofile.soft}, room for about ${room(FDS_PER_NATIVE_VASSAL)} native vassals (${FDS_PER_NATIVE_VASSAL} fds each) or ${room(FDS_PER_UWSGI_VASSAL)} uWSGI vassals (${FDS_PER_UWSGI_VASSAL} each); pid_max ${pidMax} (a native vassal is 2 processes or more)`,
  );
}

/** Whether a start failure is a resource limit of the host, not something of the vassal's own. */
export { isHostLimit as isLimit };

/** A start that succeeds this long after the last refused one ends the episode. */
const EPISODE_QUIET_MS = 60_000;

/** One episode of limit failures at a time: said once, and a backoff shared by every vassal that hit it. */
export class LimitWatch {
  private failures = 0;
  private lastHit = 0;

  constructor(private readonly log: Logger) {}

  /** A vassal could not start for a limit: the delay before it tries again. */
  hit(err: Error & { code?: string }, vassal: string): number {
    if (this.failures === 0 || Date.now() - this.lastHit > EPISODE_QUIET_MS) {
      this.failures = 0;
      this.log.error(
        { event: 'limit-reached', code: err.code, vassal, error: err.message },
        `a host limit is reached (${err.message}): vassals that cannot start are retried, running ones keep running`,
      );
    }
    this.failures++;
    this.lastHit = Date.now();
    const delay = BACKOFF_MS[Math.min(BACKOFF_MS.length - 1, Math.floor(Math.log2(this.failures)))];
    return delay + Math.floor(Math.random() * delay * 0.5); // spread, so that the retries do not come as one burst
  }

  /** A vassal started: the episode, if any, is over once no start has been refused for a while. */
  ok(): void {
    if (this.failures === 0 || Date.now() - this.lastHit < EPISODE_QUIET_MS) return;
    this.log.info({ event: 'limit-cleared', failures: this.failures }, `vassals start again after ${this.failures} refused starts`);
    this.failures = 0;
  }
}
