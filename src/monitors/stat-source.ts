// What a scan asks of each candidate path, the way uWSGI's scanners decide "is this a vassal, and what is its mtime
// and owner" (docs/UWSGI.md §1.3, §5); MonitorFs.statSources answers it, in an agent process:
// - a regular file is a vassal, with its own mtime and owner;
// - a symlink to a regular file is one too: with nofollow the mtime is the link's own (so `touch --no-dereference`
//   reloads one vassal of a shared skeleton), else the target's; the owner is the link's only with tyrantNofollow;
// - anything else (missing, a directory, a FIFO, a device, a dangling symlink) is not a vassal, as in uWSGI.

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
