// One etcd lease, kept alive, with the one fact pool mode's safety rests on: when it can expire at the server.
// etcd renews a lease to its full TTL on every keepalive it answers (the TTL in the answer is the granted one, which
// etcd may have raised to its minimum); a keepalive is received after it was sent, so "sent at t and answered with
// TTL>0" proves the lease lives at least until t + TTL. That instant (the deadline) is measured on this host's
// monotonic clock, never the wall clock. etcd itself gives a lease its full TTL again whenever a leader takes over (a
// restart, a leader change), so a store that was away for a while has not cost the lease anything: only etcd's
// answer tells how much time is left, never the time since the last one.
//
// So the keeper talks often and comes back fast: a keepalive every KEEPALIVE_MS (a few per TTL), a stream that broke
// is opened again within RETRY_MS (on the next member, src/etcd/members.ts), and when keepalives are left unanswered
// for stuckMs (a member stopped or partitioned closes nothing) a second stream is opened on the next member beside
// the first, which is kept: a member that waits for a new leader before it answers (etcd forwards a keepalive to the
// leader) answers as soon as there is one, and dropping its stream would start that wait again elsewhere. Whichever
// answers is kept. Only when the deadline comes near does the holder hear of it: dangerMs before it, stop gracefully
// what the lease protects; marginMs before it, kill what is left. A lease etcd says is gone (TTL 0 on a keepalive) is
// lost at once.
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../log';
import { Backoff } from '../backoff';
import { integer } from '../check';
import { deadline } from '../etcd/client';
import type { EtcdMembers } from '../etcd/members';
import { detached } from '../detach';

type KeepAliveStream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>;

export interface LeaseEvents {
  /** A new lease is held (the first one, or one after `lost`): whatever was bound to an old one is gone. */
  granted(id: string): void;
  /** The lease may expire within dangerMs and no member answers: stop gracefully what the lease protects. */
  danger(): void;
  /** The lease may expire within the margin: kill it now. */
  expiring(): void;
  /** A keepalive was answered again after `danger`: the same lease (and everything bound to it) still lives. */
  alive(): void;
  /** etcd says the lease is gone (expired or revoked): everything bound to it is gone. A new one is asked for. */
  lost(): void;
}

/** The keepalive period's ceiling: a silence is found, and a deadline renewed, within half a second. */
const KEEPALIVE_MS = 500;
/** The period of the attempts to open a keepalive stream again (far below any TTL). */
export const RETRY_MS = 250;

const now = (): number => performance.now();

/** One keepalive stream, on one member, and the send times of its keepalives not answered yet (etcd answers in order). */
class KeepaliveLine {
  readonly inFlight: number[] = [];

  constructor(
    readonly stream: KeepAliveStream,
    readonly client: Etcd3,
  ) {}

  /** How long its oldest keepalive has waited for an answer (0: none waits). */
  waited(t: number): number {
    return this.inFlight.length ? t - this.inFlight[0] : 0;
  }

  send(id: string): void {
    this.inFlight.push(now());
    this.stream.write({ ID: id });
  }

  close(): void {
    this.stream.on('error', () => undefined);
    this.stream.cancel();
  }
}
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const ttlOf = (v: unknown, what: string): number => integer(-1, 1e9)(Number(v), what);

export class LeaseKeeper {
  id: string | null = null;
  /** The TTL etcd granted, in ms (the one asked for until it answers). */
  private ttlMs: number;
  /** Monotonic ms before which the lease cannot have expired at the server. */
  private expiresAt = 0;
  /** The keepalive streams, oldest first: one, or two while the first is not answering. */
  private lines: KeepaliveLine[] = [];
  private opening = false;
  private lastSent = 0;
  /** When the last keepalive was answered (for the log: how long etcd was silent). */
  private answeredAt = 0;
  private ticker?: NodeJS.Timeout;
  private dangerTimer?: NodeJS.Timeout;
  private expiringTimer?: NodeJS.Timeout;
  private grantTimer?: NodeJS.Timeout;
  private readonly backoff = new Backoff(100, 1000);
  private inDanger = false;
  private stopped = false;
  private troubleSaid = false;

  constructor(
    private readonly members: EtcdMembers,
    readonly ttlSeconds: number,
    private readonly log: Logger,
    private readonly on: LeaseEvents,
  ) {
    this.ttlMs = ttlSeconds * 1000;
  }

