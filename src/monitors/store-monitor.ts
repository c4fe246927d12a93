// The engine shared by the store monitors (etcd://, pg://): a vassal whose config lives in a store is made a file
// vassal by writing its config into a private runtime directory the emperor owns, so the config language, the reader
// processes and real uWSGI vassals (which need a file) see exactly what they see for dir://. The store only decides
// which names exist and when each changed (its version: an etcd mod_revision, a pg ts); this class turns listings and
// single changes into add/change/remove, each exactly once, in the order the store gave them.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { isVassalFile } from '../config/vassal-env';
import { logger, type Logger } from '../log';
import { Monitor, MonitorEvents, MonitorOptions, MonitorSpecError, VassalSource } from './types';

/** One vassal as a store holds it. */
export interface StoreEntry {
  name: string;
  config: string;
  /** Grows on every change (etcd: mod_revision; pg: ts in ms): a change is a version above the one known. */
  version: number;
  /** The owner for tyrant mode. */
  uid: number;
  gid: number;
}

interface Known {
  version: number;
  uid: number;
  gid: number;
}

export abstract class StoreMonitor implements Monitor {
  readonly id: string;
  protected readonly log: Logger;
  protected events: MonitorEvents | null = null;
  protected stopped = false;
  private readonly known = new Map<string, Known>();
  /** Writes and the events after them, in the order decided: a change is never reported before its file exists. */
  private queue: Promise<void> = Promise.resolve();
  private readonly dir: string;
  private dirMade = false;
  /** Names refused once (said once, not per listing). */
  private readonly refusedNames = new Set<string>();
  /** What keeps the store from answering now (shown in the stats' monitor_errors), or null. */
  private trouble: string | null = null;

  protected constructor(
    id: string,
    protected readonly opts: MonitorOptions,
  ) {
    this.id = id;
    this.log = logger().child({ monitor: id });
    if (!opts.runtimeDir) throw new MonitorSpecError(`--emperor ${id}: a store monitor needs the emperor's runtime directory`);
    // one directory per monitor: two stores may both hold an app.ini
    this.dir = path.join(opts.runtimeDir, createHash('sha256').update(id).digest('hex').slice(0, 16));
  }

  /** Opens the store and delivers the first listing through syncAll. */
  protected abstract open(): void;
  /** Closes connections and timers. */
  protected abstract close(): void;

  start(events: MonitorEvents): void {
    if (this.events || this.stopped) throw new Error(`${this.id}: a monitor starts once (stop is final)`);
    this.events = events;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.events = null;
    this.close();
  }

  abstract rescan(): void;

  get errors(): Array<{ path: string; error: string }> {
    return this.trouble ? [{ path: this.id, error: this.trouble }] : [];
  }

  /** The store cannot be reached (said once until it answers again); the vassals are kept as they are. */
  protected unreachable(why: string): void {
    if (this.trouble === null)
      this.log.error({ event: 'store-unreachable', error: why }, `${why}: the vassals are kept as they are, retrying`);
    this.trouble = why;
  }

  protected reachable(): void {
    if (this.trouble !== null) this.log.info({ event: 'store-reachable' }, 'the store answers again');
    this.trouble = null;
  }

  /** The file a vassal's config is written to. */
  protected fileOf(name: string): string {
    return path.join(this.dir, name);
  }

  /** A complete listing: every name not in it is gone. Versions not above the known ones change nothing. */
  protected syncAll(entries: readonly StoreEntry[]): void {
    const seen = new Set<string>();
    for (const e of entries) {
      if (this.upsert(e)) seen.add(e.name);
    }
    for (const name of [...this.known.keys()]) if (!seen.has(name)) this.delete(name);
  }

  /** One put or row: spawns a new name, reloads a known one whose version grew. Returns false for a refused name. */
  protected upsert(e: StoreEntry): boolean {
    if (!this.validName(e.name)) return false;
    const old = this.known.get(e.name);
    const owner = old !== undefined && (old.uid !== e.uid || old.gid !== e.gid);
    if (old && e.version <= old.version && !owner) return true;
    const cur: Known = { version: Math.max(e.version, old?.version ?? -Infinity), uid: e.uid, gid: e.gid };
    this.known.set(e.name, cur);
    const config = e.config;
    this.enqueue(async () => {
      try {
        await this.write(e.name, config, cur);
      } catch (err) {
        // not applied: the next listing tries again (a running vassal keeps its old config meanwhile)
        if (this.known.get(e.name) === cur) {
          if (old) this.known.set(e.name, old);
          else this.known.delete(e.name);
        }
        throw err;
      }
      const src = this.source(e.name, cur);
      if (old) this.events?.change(src);
      else this.events?.add(src);
    });
    return true;
  }

  /** One delete: the vassal stops and its file goes. */
  protected delete(name: string): void {
    const old = this.known.get(name);
    if (!old) return;
    this.known.delete(name);
    this.enqueue(async () => {
      this.events?.remove(this.source(name, old));
      await fsp.rm(this.fileOf(name), { force: true });
    });
  }

  /** Names known now (for a diff against a store's listing). */
  protected knownVersion(name: string): number | undefined {
    return this.known.get(name)?.version;
  }

  private source(name: string, k: Known): VassalSource {
    return { name, path: this.fileOf(name), dir: this.dir, mtimeMs: k.version, uid: k.uid, gid: k.gid, monitor: this.id };
  }

  /**
   * A name becomes a file name in the runtime directory: a vassal extension as for files, and nothing that could
   * leave the directory or hide in it.
   */
  private validName(name: string): boolean {
    const ok =
      name !== '' && !name.includes('/') && !name.includes('\0') && !name.startsWith('.') && isVassalFile(name, this.opts.extraExtensions);
    // as dir:// passes over a README or a subdirectory: said once, at debug level
    if (!ok && !this.refusedNames.has(name)) {
      this.refusedNames.add(name);
      this.log.debug(
        { event: 'store-name-ignored', name },
        `"${name}" is not a vassal name (a config extension, no '/', not starting with '.', under 255 bytes): ignored`,
      );
    }
    return ok;
  }

  /**
   * The directories are 0711: a tyrant vassal (and its reader) can open its own file by name, nobody can list the
   * others; the file is 0600 and owned by the vassal's owner.
   */
  private async write(name: string, config: string, k: Known): Promise<void> {
    if (!this.dirMade) {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o711 });
      await fsp.chmod(this.dir, 0o711);
      this.dirMade = true;
    }
    const tmp = path.join(this.dir, `.${name}.${process.pid}.tmp`);
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(config);
      if (this.opts.tyrant) await fh.chown(k.uid, k.gid);
    } finally {
      await fh.close();
    }
    // a reader never sees half a config: the new one replaces the old in one rename
    await fsp.rename(tmp, this.fileOf(name));
  }

  private enqueue(op: () => Promise<void>): void {
    this.queue = this.queue
      .then(op)
      .catch((err: Error) =>
        this.log.error({ event: 'store-write-failed', error: err.message }, `cannot write a vassal config: ${err.message}`),
      );
  }
}
