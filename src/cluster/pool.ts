// Pool mode: every emperor started on the same etcd prefix shares its vassals, and each vassal runs on exactly one.
//
// The keys, under the pool root (src/cluster/index.ts), all bound to their emperor's lease:
//   nodes/<node>   = {"pid":…}  one per live emperor; {"pid":…,"draining":true} while it hands its vassals over
//   owners/<name>  = <node>     the claim: created by a transaction that succeeds only if the key does not exist
//   running/<name> = <node>     while the vassal runs there (written under the claim): what a draining node waits for
// An emperor runs a vassal only while its claim is bound to the emperor's current lease. When the lease may expire
// before etcd can answer (LeaseKeeper) it stops its vassals, and before the lease can expire it kills what is left:
// so when etcd deletes the claims and another emperor takes them, nothing runs here any more.
//
// Fair share, by count: with V vassals and N live emperors that are not draining, no emperor claims more than
// ceil(V / N); one that holds more (an emperor joined) releases the excess (stop, then delete the claim once the
// vassal is gone) so the newcomer can claim it. Which free vassal an emperor tries first is ranked by a hash of
// (vassal, node) (rendezvous hashing), so emperors starting together mostly go for different vassals.
//
// Drain (`emperor drain`): the node says it is draining (the others raise their share), then hands its vassals over
// one at a time: stop, delete the claim, wait until another node has claimed it and says it runs it, then the next.
// A draining node claims nothing until `emperor resume-pool`.
import { createHash } from 'node:crypto';
import type { IKeyValue, ITxnRequest } from 'etcd3';
import type { Logger } from '../log';
import { boolean, integer, object, optional, parseJson } from '../check';
import { deadline } from '../etcd/client';
import type { EtcdMembers } from '../etcd/members';
import { PrefixWatch } from '../etcd/watch';
import type { Monitor, MonitorEvents, VassalSource } from '../monitors/types';
import type { PoolErrorCode } from '../ops/control-wire';
import type { LeaseKeeper } from './lease';
import type { VassalTable } from './table';
import { WriteChains } from './write-chains';
import { detached } from '../detach';

/** After registering, the time given to the other emperors' node keys to arrive before the first claims. */
const SETTLE_MS = 300;
/** A drained vassal must run on another node within this long after it stopped here, or the drain stops. */
export const HANDOFF_MS = 60_000;
/** `resume-pool` waits this long at most for the node to run its share again. */
const RESUME_MS = 30_000;

/** Why a drain or a resume was refused or stopped. */
export class PoolError extends Error {
  constructor(
    readonly code: PoolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PoolError';
  }
}

/** A node key's value, as another emperor of the pool wrote it (newer emperors may add fields). */
const nodeValue = object({ pid: integer(1), draining: optional(boolean) }, { extra: 'ignore' });

interface Owner {
  node: string;
  lease: string;
}

export class Pool {
  /** The vassals the store holds now, by name (the monitor's latest view). */
  private readonly desired = new Map<string, VassalSource>();
  private readonly owners = new Map<string, Owner>();
  /** Where each vassal says it runs (running/<name>). */
  private readonly runningOn = new Map<string, Owner>();
  /** Every live node, and whether it is draining. */
  private readonly nodes = new Map<string, { draining: boolean }>();
  /** Names handed to the emperor: 'up' while it runs them, 'releasing' until their vassal is gone. */
  private readonly handed = new Map<string, 'up' | 'releasing'>();
  /** The releases under way, done once the vassal is gone (and its claim deleted when asked). */
  private readonly releases = new Map<string, Promise<void>>();
  private readonly claiming = new Set<string>();
  /** Checked after every change seen: what a drain or a resume waits for. */
  private readonly waiters = new Set<() => void>();
  private readonly writes = new WriteChains('pool running key');
  private events: MonitorEvents | null = null;
  /** True while the lease is not known to be safe: nothing is claimed or started. */
  private suspended = true;
  private registered = false;
  /** This node hands its vassals over and claims nothing (emperor drain, until emperor resume-pool). */
  private draining = false;
  private drainRun?: Promise<number>;
  private claimsFrom = Infinity;
  private scheduled = false;
  private stopped = false;
  private readonly watch: PrefixWatch;
  private troubleSaid = false;
  private readonly badNodesSaid = new Set<string>();

