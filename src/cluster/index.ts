// What the emperor does beyond its own host, per etcd:// monitor: a lease, pool mode (the monitor's vassals shared
// with every emperor on the same prefix) and endpoint publishing, both bound to that lease.
//
// Key layout, for the monitor etcd://…/PREFIX (the emperor's own keys sit beside the vassals, not under them):
//   PREFIX<name>                                   the vassal configs (written by the operator)
//   <PREFIX without its trailing '/'>.emperor/pool/nodes/<node>
//   <PREFIX without its trailing '/'>.emperor/pool/owners/<name>
//   <PREFIX without its trailing '/'>.emperor/pool/running/<name>
//   <PREFIX without its trailing '/'>.emperor/endpoints/<name>/<node>/<i>
import * as os from 'node:os';
import type { ResolvedConfig } from '../config/types';
import { logger, type Logger } from '../log';
import { EtcdMembers } from '../etcd/members';
import { parseEtcdSpec } from '../monitors/etcd-monitor';
import type { Monitor, VassalSource } from '../monitors/types';
import { EndpointPublisher, defaultAdvertise } from './endpoints';
import { LeaseKeeper } from './lease';
import { Pool, PoolError } from './pool';
import type { VassalTable } from './table';

export type { VassalTable } from './table';

export interface ClusterOptions {
  pool: boolean;
  /** This emperor's name in the pool and in endpoint keys. */
  node?: string;
  ttlSeconds: number;
  traefikRoot?: string;
  advertise?: string;
}

/** The root of the emperor's own keys for a vassal prefix. */
export function emperorRoot(prefix: string): string {
  return `${prefix.replace(/\/$/, '')}.emperor/`;
}

class EtcdSite {
  private readonly members: EtcdMembers;
  private readonly lease: LeaseKeeper;
  readonly pool?: Pool;
  private readonly publisher: EndpointPublisher;

  constructor(
    readonly spec: string,
    node: string,
    opts: ClusterOptions,
    table: VassalTable,
    log: Logger,
  ) {
    const { hosts, prefix } = parseEtcdSpec(spec);
    this.members = new EtcdMembers(hosts);
    const root = emperorRoot(prefix);
    let pool: Pool | undefined;
    this.lease = new LeaseKeeper(this.members, opts.ttlSeconds, log, {
      granted: () => {
        this.publisher.republish();
        pool?.leaseEvents.granted();
      },
      danger: () => pool?.leaseEvents.danger(),
      expiring: () => pool?.leaseEvents.expiring(),
      alive: () => pool?.leaseEvents.alive(),
      lost: () => pool?.leaseEvents.lost(),
    });
    if (opts.pool) pool = this.pool = new Pool(this.members, `${root}pool/`, node, this.lease, table, log);
    this.publisher = new EndpointPublisher(
      this.members,
      root,
      node,
      () => this.lease.id,
      opts.advertise ?? defaultAdvertise(),
      opts.traefikRoot,
      log,
    );
    this.lease.start();
  }

  started(src: VassalSource, config: ResolvedConfig): void {
    this.publisher.started(src, config);
  }

  running(src: VassalSource): void {
    this.pool?.vassalRunning(src.name);
  }

  ended(src: VassalSource): void {
    this.publisher.ended(src);
    this.pool?.vassalEnded(src.name);
  }

  async close(): Promise<void> {
    await this.lease.stop();
    this.members.close();
  }
}

export class Cluster {
  readonly node: string;
  private readonly sites = new Map<string, EtcdSite>();
  private readonly log = logger().child({ component: 'cluster' });

  constructor(
    private readonly opts: ClusterOptions,
    private readonly table: VassalTable,
  ) {
    this.node = opts.node || os.hostname();
  }

  /** The monitor the emperor runs: an etcd:// one gets its site (lease, endpoints) and, in pool mode, its pool. */
  monitor(m: Monitor): Monitor {
    if (!/^etcd:\/\//i.test(m.id)) return m;
    const site = new EtcdSite(m.id, this.node, this.opts, this.table, this.log.child({ monitor: m.id }));
    this.sites.set(m.id, site);
    return site.pool ? site.pool.wrap(m) : m;
  }

  started(src: VassalSource, config: ResolvedConfig): void {
    this.sites.get(src.monitor)?.started(src, config);
  }

  /** Whether a vassal of this source has its sockets published (its config is worth reading on a reload). */
  publishes(src: VassalSource): boolean {
    return this.sites.has(src.monitor);
  }

  /** The vassal of this source is up. */
  running(src: VassalSource): void {
    this.sites.get(src.monitor)?.running(src);
  }

  ended(src: VassalSource): void {
    this.sites.get(src.monitor)?.ended(src);
  }

  /**
   * `emperor drain`: every pool of this emperor hands its vassals over to the other nodes, one vassal at a time,
   * then claims nothing until resume(). `moved` hears of each vassal handed over. Resolves with how many were.
   */
  async drain(moved: (vassal: string, where: string) => void): Promise<number> {
    const pools = this.pools();
    let count = 0;
    for (const p of pools) count += await p.drain(moved);
    return count;
  }

  /** `emperor resume-pool`: every pool claims its share again; resolves with what this node runs then, of how many. */
  async resume(): Promise<{ runs: number; vassals: number }> {
    const all = await Promise.all(this.pools().map((p) => p.resume()));
    return all.reduce((a, b) => ({ runs: a.runs + b.runs, vassals: a.vassals + b.vassals }), { runs: 0, vassals: 0 });
  }

  get draining(): boolean {
    return this.pools().some((p) => p.isDraining);
  }

  private pools(): Pool[] {
    const pools = [...this.sites.values()].flatMap((s) => (s.pool ? [s.pool] : []));
    if (pools.length === 0) throw new PoolError('ENOPOOL', 'this emperor is not in pool mode (--emperor-etcd-pool with an etcd:// source)');
    return pools;
  }

  /** The node running a pool vassal ('' outside pool mode). */
  ownerOf(src: VassalSource): string {
    return this.sites.get(src.monitor)?.pool?.ownerOf(src.name) ?? '';
  }

  /** Every pool vassal and its owner, for the stats. */
  placement(): Array<{ monitor: string; vassal: string; owner: string }> {
    return [...this.sites.values()].flatMap((s) => (s.pool ? s.pool.placement().map((p) => ({ monitor: s.spec, ...p })) : []));
  }

  /** Revokes every lease: claims and endpoints vanish at once. Call once every vassal is gone. */
  async close(): Promise<void> {
    await Promise.all([...this.sites.values()].map((s) => s.close()));
  }
}
