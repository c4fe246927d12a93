// The log files of vassals that are gone (removed, renamed) go after a retention time: every so often the logs
// directory is listed, and a file the emperor made (a name logFileName gives, a regular file of the emperor's own
// uid) for a vassal the emperor does not have now, untouched for the retention time, is removed, rotated ones too.
// Nothing else in the directory is touched. Through libuv's threadpool: the loop never waits on the disk.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { vassalOfLogFile } from './logfile';
import { detached } from '../detach';

/** The longest time between two sweeps. */
const MAX_SWEEP_MS = 3600_000;

export interface RetentionOptions {
  dir: string;
  retentionMs: number;
  /** The names of the vassals there are now; a sweep runs only when `ready` (every monitor has scanned once). */
  vassals(): ReadonlySet<string>;
  ready(): boolean;
  log: Logger;
}

/** One sweep: the files removed (names in dir). */
async function sweepLogs(o: RetentionOptions, nowMs = Date.now()): Promise<string[]> {
  const uid = process.geteuid!();
  const removed: string[] = [];
  const known = o.vassals();
  for (const file of await fsp.readdir(o.dir)) {
    const vassal = vassalOfLogFile(file);
    if (vassal === undefined || known.has(vassal)) continue;
    const full = path.join(o.dir, file);
    const st = await fsp.lstat(full).catch(() => undefined);
    if (!st?.isFile() || st.uid !== uid || nowMs - st.mtimeMs < o.retentionMs) continue;
    // checked again just before: a vassal of that name may have come back meanwhile
    if (o.vassals().has(vassal)) continue;
    try {
      await fsp.unlink(full);
      removed.push(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  if (removed.length)
    o.log.info(
      { event: 'logs-removed', dir: o.dir, files: removed },
      `removed ${removed.length} log file(s) of vassals gone for ${o.retentionMs / 1000} s`,
    );
  return removed;
}

/** Sweeps once the vassal table is complete, then every min(retention / 2, 1 h); stop() ends it. */
export function retainLogs(o: RetentionOptions): { stop(): void } {
  let running = false;
  const sweep = () => {
    if (running) return;
    running = true;
    detached(
      sweepLogs(o)
        .catch((e: Error) =>
          o.log.error({ event: 'logs-sweep-error', dir: o.dir, error: e.message }, `cannot sweep ${o.dir}: ${e.message}`),
        )
        .finally(() => (running = false)),
      'log retention sweep',
    );
  };
  let every: NodeJS.Timeout | undefined;
  const first = setInterval(() => {
    if (!o.ready()) return;
    clearInterval(first);
    sweep();
    every = setInterval(sweep, Math.max(1000, Math.min(o.retentionMs / 2, MAX_SWEEP_MS)));
    every.unref();
  }, 1000);
  first.unref();
  return {
    stop: () => {
      clearInterval(first);
      clearInterval(every);
    },
  };
}
