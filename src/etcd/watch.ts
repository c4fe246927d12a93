// Every key under one etcd prefix, kept current: one listing, then one watch from the listing's revision. The
// watch resumes from the last revision applied after any break (a member restarting or stopped, a partition), on the
// next member when the one in use failed; when etcd has compacted past that revision, the prefix is listed again.
// Every event is delivered once: anything at or below the revision already applied (a listing's, an event's) is old
// news and dropped. A member that stops answering without closing anything (SIGSTOP, a partition) is found by a
// progress request every second: a stream silent for PROBE_MS * 3 is given up.
import type { Etcd3, IKeyValue, IWatchResponse } from 'etcd3';
import type { Logger } from '../log';
import { Backoff } from '../backoff';
import { CALL_MS, deadline, prefixEnd } from './client';
import type { EtcdMembers } from './members';
import { detached } from '../detach';

const PROBE_MS = 1000;

type WatchStream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;

export interface PrefixHandlers {
  /** A complete listing at `revision`: any key not in it is gone. */
  sync(kvs: IKeyValue[], revision: number): void;
  put(kv: IKeyValue): void;
  /** kv.mod_revision is the revision of the delete. */
  delete(kv: IKeyValue): void;
  /** etcd did not answer (called on every failed attempt; say it once). */
  trouble(why: string): void;
  /** etcd answers. */
  ok(): void;
}

export class PrefixWatch {
  private readonly end: Buffer;
  /** The highest revision applied: the watch resumes after it. */
  private applied = 0;
  private listed = false;
  private stream?: WatchStream;
  /** The member this.stream is on. */
  private streamClient?: Etcd3;
  private probeTimer?: NodeJS.Timeout;
  /** When this.stream last said anything. */
  private heardAt = 0;
  private retryTimer?: NodeJS.Timeout;
  private relistTimer?: NodeJS.Timeout;
  private readonly backoff = new Backoff();
  private connecting = false;
  private again = false;
  private relistWanted = false;
  private stopped = false;

  constructor(
    private readonly members: EtcdMembers,
    private readonly prefix: Buffer,
    private readonly log: Logger,
    private readonly on: PrefixHandlers,
    /** The listing is taken again this often (a safety net; the watch does the work). */
    private readonly relistSeconds: number,
  ) {
    this.end = prefixEnd(prefix);
  }

  get revision(): number {
    return this.applied;
  }

  start(): void {
    detached(this.connect(), 'etcd watch');
  }

