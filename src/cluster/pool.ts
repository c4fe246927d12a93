// Pool mode: every emperor started on the same etcd prefix shares its vassals, and each vassal runs on exactly one.
//
// The keys, under the pool root (see layout.ts), all bound to their emperor's lease:
//   nodes/<node>   = {"pid":…}  one per live emperor
//   owners/<name>  = <node>     the claim: created by a transaction that succeeds only if the key does not exist
// An emperor runs a vassal only while its claim is bound to the emperor's current lease. When the lease is in danger
// (no keepalive answered for 60 % of the TTL) it stops its vassals, and before the lease can expire it kills what is
// left (LeaseKeeper): so when etcd deletes the claims and another emperor takes them, nothing runs here any more.
//
// Fair share, by count: with V vassals and N live emperors, no emperor claims more than ceil(V / N); one that holds
// more (an emperor joined) releases the excess (stop, then delete the claim once the vassal is gone) so the newcomer
// can claim it. Which free vassal an emperor tries first is ranked by a hash of (vassal, node) (rendezvous hashing),
// so emperors starting together mostly go for different vassals.
import { createHash } from 'node:crypto';
import type { Etcd3, IKeyValue } from 'etcd3';
import type { Logger } from '../log';
import { deadline } from '../etcd/client';
import { PrefixWatch } from '../etcd/watch';
import type { Monitor, MonitorEvents, VassalSource } from '../monitors/types';
import { LeaseKeeper } from './lease';
import type { VassalTable } from './table';
import { detached } from '../detach';

/** After registering, the time given to the other emperors' node keys to arrive before the first claims. */
const SETTLE_MS = 300;

interface Owner {
  node: string;
  lease: string;
}

export class Pool {
  /** The vassals the store holds now, by name (the monitor's latest view). */
  private readonly desired = new Map<string, VassalSource>();
  private readonly owners = new Map<string, Owner>();
  private readonly nodes = new Set<string>();
  /** Names handed to the emperor: 'up' while it runs them, 'releasing' until their vassal is gone. */
  private readonly running = new Map<string, 'up' | 'releasing'>();
  private readonly claiming = new Set<string>();
  private events: MonitorEvents | null = null;
  /** True while the lease is not known to be safe: nothing is claimed or started. */
  private suspended = true;
  private registered = false;
  private claimsFrom = Infinity;
  private scheduled = false;
  private stopped = false;
  private readonly watch: PrefixWatch;
  private troubleSaid = false;

  constructor(
    private readonly client: Etcd3,
    /** The pool root: nodes/ and owners/ live under it. */
    private readonly root: string,
    readonly node: string,
    private readonly lease: LeaseKeeper,
    private readonly table: VassalTable,
    private readonly log: Logger,
  ) {
    this.watch = new PrefixWatch(
      client,
      Buffer.from(root),
      log,
      {
        sync: (kvs) => {
          this.owners.clear();
          this.nodes.clear();
          for (const kv of kvs) this.put(kv);
          this.schedule();
        },
        put: (kv) => (this.put(kv), this.schedule()),
        delete: (kv) => (this.del(kv), this.schedule()),
        trouble: (why) => this.trouble(why),
        ok: () => (this.troubleSaid = false),
      },
      60,
    );
  }

  /** The lease events that concern the pool (the keeper is shared with the endpoint publisher). */
  readonly leaseEvents = {
    granted: () => detached(this.register(), 'pool registration'),
    danger: () => {
      this.suspended = true;
      for (const name of [...this.running.keys()]) this.release(name, false);
    },
    expiring: () => {
      for (const name of this.running.keys()) {
        const src = this.desired.get(name) ?? this.forwarded.get(name);
        if (src) this.table.killNow(src);
      }
    },
    alive: () => {
      this.suspended = !this.registered;
      this.schedule();
    },
    lost: () => {
      this.suspended = true;
      this.registered = false;
      for (const name of [...this.running.keys()]) {
        const src = this.forwarded.get(name);
        if (src) this.table.killNow(src);
        this.release(name, false);
      }
    },
  };

