// One etcd lease, kept alive, with the one fact pool mode's safety rests on: when it can expire at the server.
// etcd expires a lease TTL seconds after the last keepalive it received; a keepalive is received after it was sent,
// so "sent at t and answered with TTL>0" proves the lease lives at least until t + TTL. That instant (the deadline)
// is measured on this host's monotonic clock, never the wall clock. Before it, with margin, the holder is told to
// stop what the lease protects: no partition, slow etcd or lost reply can let another emperor claim a vassal that
// still runs here.
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../log';
import { Backoff } from '../backoff';
import { deadline } from '../etcd/client';
import { detached } from '../detach';

type KeepAliveStream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>;

export interface LeaseEvents {
  /** A new lease is held (the first one, or one after `lost`): whatever was bound to an old one is gone. */
  granted(id: string): void;
  /** No keepalive answered for 60 % of the TTL: stop gracefully what the lease protects. */
  danger(): void;
  /** The lease may expire within the margin: kill it now. */
  expiring(): void;
  /** A keepalive was answered again after `danger`: the same lease (and everything bound to it) still lives. */
  alive(): void;
  /** etcd says the lease is gone (expired or revoked): everything bound to it is gone. A new one is asked for. */
  lost(): void;
}

const now = (): number => performance.now();

export class LeaseKeeper {
  id: string | null = null;
  /** Monotonic ms before which the lease cannot have expired at the server. */
  private expiresAt = 0;
  private stream?: KeepAliveStream;
  /** Send times of the keepalives in flight on this.stream, oldest first (etcd answers in order). */
  private inFlight: number[] = [];
  private tick?: NodeJS.Timeout;
  private dangerTimer?: NodeJS.Timeout;
  private expiringTimer?: NodeJS.Timeout;
  private grantTimer?: NodeJS.Timeout;
  private readonly backoff = new Backoff(100, 2000);
  private inDanger = false;
  private stopped = false;
  private troubleSaid = false;

  constructor(
    private readonly client: Etcd3,
    readonly ttlSeconds: number,
    private readonly log: Logger,
    private readonly on: LeaseEvents,
  ) {}

  /** The margin before the deadline at which what the lease protects is killed. */
  get marginMs(): number {
    return Math.min(2000, Math.max(500, this.ttlSeconds * 150));
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
    if (id) await this.client.leaseClient.leaseRevoke({ ID: id }, deadline()).catch(() => undefined);
  }

  private async grant(): Promise<void> {
    if (this.stopped) return;
    const sent = now();
    try {
      const res = await this.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds }, deadline());
      if (this.stopped) {
        await this.client.leaseClient.leaseRevoke({ ID: res.ID }, deadline()).catch(() => undefined);
        return;
      }
      this.id = res.ID;
      this.inDanger = false;
      this.ok(sent, Number(res.TTL));
      this.backoff.reset();
      this.log.info({ event: 'lease-granted', lease: res.ID, ttl: Number(res.TTL) }, `etcd lease ${res.ID} granted (TTL ${res.TTL} s)`);
      this.tick = setInterval(() => this.keepalive(), (this.ttlSeconds * 1000) / 3);
      // the stream is opened now, not at the first tick: on a busy host its setup alone can take a while
      detached(this.openStream(), 'etcd lease keepalive');
      this.on.granted(res.ID);
    } catch (err) {
      this.trouble(`cannot get an etcd lease: ${(err as Error).message}`);
      this.grantTimer = setTimeout(() => detached(this.grant(), 'etcd lease grant'), this.backoff.take());
    }
  }

  private keepalive(): void {
    if (this.stopped || !this.id) return;
    // an unanswered keepalive older than a tick: this stream is stuck (a partition); try a new one
    if (this.inFlight.length > 0 && now() - this.inFlight[0] > (this.ttlSeconds * 1000) / 3) this.dropStream();
    if (!this.stream) {
      detached(this.openStream(), 'etcd lease keepalive');
      return;
    }
    this.inFlight.push(now());
    this.stream.write({ ID: this.id });
  }

  private async openStream(): Promise<void> {
    let stream: KeepAliveStream;
    try {
      stream = await this.client.leaseClient.leaseKeepAlive();
    } catch (err) {
      this.trouble(`cannot keep the etcd lease alive: ${(err as Error).message}`);
      return;
    }
    if (this.stopped || this.stream) {
      stream.on('error', () => undefined);
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.inFlight = [];
    stream.on('data', (res: { TTL: string }) => {
      if (stream !== this.stream) return;
      const sent = this.inFlight.shift();
      if (sent === undefined) return;
      if (Number(res.TTL) <= 0) return this.gone();
      this.ok(sent, Number(res.TTL));
    });
    const broken = (err?: Error) => {
      if (stream !== this.stream) return;
      this.trouble(`the etcd lease keepalive stream broke: ${err?.message ?? 'it ended'}`);
      this.dropStream();
    };
    stream.on('error', broken);
    stream.on('end', () => broken());
    this.inFlight.push(now());
    stream.write({ ID: this.id! });
  }

  /** A keepalive (or the grant) sent at `sent` was answered: the lease lives until sent + ttl. */
  private ok(sent: number, ttl: number): void {
    if (this.troubleSaid) this.log.info({ event: 'lease-ok', lease: this.id }, 'etcd answers the lease keepalives again');
    this.troubleSaid = false;
    this.expiresAt = Math.max(this.expiresAt, sent + ttl * 1000);
    clearTimeout(this.dangerTimer);
    clearTimeout(this.expiringTimer);
    const left = this.expiresAt - now();
    this.dangerTimer = setTimeout(() => this.danger(), Math.max(0, left - ttl * 1000 * 0.4));
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
    if (this.inDanger && left > ttl * 1000 * 0.4) {
      this.inDanger = false;
      this.on.alive();
    }
  }

  private danger(): void {
    if (this.inDanger || this.stopped) return;
    this.inDanger = true;
    this.log.error(
      { event: 'lease-danger', lease: this.id, ttl: this.ttlSeconds },
      `no etcd lease keepalive answered for ${Math.round(this.ttlSeconds * 0.6 * 10) / 10} s: stopping what lease ${this.id} protects`,
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
    this.inFlight = [];
    if (!s) return;
    s.on('error', () => undefined);
    s.cancel();
  }

  private clearTimers(): void {
    clearInterval(this.tick);
    clearTimeout(this.dangerTimer);
    clearTimeout(this.expiringTimer);
    clearTimeout(this.grantTimer);
  }
}