  /** The margin before the deadline at which what the lease protects is killed: TTL x 0.15, 0.5 to 2 s. */
  get marginMs(): number {
    return clamp(this.ttlMs * 0.15, 500, 2000);
  }

  /** How long before the deadline what the lease protects is stopped: the margin, and as long again for the stop. */
  get dangerMs(): number {
    return 2 * this.marginMs;
  }

  /** A keepalive every this often: several per TTL. */
  get keepaliveMs(): number {
    return Math.min(KEEPALIVE_MS, this.ttlMs / 6);
  }

  /** Keepalives unanswered for this long: a stream is opened on the next member too. */
  get stuckMs(): number {
    return Math.max(500, this.keepaliveMs);
  }

  start(): void {
    detached(this.grant(), 'etcd lease grant');
  }

  /** Revokes the lease (everything bound to it vanishes at once) and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.dropStreams();
    const id = this.id;
    this.id = null;
    if (id) await this.members.call((c) => c.leaseClient.leaseRevoke({ ID: id }, deadline())).catch(() => undefined);
  }

  private async grant(): Promise<void> {
    if (this.stopped) return;
    const sent = now();
    try {
      const res = await this.members.call((c) => c.leaseClient.leaseGrant({ TTL: this.ttlSeconds }, deadline()));
      const ttl = ttlOf(res.TTL, 'etcd lease grant answer TTL');
      if (this.stopped) {
        await this.members.call((c) => c.leaseClient.leaseRevoke({ ID: res.ID }, deadline())).catch(() => undefined);
        return;
      }
      this.id = res.ID;
      this.inDanger = false;
      // said by lease-granted: lease-ok is for a lease that was held all along
      this.troubleSaid = false;
      this.ok(sent, ttl);
      this.backoff.reset();
      this.log.info({ event: 'lease-granted', lease: res.ID, ttl }, `etcd lease ${res.ID} granted (TTL ${ttl} s)`);
      this.ticker = setInterval(() => this.tick(), Math.min(RETRY_MS, this.keepaliveMs));
      // the stream is opened now, not at the first tick: on a busy host its setup alone can take a while
      this.tick();
      this.on.granted(res.ID);
    } catch (err) {
      this.trouble(`cannot get an etcd lease: ${(err as Error).message}`);
      this.grantTimer = setTimeout(() => detached(this.grant(), 'etcd lease grant'), this.backoff.take());
    }
  }

  /**
   * Opens a stream where there is none, and one on the next member when every stream has left a keepalive unanswered
   * for stuckMs (the older of two stuck ones goes); sends a keepalive on each when one is due.
   */
  private tick(): void {
    if (this.stopped || !this.id) return;
    const t = now();
    const stuck = this.lines.length > 0 && this.lines.every((l) => l.waited(t) > this.stuckMs);
    if (stuck && !this.opening) {
      const newest = this.lines[this.lines.length - 1];
      this.log.debug({ event: 'lease-stream-slow', lease: this.id, member: this.members.hostOf(newest.client) }, 'a keepalive waits');
      this.trouble(`${this.members.hostOf(newest.client)} did not answer a lease keepalive within ${Math.round(this.stuckMs)} ms`);
      this.members.failed(newest.client);
      // with a single member there is nowhere else to go: its stream answers when it can, or breaks
      if (this.members.client !== newest.client) {
        if (this.lines.length > 1) this.drop(this.lines[0]);
        detached(this.openLine(), 'etcd lease keepalive');
      }
    }
    if (this.lines.length === 0) {
      if (!this.opening) detached(this.openLine(), 'etcd lease keepalive');
    } else if (t - this.lastSent >= this.keepaliveMs) this.send();
  }

  private send(): void {
    this.lastSent = now();
    for (const l of this.lines) l.send(this.id!);
  }