  /** The source last handed to the emperor per name (what it keys the vassal by). */
  private readonly forwarded = new Map<string, VassalSource>();

  /** The monitor as the emperor sees it: only the vassals this emperor holds a claim on. */
  wrap(inner: Monitor): Monitor {
    return {
      id: inner.id,
      get errors() {
        return inner.errors;
      },
      start: (events) => {
        this.events = events;
        this.watch.start();
        inner.start({
          add: (src) => (this.desired.set(src.name, src), this.schedule()),
          change: (src) => {
            this.desired.set(src.name, src);
            if (this.running.get(src.name) === 'up') {
              this.forwarded.set(src.name, src);
              events.change(src);
            }
          },
          remove: (src) => (this.desired.delete(src.name), this.schedule()),
        });
      },
      rescan: () => inner.rescan(),
      stop: () => {
        this.stopped = true;
        this.events = null;
        this.watch.stop();
        inner.stop();
      },
    };
  }

  /** Every vassal of the pool and the node that runs it ('' while nobody does). */
  placement(): Array<{ vassal: string; owner: string }> {
    return [...this.desired.keys()].sort().map((vassal) => ({ vassal, owner: this.owners.get(vassal)?.node ?? '' }));
  }

  ownerOf(name: string): string {
    return this.owners.get(name)?.node ?? '';
  }

  private nodeKey(node: string): string {
    return `${this.root}nodes/${node}`;
  }

  private ownerKey(name: string): string {
    return `${this.root}owners/${name}`;
  }

  private put(kv: IKeyValue): void {
    const rest = kv.key.toString('utf8').slice(this.root.length);
    if (rest.startsWith('nodes/')) this.nodes.add(rest.slice(6));
    else if (rest.startsWith('owners/')) this.owners.set(rest.slice(7), { node: kv.value.toString('utf8'), lease: String(kv.lease) });
  }

  private del(kv: IKeyValue): void {
    const rest = kv.key.toString('utf8').slice(this.root.length);
    if (rest.startsWith('nodes/')) this.nodes.delete(rest.slice(6));
    else if (rest.startsWith('owners/')) this.owners.delete(rest.slice(7));
  }

