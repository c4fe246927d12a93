// One etcd lease, kept alive, with the one fact pool mode's safety rests on: when it can expire at the server.
// etcd renews a lease to its full TTL on every keepalive it answers (the TTL in the answer is the granted one, which
// etcd may have raised to its minimum); a keepalive is received after it was sent, so "sent at t and answered with
// TTL>0" proves the lease lives at least until t + TTL. That instant (the deadline) is measured on this host's
// monotonic clock, never the wall clock. etcd itself gives a lease its full TTL again whenever a leader takes over (a
// restart, a leader change), so a store that was away for a while has not cost the lease anything: only etcd's
// answer tells how much time is left, never the time since the last one.
//
// So the keeper talks often and comes back fast: a keepalive every KEEPALIVE_MS (a few per TTL), a stream that broke
// is opened again within RETRY_MS (on the next member, src/etcd/members.ts), and a keepalive left unanswered for
// stuckMs gives its member up (a member stopped or partitioned closes nothing). Only when the deadline comes near
// does the holder hear of it: dangerMs before it, stop gracefully what the lease protects; marginMs before it, kill
// what is left. A lease etcd says is gone (TTL 0 on a keepalive) is lost at once.
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
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const ttlOf = (v: unknown, what: string): number => integer(-1, 1e9)(Number(v), what);

export class LeaseKeeper {
  id: string | null = null;
  /** The TTL etcd granted, in ms (the one asked for until it answers). */
  private ttlMs: number;
  /** Monotonic ms before which the lease cannot have expired at the server. */
  private expiresAt = 0;
  private stream?: KeepAliveStream;
  /** The member this.stream is on. */
  private streamClient?: Etcd3;
  private opening = false;
  /** Send times of the keepalives in flight on this.stream, oldest first (etcd answers in order). */
  private inFlight: number[] = [];
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

  /** A keepalive unanswered for this long: its member is given up. */
  get stuckMs(): number {
    return Math.max(750, 2 * this.keepaliveMs);
  }

  start(): void {
    detached(this.grant(), 'etcd lease grant');
  }

  /** Revokes the lease (everything bound to it vanishes at once) and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.dropStream();
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

  /** Gives up a stuck stream, opens one where there is none, and sends a keepalive when one is due. */
  private tick(): void {
    if (this.stopped || !this.id) return;
    const t = now();
    if (this.stream && this.inFlight.length > 0 && t - this.inFlight[0] > this.stuckMs) {
      this.broken(`${this.members.hostOf(this.streamClient!)} did not answer a lease keepalive within ${Math.round(this.stuckMs)} ms`);
    }
    if (this.stream) {
      if (t - this.lastSent >= this.keepaliveMs) this.send();
    } else if (!this.opening) detached(this.openStream(), 'etcd lease keepalive');
  }

  private send(): void {
    this.lastSent = now();
    this.inFlight.push(this.lastSent);
    this.stream!.write({ ID: this.id! });
  }

  private async openStream(): Promise<void> {
    this.opening = true;
    let stream: KeepAliveStream;
    let client: Etcd3;
    try {
      ({ stream, client } = await this.members.stream((c) => c.leaseClient.leaseKeepAlive()));
    } catch (err) {
      this.trouble(`cannot keep the etcd lease alive: ${(err as Error).message}`);
      return;
    } finally {
      this.opening = false;
    }
    if (this.stopped || this.stream || !this.id) {
      stream.on('error', () => undefined);
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.streamClient = client;
    this.inFlight = [];
    stream.on('data', (res: { TTL: unknown }) => {
      if (stream !== this.stream) return;
      const sent = this.inFlight.shift();
      if (sent === undefined) return this.broken(`${this.members.hostOf(client)} answered a keepalive nobody sent`);
      let ttl: number;
      try {
        ttl = ttlOf(res.TTL, 'etcd keepalive answer TTL');
      } catch (e) {
        return this.broken(`${this.members.hostOf(client)}: ${(e as Error).message}`);
      }
      if (ttl <= 0) return this.gone();
      this.ok(sent, ttl);
    });
    const lost = (err?: Error) => {
      if (stream === this.stream)
        this.broken(`the etcd lease keepalive stream to ${this.members.hostOf(client)} broke: ${err?.message ?? 'it ended'}`);
    };
    stream.on('error', lost);
    stream.on('end', () => lost());
    this.send();
  }

  /** The stream in use failed: its member is given up; the next tick (within RETRY_MS) opens one on the next. */
  private broken(why: string): void {
    this.trouble(why);
    if (this.streamClient) this.members.failed(this.streamClient);
    this.dropStream();
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
    this.dropStream();
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

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    this.streamClient = undefined;
    this.inFlight = [];
    if (!s) return;
    s.on('error', () => undefined);
    s.cancel();
  }

  private clearTimers(): void {
    clearInterval(this.ticker);
    clearTimeout(this.dangerTimer);
    clearTimeout(this.expiringTimer);
    clearTimeout(this.grantTimer);
  }
}