  /** Lists the prefix again now (and applies the difference). */
  relist(): void {
    if (this.stopped) return;
    this.relistWanted = true;
    detached(this.connect(), 'etcd watch');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.relistTimer);
    this.dropStream();
  }

  /** Lists (when needed) and watches; on any failure tries again after a growing delay. */
  private async connect(): Promise<void> {
    if (this.stopped) return;
    if (this.connecting) {
      // asked again while at it (a compaction seen by the watch just made): one more round after this one
      this.again = true;
      return;
    }
    this.connecting = true;
    clearTimeout(this.retryTimer);
    try {
      do {
        this.again = false;
        if (!this.listed || this.relistWanted) {
          this.relistWanted = false;
          await this.list();
        }
        if (!this.stream && !this.stopped) await this.watch();
      } while (this.again && !this.stopped);
      this.backoff.reset();
      this.armRelist();
    } catch (err) {
      if (this.stopped) return;
      this.on.trouble((err as Error).message);
      this.dropStream();
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => detached(this.connect(), 'etcd watch'), this.backoff.take());
    } finally {
      this.connecting = false;
    }
  }

  private async list(): Promise<void> {
    const res = await this.members.call((c) => c.kv.range({ key: this.prefix, range_end: this.end }, deadline(CALL_MS * 3)));
    if (this.stopped) return;
    const revision = Number(res.header.revision);
    this.on.ok();
    this.on.sync(res.kvs, revision);
    this.applied = Math.max(this.applied, revision);
    this.listed = true;
  }

  private async watch(): Promise<void> {
    const { stream, client } = await this.members.stream((c) => c.watchClient.watch());
    if (this.stopped) {
      stream.on('error', () => undefined);
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.streamClient = client;
    this.heardAt = performance.now();
    const created = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no answer to the watch from ${this.members.hostOf(client)} within ${CALL_MS} ms`));
        this.members.failed(client);
      }, CALL_MS);
      stream.on('data', (res: IWatchResponse) => {
        this.heardAt = performance.now();
        if (res.created) {
          clearTimeout(timer);
          resolve();
          this.armProbe(stream);
        }
        this.onResponse(stream, res);
      });
      const lost = (err?: Error) => {
        clearTimeout(timer);
        reject(err ?? new Error('the watch stream ended'));
        this.onLost(stream, err);
      };
      stream.on('error', lost);
      stream.on('end', () => lost());
    });
    stream.write({ create_request: { key: this.prefix, range_end: this.end, start_revision: this.applied + 1, progress_notify: true } });
    await created;
  }

  /** Asks for progress every PROBE_MS; a stream that said nothing for three of them is lost. */
  private armProbe(stream: WatchStream): void {
    clearInterval(this.probeTimer);
    this.probeTimer = setInterval(() => {
      if (stream !== this.stream) return;
      const silent = performance.now() - this.heardAt;
      if (silent > PROBE_MS * 3) {
        this.onLost(stream, new Error(`${this.members.hostOf(this.streamClient!)} said nothing for ${Math.round(silent)} ms`));
        return;
      }
      stream.write({ progress_request: {} });
    }, PROBE_MS);
  }

  private onResponse(stream: WatchStream, res: IWatchResponse): void {
    if (stream !== this.stream || this.stopped) return;
    if (Number(res.compact_revision) > 0) {
      // the revisions after the last applied one are gone: what changed meanwhile is learned from a new listing
      this.log.warn(
        { event: 'etcd-compacted', applied: this.applied, compact_revision: Number(res.compact_revision) },
        `etcd compacted past revision ${this.applied + 1} while the watch was away: listing ${this.prefix.toString()} again`,
      );
      this.dropStream();
      this.relist();
      return;
    }
    if (res.canceled) return this.onLost(stream, new Error(`the watch was canceled: ${res.cancel_reason || 'no reason given'}`));
    this.on.ok();
    // the events of one transaction share its revision: all of them are applied, or none
    const floor = this.applied;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= floor) continue;
      this.applied = Math.max(this.applied, rev);
      if (ev.type === 'Delete') this.on.delete(ev.kv);
      else this.on.put(ev.kv);
    }
    // a progress notification of the watcher's own (etcd sends them only once it has sent every event up to that
    // revision); the answer to a progress request (watch_id -1) carries the store's revision, not the watcher's
    if (!res.created && res.events.length === 0 && res.watch_id !== '-1')
      this.applied = Math.max(this.applied, Number(res.header.revision));
  }

  private onLost(stream: WatchStream, err?: Error): void {
    if (stream !== this.stream || this.stopped) return;
    this.on.trouble(`the watch was lost (${err?.message ?? 'the stream ended'})`);
    this.members.failed(this.streamClient!);
    this.dropStream();
    // during a (re)connection its own failure path retries
    if (this.connecting) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => detached(this.connect(), 'etcd watch'), this.backoff.take());
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    this.streamClient = undefined;
    clearInterval(this.probeTimer);
    if (!s) return;
    // its handlers see it is no longer this.stream; cancelling ends the watch at etcd too
    s.on('error', () => undefined);
    s.cancel();
  }

  private armRelist(): void {
    if (this.relistTimer || this.stopped) return;
    this.relistTimer = setTimeout(() => {
      this.relistTimer = undefined;
      this.relist();
    }, this.relistSeconds * 1000);
  }
}