  /** Registers this node under the (new) lease; a node name held by another live emperor is refused until it goes. */
  private async register(): Promise<void> {
    const id = this.lease.id;
    if (!id || this.stopped) return;
    const key = Buffer.from(this.nodeKey(this.node));
    try {
      const res = await this.client.kv.txn(
        {
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key, value: Buffer.from(JSON.stringify({ pid: process.pid })), lease: id } }],
          failure: [{ request_range: { key } }],
        },
        deadline(),
      );
      if (!res.succeeded) {
        const holder = res.responses[0]?.response_range?.kvs[0];
        if (!holder || String(holder.lease) !== id) {
          this.log.warn(
            { event: 'node-taken', node: this.node },
            `node "${this.node}" is registered under another lease (this emperor's previous run, or another emperor with the same --emperor-node): waiting for that lease to end`,
          );
          setTimeout(() => detached(this.register(), 'pool registration'), this.lease.ttlSeconds * 1000);
          return;
        }
      }
    } catch (err) {
      this.trouble(`cannot register node ${this.node}: ${(err as Error).message}`);
      setTimeout(() => detached(this.register(), 'pool registration'), 1000);
      return;
    }
    if (this.lease.id !== id) return;
    this.nodes.add(this.node);
    this.registered = true;
    this.suspended = false;
    this.claimsFrom = Date.now() + SETTLE_MS;
    setTimeout(() => this.schedule(), SETTLE_MS);
    this.log.info({ event: 'pool-joined', node: this.node, lease: id }, `joined the pool as node ${this.node}`);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  /** Brings what runs here in line with the claims, then claims or releases toward the fair share. */
  private reconcile(): void {
    if (this.stopped || !this.events) return;
    const id = this.lease.id;
    const mine = new Set<string>();
    for (const [name, o] of this.owners) if (id && o.lease === id) mine.add(name);
    for (const [name, state] of this.running) {
      if (state === 'up' && (this.suspended || !mine.has(name) || !this.desired.has(name)))
        this.release(name, this.desired.has(name) ? false : true);
    }
    if (this.suspended) return;
    for (const name of mine) {
      const src = this.desired.get(name);
      if (src && !this.running.has(name)) {
        this.running.set(name, 'up');
        this.forwarded.set(name, src);
        this.events.add(src);
      } else if (!src && !this.running.has(name)) {
        detached(this.unclaim(name), 'pool unclaim');
      }
    }
    const share = Math.ceil(this.desired.size / Math.max(1, this.nodes.size));
    const held = [...mine].filter((n) => this.desired.has(n));
    this.log.debug(
      {
        event: 'pool-reconcile',
        vassals: this.desired.size,
        nodes: this.nodes.size,
        share,
        held: held.length,
        claiming: this.claiming.size,
      },
      'pool reconcile',
    );
    if (held.length > share) {
      // the ones this node ranks lowest go first
      const excess = held.sort((a, b) => this.rank(a) - this.rank(b)).slice(0, held.length - share);
      for (const name of excess) {
        if (this.running.get(name) === 'up') this.release(name, true);
      }
      return;
    }
    if (Date.now() < this.claimsFrom) return;
    const room = share - held.length - this.claiming.size;
    if (room <= 0) return;
    const free = [...this.desired.keys()].filter((n) => !this.owners.has(n) && !this.claiming.has(n));
    free.sort((a, b) => this.rank(b) - this.rank(a));
    for (const name of free.slice(0, room)) detached(this.claim(name, id!), 'pool claim');
  }

  /** Rendezvous weight of a vassal for this node. */
  private rank(name: string): number {
    return createHash('sha256').update(`${name}\0${this.node}`).digest().readUInt32BE(0);
  }

  private async claim(name: string, id: string): Promise<void> {
    this.claiming.add(name);
    const key = Buffer.from(this.ownerKey(name));
    try {
      const res = await this.client.kv.txn(
        {
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key, value: Buffer.from(this.node), lease: id } }],
          failure: [],
        },
        deadline(),
      );
      // learned before the watch says it, so the share is counted right at once
      if (res.succeeded && !this.owners.has(name) && this.lease.id === id) this.owners.set(name, { node: this.node, lease: id });
    } catch (err) {
      this.trouble(`cannot claim ${name}: ${(err as Error).message}`);
    } finally {
      this.claiming.delete(name);
      this.schedule();
    }
  }

  /** Deletes this node's claim on `name`, only if it is still bound to this node's lease. */
  private async unclaim(name: string): Promise<void> {
    const id = this.lease.id;
    if (!id) return;
    const key = Buffer.from(this.ownerKey(name));
    try {
      const res = await this.client.kv.txn(
        {
          compare: [{ key, target: 'Lease', result: 'Equal', lease: id }],
          success: [{ request_delete_range: { key } }],
          failure: [],
        },
        deadline(),
      );
      // learned before the watch says it: the next reconcile must not start it here again
      if (res.succeeded && this.owners.get(name)?.lease === id) this.owners.delete(name);
    } catch (err) {
      this.trouble(`cannot release ${name}: ${(err as Error).message}`);
    }
  }

  /** Stops the vassal here; once it is gone, its claim is deleted (dropClaim) so another node may take it. */
  private release(name: string, dropClaim: boolean): void {
    const src = this.forwarded.get(name);
    if (!src || this.running.get(name) === 'releasing') return;
    this.running.set(name, 'releasing');
    this.events?.remove(src);
    detached(
      this.table.whenGone(src).then(async () => {
        if (dropClaim && !this.stopped) await this.unclaim(name);
        this.running.delete(name);
        this.forwarded.delete(name);
        this.schedule();
      }),
      'pool release',
    );
  }

  private trouble(why: string): void {
    if (!this.troubleSaid) this.log.warn({ event: 'pool-trouble', error: why }, why);
    this.troubleSaid = true;
  }
}
