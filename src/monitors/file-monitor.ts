// The engine shared by the filesystem monitors (dir://, glob://): inotify (fs.watch per directory) for speed, a
// periodic check as the safety net (inotify overflow, NFS, a watched directory removed and recreated), and one
// serialized queue of checks so a rescan and a burst of events can never race each other into a wrong add/remove.
//
// The safety net costs the same whatever the number of vassals. Every freqSeconds it stats each directory it
// watches: one whose inode or mtime changed (an entry added, removed or renamed, by anyone, with or without an
// inotify event; the directory replaced) is listed again, its new names stat'ed and its missing ones removed. Then
// SLICE vassal files are stat'ed, round robin, for what only a file's own stat shows (an edit in place that inotify
// did not report: NFS, an overflow): every file within ceil(files / SLICE) x freqSeconds. A full rescan (list and
// stat everything) runs at start, on a watch error or a nameless event (the queue overflowed), and when a hung path
// answers again.
// Every listing and stat goes through the injected MonitorFs (an agent process, with a time budget): a path on a
// hung mount costs one timeout, then is left alone (its vassal kept as it is) until the access that hung is over.
import { watch, FSWatcher } from 'node:fs';
import type { HostError } from '../host-fs';
import { logger, Logger } from '../log';
import { DirStamp, Monitor, MonitorEvents, MonitorFs, MonitorOptions, MonitorSpecError, SourceStat, VassalSource } from './types';
import { mapBatched } from './stat-source';
import { detached } from '../detach';

export interface Candidate {
  name: string;
  path: string;
}

/** Events on one name closer together than this are one change: an editor's write + rename, a create + write. */
const QUIET_MS = 8;
/** A name that keeps getting events is still checked this soon (the detection target is 50 ms). */
const MAX_WAIT_MS = 30;
/** stat() calls of watched directories in flight at once: enough to keep libuv's threadpool busy, few enough to leave it room. */
const STAT_WIDTH = 64;
/** Vassal files stat'ed by each periodic check. */
export const SLICE = 100;
/** A directory mtime this recent may change again within the same timestamp: such a directory is listed next time too. */
const SETTLE_MS = 2000;

interface Known extends VassalSource {
  symlink: boolean;
}

interface Pending {
  path: string;
  first: number;
  last: number;
}

interface Watched {
  watcher: FSWatcher;
  ino: number;
}

export abstract class FileMonitor implements Monitor {
  protected readonly log: Logger;
  private events: MonitorEvents | null = null;
  private readonly known = new Map<string, Known>();
  private readonly pending = new Map<string, Pending>();
  /** First request time of a debounced full rescan (an event that may add or remove directories), or null. */
  private pendingFullSince: number | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private readonly watchers = new Map<string, Watched>();
  private queue: Promise<void> = Promise.resolve();
  private fullScanQueued = false;
  private stopped = false;
  /** Paths whose last access timed out, until that access is over (the stuck agent exited): path -> its error. */
  private readonly hung = new Map<string, string>();
  /** The directories the last listing looked into, and what the periodic check last saw of each ('ino:mtime'). */
  private listedDirs: readonly string[] = [];
  private readonly stamps = new Map<string, string>();
  /** Where the periodic check's round robin over the vassal files is. */
  private slice: IterableIterator<Known> = this.known.values();

  /** The scanner argument as uWSGI shows it in stats (the "emperor" list and each vassal's "monitor"). */
  readonly id: string;

  protected constructor(
    /** The directory the emperor chdirs into for this monitor's vassals. */
    protected readonly vassalDir: string,
    monitorArg: string,
    protected readonly opts: MonitorOptions,
    protected readonly fs: MonitorFs,
  ) {
    this.id = monitorArg;
    if (!(opts.freqSeconds > 0))
      throw new MonitorSpecError(`--emperor ${monitorArg}: emperor-freq must be a positive number of seconds, got ${opts.freqSeconds}`);
    this.log = logger().child({ monitor: monitorArg });
  }

