// stat() of one vassal config the way uWSGI's scanners decide "is this a vassal, and what is its mtime/owner"
// (reference §1.3, §5).
import * as native from '../native';

import type { SourceStat, StatModes } from './types';

export type { SourceStat, StatModes } from './types';

/**
 * The stat of each entry, the way uWSGI's scanners decide "is this a vassal, and what is its mtime and owner": null
 * when the entry is not (or no longer) a vassal: missing, not a regular file, or a dangling symlink (skipped in both
 * modes, as uWSGI does). With nofollow the mtime is the link's own, so `touch --no-dereference` reloads one vassal
 * of a shared skeleton; the owner is the link's only with tyrantNofollow.
 *
 * All of them in one threadpool task of the addon: per-file fs.lstat calls cost a threadpool round trip each, which
 * made a 1,000-file rescan most of the emperor's idle CPU. Still never *Sync: a hung NFS or FUSE mount blocks a
 * threadpool thread, not the emperor's event loop.
 */
export async function statSources(paths: readonly string[], modes: StatModes): Promise<(SourceStat | null)[]> {
  if (paths.length === 0) return [];
  const raw = await native.statSources([...paths], modes.nofollow, modes.tyrantNofollow);
  return paths.map((_, i) => {
    const f = i * native.STAT_FIELDS;
    return raw[f] === 0 ? null : { mtimeMs: raw[f + 1], uid: raw[f + 2], gid: raw[f + 3], symlink: raw[f] === 2 };
  });
}

/** Maps items through an async function with at most `width` calls in flight, keeping order. */
export async function mapBatched<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
