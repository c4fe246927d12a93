// stat() of one vassal config the way uWSGI's scanners decide "is this a vassal, and what is its mtime/owner"
// (reference §1.3, §5), done with async fs calls so a scan of thousands of files never blocks the event loop.
import { promises as fsp, Stats } from 'node:fs';

export interface SourceStat {
  mtimeMs: number;
  uid: number;
  gid: number;
  /** The entry is a symlink (its target may change without an event in the watched directory). */
  symlink: boolean;
}

export interface StatModes {
  nofollow: boolean;
  tyrantNofollow: boolean;
}

async function tryStat(fn: (p: string) => Promise<Stats>, path: string): Promise<Stats | null> {
  try {
    return await fn(path);
  } catch {
    return null;
  }
}

/**
 * null when the entry is not (or no longer) a vassal: missing, not a regular file, or a dangling symlink (skipped in
 * both modes, as uWSGI does). With nofollow the mtime is the link's own, so `touch --no-dereference` reloads one
 * vassal of a shared skeleton; the owner is the link's only with tyrantNofollow.
 */
export async function statSource(path: string, modes: StatModes): Promise<SourceStat | null> {
  const l = await tryStat(fsp.lstat, path);
  if (!l) return null;
  if (l.isFile()) return { mtimeMs: l.mtimeMs, uid: l.uid, gid: l.gid, symlink: false };
  if (!l.isSymbolicLink()) return null;
  const t = await tryStat(fsp.stat, path);
  if (!t || !t.isFile()) return null;
  const timeOf = modes.nofollow ? l : t;
  const ownerOf = modes.tyrantNofollow ? l : t;
  return { mtimeMs: timeOf.mtimeMs, uid: ownerOf.uid, gid: ownerOf.gid, symlink: true };
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