  /** Every candidate path now (and re-arms the watches it needs), or null when listing failed and state must be kept. */
  protected abstract listCandidates(): Promise<Candidate[] | null>;

  /** A raw fs.watch event on a watched directory (filename null when the kernel did not say). */
  protected abstract onWatchEvent(dir: string, filename: string | null): void;

  start(events: MonitorEvents): void {
    if (this.events || this.stopped) throw new Error(`${this.id}: a monitor starts once (stop is final)`);
    this.events = events;
    this.rescan();
  }

  rescan(): void {
    if (!this.events || this.fullScanQueued) return;
    this.fullScanQueued = true;
    this.enqueue(async () => {
      this.fullScanQueued = false;
      try {
        await this.scan(true);
      } finally {
        // a scan that failed is over too: the emperor must not wait for a READY that never comes
        this.events?.scanned?.();
      }
      this.armRescanTimer();
    });
  }

  stop(): void {
    this.stopped = true;
    this.events = null;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    this.tickTimer = this.rescanTimer = null;
    for (const w of this.watchers.values()) w.watcher.close();
    this.watchers.clear();
    this.pending.clear();
    this.pendingFullSince = null;
  }

  /** Paths this monitor cannot look at now (a hung mount), with why. */
  get errors(): Array<{ path: string; error: string }> {
    return [...this.hung].map(([path, error]) => ({ path, error }));
  }

  /** Whether `path` is left alone because an access to it is still stuck. */
  protected isHung(path: string): boolean {
    return this.hung.has(path);
  }

  /**
   * A timed-out access: said once, the path left alone until the access that hung is over, then looked at again.
   * Returns false for any other error, for the caller to handle.
   */
  protected hungOn(path: string, err: unknown): boolean {
    const e = err as HostError;
    if (e?.code !== 'ETIMEDOUT') return false;
    if (!this.hung.has(path)) {
      this.hung.set(path, e.message);
      this.log.error({ event: 'monitor-timeout', path, error: e.message }, `${e.message}: left as it is until it answers`);
      detached(
        (e.settled ?? Promise.resolve()).then(() => {
          if (!this.hung.delete(path) || !this.events) return;
          this.log.info({ event: 'monitor-recovered', path }, `${path} answers again`);
          this.requestRescan();
        }),
        'hung path retry',
      );
    }
    return true;
  }

  /** Schedules a debounced check of one name. */
  protected touch(name: string, path: string): void {
    if (!this.events) return;
    const now = Date.now();
    const p = this.pending.get(name);
    if (p) {
      p.last = now;
      p.path = path;
    } else {
      this.pending.set(name, { path, first: now, last: now });
    }
    this.armTick();
  }

  /**
   * Without nofollow a symlinked vassal's mtime is its target's, and the target (app.skel) is not a vassal name:
   * any other event in the directory re-checks the symlinked vassals. A target outside the watched directories is
   * seen by the periodic rescan only.
   */
  protected touchSymlinked(): void {
    if (this.opts.nofollow) return;
    for (const k of this.known.values()) if (k.symlink) this.touch(k.name, k.path);
  }

  /** Schedules a debounced full rescan (directory-level events). */
  protected requestRescan(): void {
    if (!this.events) return;
    this.pendingFullSince ??= Date.now();
    this.armTick();
  }