  constructor(
    private readonly members: EtcdMembers,
    /** The pool root: nodes/, owners/ and running/ live under it. */
    private readonly root: string,
    readonly node: string,
    private readonly lease: LeaseKeeper,
    private readonly table: VassalTable,
    private readonly log: Logger,
  ) {
    this.watch = new PrefixWatch(
      members,
      Buffer.from(root),
      log,
      {
        sync: (kvs) => {
          this.owners.clear();
          this.runningOn.clear();
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
      for (const name of [...this.handed.keys()]) this.release(name, false);
    },
    expiring: () => {
      for (const name of this.handed.keys()) {
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
      for (const name of [...this.handed.keys()]) {
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
            if (this.handed.get(src.name) === 'up') {
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
        for (const w of [...this.waiters]) w();
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

  /** A vassal of this pool runs here now: said under the claim, for a draining node to see. */
  vassalRunning(name: string): void {
    const id = this.lease.id;
    if (!id || this.handed.get(name) !== 'up') return;
    const owner = Buffer.from(this.ownerKey(name));
    const key = Buffer.from(this.runningKey(name));
    this.writes.run(name, () =>
      this.write(`say ${name} runs here`, {
        compare: [{ key: owner, target: 'Lease', result: 'Equal', lease: id }],
        success: [{ request_put: { key, value: Buffer.from(this.node), lease: id } }],
        failure: [],
      }).then(() => undefined),
    );
  }

  /** A vassal of this pool stopped here (for good, or to start again). */
  vassalEnded(name: string): void {
    const id = this.lease.id;
    if (!id) return;
    const key = Buffer.from(this.runningKey(name));
    this.writes.run(name, () =>
      this.write(`say ${name} stopped here`, {
        compare: [{ key, target: 'Lease', result: 'Equal', lease: id }],
        success: [{ request_delete_range: { key } }],
        failure: [],
      }).then(() => undefined),
    );
  }

  /**
   * Hands every vassal of this node over to the others, one at a time; calls `moved` after each, with where it is now
   * ('running on node2'). Resolves with how many were handed over.
   */
  drain(moved: (vassal: string, where: string) => void): Promise<number> {
    if (this.drainRun) return Promise.reject(new PoolError('EBUSY', `node ${this.node} is draining already`));
    if (!this.registered || this.suspended)
      return Promise.reject(
        new PoolError('EAGAIN', `node ${this.node} is not in the pool now (its etcd lease is being renewed or granted): try again`),
      );
    const others = [...this.nodes].filter(([n, info]) => n !== this.node && !info.draining).map(([n]) => n);
    if (others.length === 0)
      return Promise.reject(
        new PoolError('ENONODE', `no other node of the pool takes vassals: draining ${this.node} would stop its vassals for good`),
      );
    this.draining = true;
    this.log.info({ event: 'drain', node: this.node, others }, `draining node ${this.node}: its vassals go to ${others.join(', ')}`);
    const run = this.handOverAll(moved).finally(() => (this.drainRun = undefined));
    this.drainRun = run;
    return run;
  }

  /** Ends a drain: this node claims its share again (the others hand the excess over). */
  async resume(): Promise<{ runs: number; vassals: number }> {
    const was = this.draining;
    this.draining = false;
    if (was) this.log.info({ event: 'resume-pool', node: this.node }, `node ${this.node} takes vassals again`);
    if (this.registered) await this.announce();
    this.schedule();
    await this.waitFor(() => this.balanced(), RESUME_MS);
    return { runs: this.heldHere(), vassals: this.desired.size };
  }

  get isDraining(): boolean {
    return this.draining;
  }

  private async handOverAll(moved: (vassal: string, where: string) => void): Promise<number> {
    try {
      await this.announce();
    } catch (e) {
      this.draining = false;
      throw e;
    }
    let count = 0;
    for (;;) {
      if (!this.draining || this.stopped) return count;
      // the ones this node ranks lowest go first, as an excess does
      const name = [...this.handed]
        .filter(([, state]) => state === 'up')
        .map(([n]) => n)
        .sort((a, b) => this.rank(a) - this.rank(b))[0];
      if (name === undefined) break;
      const wasRunning = this.table.isRunning(this.forwarded.get(name)!);
      this.release(name, true);
      await this.releases.get(name);
      if (!wasRunning) {
        moved(name, 'released (it was not running here)');
        continue;
      }
      const elsewhere = await this.waitFor(() => !this.desired.has(name) || this.runsElsewhere(name), HANDOFF_MS);
      // the emperor is shutting down: nothing more to hand over
      if (this.stopped) return count;
      if (!elsewhere) {
        const left = [...this.handed.values()].filter((s) => s === 'up').length;
        throw new PoolError(
          'ETIMEDOUT',
          `${name} does not run on another node ${HANDOFF_MS / 1000} s after it stopped here: the drain stops, ${left} vassals still run here`,
        );
      }
      moved(name, this.desired.has(name) ? `running on ${this.owners.get(name)!.node}` : 'released (gone from the store)');
      count++;
    }
    // a claim made just before the drain is given back by reconcile
    await this.waitFor(() => this.heldHere() === 0, HANDOFF_MS);
    this.log.info({ event: 'drained', node: this.node, moved: count }, `node ${this.node} is drained (${count} vassals handed over)`);
    return count;
  }

  private runsElsewhere(name: string): boolean {
    const owner = this.owners.get(name);
    const on = this.runningOn.get(name);
    return !!owner && owner.node !== this.node && !!on && on.node === owner.node && on.lease === owner.lease;
  }

  /** The vassals this node holds a claim on. */
  private heldHere(): number {
    const id = this.lease.id;
    return [...this.owners.values()].filter((o) => id && o.lease === id).length;
  }

  /** Every vassal has a node, and no node that takes vassals holds more than its share (the others handed it over). */
  private balanced(): boolean {
    const share = this.share();
    const held = new Map<string, number>();
    for (const [name, o] of this.owners) if (this.desired.has(name)) held.set(o.node, (held.get(o.node) ?? 0) + 1);
    return (
      [...this.desired.keys()].every((n) => this.owners.has(n)) &&
      [...held].every(([node, n]) => n <= share || this.nodes.get(node)?.draining === true)
    );
  }

  /** The most vassals a node that is not draining claims. */
  private share(): number {
    const active = [...this.nodes.values()].filter((n) => !n.draining).length;
    return Math.ceil(this.desired.size / Math.max(1, active));
  }

  /** Resolves true once pred() holds (checked after every change seen), false after ms or when the pool stops. */
  private waitFor(pred: () => boolean, ms: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.stopped && !pred()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(!this.stopped);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, ms);
      this.waiters.add(check);
    });
  }

  private nodeKey(node: string): string {
    return `${this.root}nodes/${node}`;
  }

  private ownerKey(name: string): string {
    return `${this.root}owners/${name}`;
  }

  private runningKey(name: string): string {
    return `${this.root}running/${name}`;
  }

  private put(kv: IKeyValue): void {
    const rest = kv.key.toString('utf8').slice(this.root.length);
    const owner = (): Owner => ({ node: kv.value.toString('utf8'), lease: String(kv.lease) });
    if (rest.startsWith('nodes/')) this.nodes.set(rest.slice(6), { draining: this.drainingOf(rest.slice(6), kv.value) });
    else if (rest.startsWith('owners/')) this.owners.set(rest.slice(7), owner());
    else if (rest.startsWith('running/')) this.runningOn.set(rest.slice(8), owner());
  }

  /** Whether a node key says its node is draining; a value that does not check counts as a node that is not. */
  private drainingOf(node: string, value: Buffer): boolean {
    try {
      return parseJson(nodeValue, value.toString('utf8'), `etcd key ${this.nodeKey(node)}`).draining === true;
    } catch (e) {
      if (!this.badNodesSaid.has(node)) this.log.warn({ event: 'pool-bad-node', node, error: (e as Error).message }, (e as Error).message);
      this.badNodesSaid.add(node);
      return false;
    }
  }

  private del(kv: IKeyValue): void {
    const rest = kv.key.toString('utf8').slice(this.root.length);
    if (rest.startsWith('nodes/')) this.nodes.delete(rest.slice(6));
    else if (rest.startsWith('owners/')) this.owners.delete(rest.slice(7));
    else if (rest.startsWith('running/')) this.runningOn.delete(rest.slice(8));
  }

  private nodeValue(): Buffer {
    return Buffer.from(JSON.stringify(this.draining ? { pid: process.pid, draining: true } : { pid: process.pid }));
  }

  /** Registers this node under the (new) lease; a node name held by another live emperor is refused until it goes. */
  private async register(): Promise<void> {
    const id = this.lease.id;
    if (!id || this.stopped) return;
    const key = Buffer.from(this.nodeKey(this.node));
    try {
      const res = await this.members.call((c) =>
        c.kv.txn(
          {
            compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
            success: [{ request_put: { key, value: this.nodeValue(), lease: id } }],
            failure: [{ request_range: { key } }],
          },
          deadline(),
        ),
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
    this.nodes.set(this.node, { draining: this.draining });
    this.registered = true;
    this.suspended = false;
    this.claimsFrom = Date.now() + SETTLE_MS;
    setTimeout(() => this.schedule(), SETTLE_MS);
    this.log.info({ event: 'pool-joined', node: this.node, lease: id }, `joined the pool as node ${this.node}`);
    this.schedule();
  }

  /** Writes this node's key again (draining or not), under the lease it is registered with. */
  private async announce(): Promise<void> {
    const id = this.lease.id;
    const key = Buffer.from(this.nodeKey(this.node));
    const ok =
      id !== null &&
      (await this.write(`announce node ${this.node}`, {
        compare: [{ key, target: 'Lease', result: 'Equal', lease: id }],
        success: [{ request_put: { key, value: this.nodeValue(), lease: id } }],
        failure: [],
      }));
    if (!ok)
      throw new PoolError('EAGAIN', `cannot say in etcd that node ${this.node} is ${this.draining ? 'draining' : 'back'}: try again`);
    this.nodes.set(this.node, { draining: this.draining });
  }

  /** One transaction; true when it succeeded, false when its comparison failed or etcd did not answer (said once). */
  private async write(what: string, txn: ITxnRequest): Promise<boolean> {
    try {
      return (await this.members.call((c) => c.kv.txn(txn, deadline()))).succeeded;
    } catch (err) {
      this.trouble(`cannot ${what}: ${(err as Error).message}`);
      return false;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.reconcile();
      for (const w of [...this.waiters]) w();
    });
  }

  /** Brings what runs here in line with the claims, then claims or releases toward the fair share. */
  private reconcile(): void {
    if (this.stopped || !this.events) return;
    const id = this.lease.id;
    const mine = new Set<string>();
    for (const [name, o] of this.owners) if (id && o.lease === id) mine.add(name);
    for (const [name, state] of this.handed) {
      if (state === 'up' && (this.suspended || !mine.has(name) || !this.desired.has(name)))
        this.release(name, this.desired.has(name) ? false : true);
    }
    if (this.suspended) return;
    for (const name of mine) {
      const src = this.desired.get(name);
      if (this.handed.has(name)) continue;
      // a draining node starts nothing: a claim it made just before the drain is given back
      if (src && !this.draining) {
        this.handed.set(name, 'up');
        this.forwarded.set(name, src);
        this.events.add(src);
      } else detached(this.unclaim(name), 'pool unclaim');
    }
    // a draining node hands its vassals over one at a time (handOverAll), and claims nothing
    if (this.draining) return;
    const share = this.share();
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
        if (this.handed.get(name) === 'up') this.release(name, true);
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
      const claimed = await this.write(`claim ${name}`, {
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from(this.node), lease: id } }],
        failure: [],
      });
      // learned before the watch says it, so the share is counted right at once
      if (claimed && !this.owners.has(name) && this.lease.id === id) this.owners.set(name, { node: this.node, lease: id });
    } finally {
      this.claiming.delete(name);
      this.schedule();
    }
  }

  /** Deletes this node's claim on `name` (and its running key), only if the claim is still bound to this node's lease. */
  private async unclaim(name: string): Promise<void> {
    const id = this.lease.id;
    if (!id) return;
    const key = Buffer.from(this.ownerKey(name));
    const released = await this.write(`release ${name}`, {
      compare: [{ key, target: 'Lease', result: 'Equal', lease: id }],
      success: [{ request_delete_range: { key } }, { request_delete_range: { key: Buffer.from(this.runningKey(name)) } }],
      failure: [],
    });
    // learned before the watch says it: the next reconcile must not start it here again
    if (released && this.owners.get(name)?.lease === id) this.owners.delete(name);
  }

  /** Stops the vassal here; once it is gone, its claim is deleted (dropClaim) so another node may take it. */
  private release(name: string, dropClaim: boolean): void {
    const src = this.forwarded.get(name);
    if (!src || this.handed.get(name) === 'releasing') return;
    this.handed.set(name, 'releasing');
    this.events?.remove(src);
    const done = this.table.whenGone(src).then(async () => {
      if (dropClaim && !this.stopped) await this.unclaim(name);
      this.handed.delete(name);
      this.forwarded.delete(name);
      this.releases.delete(name);
      this.schedule();
    });
    this.releases.set(name, done);
    detached(done, 'pool release');
  }

  private trouble(why: string): void {
    if (!this.troubleSaid) this.log.warn({ event: 'pool-trouble', error: why }, why);
    this.troubleSaid = true;
  }
}