  private async openLine(): Promise<void> {
    this.opening = true;
    let line: KeepaliveLine;
    try {
      const { stream, client } = await this.members.stream((c) => c.leaseClient.leaseKeepAlive());
      line = new KeepaliveLine(stream, client);
    } catch (err) {
      this.trouble(`cannot keep the etcd lease alive: ${(err as Error).message}`);
      return;
    } finally {
      this.opening = false;
    }
    if (this.stopped || !this.id) return line.close();
    this.lines.push(line);
    const host = this.members.hostOf(line.client);
    line.stream.on('data', (res: { TTL: unknown }) => {
      if (!this.lines.includes(line)) return;
      const sent = line.inFlight.shift();
      if (sent === undefined) return this.broken(line, `${host} answered a keepalive nobody sent`);
      let ttl: number;
      try {
        ttl = ttlOf(res.TTL, 'etcd keepalive answer TTL');
      } catch (e) {
        return this.broken(line, `${host}: ${(e as Error).message}`);
      }
      if (ttl <= 0) return this.gone();
      // this one answers: any other stream is given up
      for (const other of this.lines.filter((l) => l !== line)) this.drop(other);
      this.ok(sent, ttl);
    });
    const lost = (err?: Error) => {
      if (this.lines.includes(line)) this.broken(line, `the etcd lease keepalive stream to ${host} broke: ${err?.message ?? 'it ended'}`);
    };
    line.stream.on('error', lost);
    line.stream.on('end', () => lost());
    line.send(this.id);
  }

  /** A stream failed: its member is given up; the next tick (within RETRY_MS) opens one on the next if none is left. */
  private broken(line: KeepaliveLine, why: string): void {
    this.log.debug({ event: 'lease-stream-lost', lease: this.id, error: why }, why);
    this.trouble(why);
    this.members.failed(line.client);
    this.drop(line);
  }

  private drop(line: KeepaliveLine): void {
    this.lines = this.lines.filter((l) => l !== line);
    line.close();
  }

  /** A keepalive (or the grant) sent at `sent` was answered with `ttl`: the lease lives until sent + ttl. */
  private ok(sent: number, ttl: number): void {
    this.ttlMs = ttl * 1000;
    const t = now();
    if (this.troubleSaid) {
      // how close it came: what was left of the lease when this answer renewed it
      const had = Math.round(this.expiresAt - t);
      const silent = Math.round(t - this.answeredAt);
      this.log.info(
        { event: 'lease-ok', lease: this.id, silent_ms: silent, left_ms: had },
        `etcd answers the lease keepalives again after ${silent} ms; the lease had ${had} ms left (its holder stops at ${this.dangerMs} ms)`,
      );
    }
    this.expiresAt = Math.max(this.expiresAt, sent + this.ttlMs);
    const left = this.expiresAt - t;
    this.troubleSaid = false;
    this.answeredAt = t;
    clearTimeout(this.dangerTimer);
    clearTimeout(this.expiringTimer);
    this.dangerTimer = setTimeout(() => this.danger(), Math.max(0, left - this.dangerMs));
    this.expiringTimer = setTimeout(
      () => {
        this.log.error(
          { event: 'lease-expiring', lease: this.id },
          `etcd lease ${this.id} may expire within ${this.marginMs} ms: killing what it protects`,
        );
        this.on.expiring();
      },
      Math.max(0, left - this.marginMs),
    );
    // a late answer that leaves less than the danger threshold changes nothing: the timers just set fire at once
    if (this.inDanger && left > this.dangerMs) {
      this.inDanger = false;
      this.on.alive();
    }
  }

  private danger(): void {
    if (this.inDanger || this.stopped) return;
    this.inDanger = true;
    const silent = Math.round(now() - this.answeredAt);
    this.log.error(
      { event: 'lease-danger', lease: this.id, ttl: this.ttlMs / 1000, silent_ms: silent },
      `no etcd member answered a lease keepalive for ${silent} ms and lease ${this.id} may expire within ${this.dangerMs} ms: stopping what it protects`,
    );
    this.on.danger();
  }

  /** The server no longer knows the lease. */
  private gone(): void {
    this.log.error({ event: 'lease-lost', lease: this.id }, `etcd lease ${this.id} is gone (expired or revoked): asking for a new one`);
    this.clearTimers();
    this.dropStreams();
    this.id = null;
    this.expiresAt = 0;
    this.inDanger = true;
    this.on.lost();
    detached(this.grant(), 'etcd lease grant');
  }

  private trouble(why: string): void {
    if (!this.troubleSaid) this.log.warn({ event: 'lease-trouble', lease: this.id, error: why }, why);
    this.troubleSaid = true;
  }

  private dropStreams(): void {
    for (const l of this.lines) this.drop(l);
  }

  private clearTimers(): void {
    clearInterval(this.ticker);
    clearTimeout(this.dangerTimer);
    clearTimeout(this.expiringTimer);
    clearTimeout(this.grantTimer);
  }
}