  /** Makes the set of watched directories exactly `dirs`, re-watching any directory whose inode changed. */
  protected async syncWatches(dirs: readonly string[]): Promise<void> {
    this.listedDirs = dirs;
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.watcher.close();
        this.watchers.delete(dir);
      }
    }
    const stamps = await this.dirStamps(dirs);
    if (!this.events) return;
    dirs.forEach((dir, i) => {
      const st = stamps[i];
      const ino = st === 'hung' ? st : (st?.ino ?? null);
      // a directory that does not answer keeps its watch (if any) until it does
      if (ino === 'hung') return;
      const cur = this.watchers.get(dir);
      if (cur && cur.ino === ino) return;
      if (cur) {
        cur.watcher.close();
        this.watchers.delete(dir);
      }
      if (ino === null) return;
      try {
        const watcher = watch(dir, { persistent: true }, (_type, filename) =>
          this.onWatchEvent(dir, filename === null ? null : String(filename)),
        );
        // a watched directory that vanishes or overflows: the rescan re-derives the watches
        watcher.on('error', (err) => {
          this.log.warn({ dir, err: err.message }, 'directory watch failed; relying on the rescan');
          watcher.close();
          if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
          this.requestRescan();
        });
        this.watchers.set(dir, { watcher, ino });
      } catch (err) {
        this.log.warn({ dir, err: (err as Error).message }, 'cannot watch directory; relying on the rescan');
      }
    });
  }

  private dirStamps(dirs: readonly string[]): Promise<Array<DirStamp | null | 'hung'>> {
    return mapBatched(dirs, STAT_WIDTH, async (d): Promise<DirStamp | null | 'hung'> => {
      if (this.isHung(d)) return 'hung';
      try {
        return await this.fs.dirStamp(d);
      } catch (err) {
        return this.hungOn(d, err) ? 'hung' : null;
      }
    });
  }

  private enqueue(op: () => Promise<void>): void {
    this.queue = this.queue.then(op).catch((err: Error) => this.log.error({ err: err.message, stack: err.stack }, 'monitor scan failed'));
  }

  private armRescanTimer(): void {
    if (!this.events) return;
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = null;
      this.enqueue(async () => {
        await this.periodicCheck();
        // a full rescan queued meanwhile arms the timer itself when it is done
        if (!this.fullScanQueued && !this.rescanTimer) this.armRescanTimer();
      });
    }, this.opts.freqSeconds * 1000);
  }

  private armTick(): void {
    if (this.tickTimer) return;
    let due = Infinity;
    for (const p of this.pending.values()) due = Math.min(due, p.last + QUIET_MS, p.first + MAX_WAIT_MS);
    if (this.pendingFullSince !== null) due = Math.min(due, this.pendingFullSince + QUIET_MS);
    if (due === Infinity) return;
    this.tickTimer = setTimeout(
      () => {
        this.tickTimer = null;
        this.flushDue();
      },
      Math.max(0, due - Date.now()),
    );
  }

  private flushDue(): void {
    const now = Date.now();
    if (this.pendingFullSince !== null && now >= this.pendingFullSince + QUIET_MS) {
      this.pendingFullSince = null;
      this.rescan();
    }
    const batch: Candidate[] = [];
    for (const [name, p] of this.pending) {
      if (now >= p.last + QUIET_MS || now >= p.first + MAX_WAIT_MS) {
        batch.push({ name, path: p.path });
        this.pending.delete(name);
      }
    }
    if (batch.length) this.enqueue(() => this.check(batch));
    this.armTick();
  }

  private async check(batch: readonly Candidate[]): Promise<void> {
    for (const [c, st] of await this.statAll(batch)) this.apply(c, st);
  }

  /** Lists every candidate; stats all of them (full) or only the names not known yet; removes the names not listed. */
  private async scan(full: boolean): Promise<void> {
    const cands = await this.listCandidates();
    if (!cands || !this.events) return;
    const seen = new Set<string>();
    for (const c of cands) seen.add(c.name);
    for (const [c, st] of await this.statAll(full ? cands : cands.filter((c) => !this.known.has(c.name)))) this.apply(c, st);
    // a vassal under a directory that did not answer is not gone, only unseen
    for (const k of [...this.known.values()]) if (!seen.has(k.name) && !this.underHung(k.path)) this.apply(k, null);
  }

  /** The safety net's periodic part (the rule is at the top of this file). */
  private async periodicCheck(): Promise<void> {
    const dirs = this.listedDirs;
    const stamps = await this.dirStamps(dirs);
    const now = Date.now();
    let changed = false;
    dirs.forEach((d, i) => {
      const st = stamps[i];
      if (st === 'hung') return;
      const seen = st ? `${st.ino}:${st.mtimeMs}` : 'none';
      if (this.stamps.get(d) !== seen) changed = true;
      this.stamps.set(d, st && now - st.mtimeMs < SETTLE_MS ? 'unsettled' : seen);
    });
    if (changed) await this.scan(false);
    if (!this.events) return;
    const batch: Candidate[] = [];
    while (batch.length < SLICE && batch.length < this.known.size) {
      let next = this.slice.next();
      if (next.done) {
        this.slice = this.known.values();
        next = this.slice.next();
        if (next.done) break;
      }
      batch.push({ name: next.value.name, path: next.value.path });
    }
    for (const [c, st] of await this.statAll(batch)) this.apply(c, st);
  }

  private underHung(p: string): boolean {
    for (const h of this.hung.keys()) if (p === h || p.startsWith(h.endsWith('/') ? h : `${h}/`)) return true;
    return false;
  }

  /** The stat of each candidate; one that hangs (now or still) is 'hung': its vassal stays as it is. */
  private async statAll(cands: readonly Candidate[]): Promise<Array<[Candidate, SourceStat | null | 'hung']>> {
    const asked = cands.filter((c) => !this.isHung(c.path));
    let answers: Array<SourceStat | HostError | null>;
    try {
      answers = await this.fs.statSources(
        asked.map((c) => c.path),
        this.opts,
      );
    } catch (err) {
      // the agent itself failed (not one path): nothing learned, everything kept
      this.log.error(
        { event: 'monitor-error', error: (err as Error).message },
        `cannot look at the vassal files: ${(err as Error).message}`,
      );
      return cands.map((c) => [c, 'hung']);
    }
    const byPath = new Map<string, SourceStat | null | 'hung'>();
    asked.forEach((c, i) => {
      const a = answers[i];
      // a path that could not be looked at is not gone: its vassal is kept as it is (and a hung one left alone)
      if (a instanceof Error) this.hungOn(c.path, a);
      byPath.set(c.path, a instanceof Error ? 'hung' : a);
    });
    return cands.map((c) => [c, byPath.has(c.path) ? (byPath.get(c.path) as SourceStat | null) : 'hung']);
  }

  private apply(c: Candidate, st: SourceStat | null | 'hung'): void {
    const ev = this.events;
    if (!ev || st === 'hung') return;
    const old = this.known.get(c.name);
    if (!st) {
      if (!old) return;
      this.known.delete(c.name);
      ev.remove(publicView(old));
      return;
    }
    if (!old) {
      const k: Known = {
        name: c.name,
        path: c.path,
        dir: this.vassalDir,
        mtimeMs: st.mtimeMs,
        uid: st.uid,
        gid: st.gid,
        monitor: this.id,
        symlink: st.symlink,
      };
      this.known.set(c.name, k);
      ev.add(publicView(k));
      return;
    }
    old.symlink = st.symlink;
    // uWSGI compares whole seconds (two touches within a second are one reload for it); we compare full mtime
    // precision, still strictly greater so a backdated mtime never reloads, and keep the highest value seen.
    const newer = st.mtimeMs > old.mtimeMs;
    const owner = st.uid !== old.uid || st.gid !== old.gid;
    if (!newer && !owner) return;
    if (newer) old.mtimeMs = st.mtimeMs;
    old.uid = st.uid;
    old.gid = st.gid;
    ev.change(publicView(old));
  }
}

function publicView(k: Known): VassalSource {
  return { name: k.name, path: k.path, dir: k.dir, mtimeMs: k.mtimeMs, uid: k.uid, gid: k.gid, monitor: k.monitor };
}
