// What the emperor does beyond its own host, per etcd:// monitor: a lease, pool mode (the monitor's vassals shared
// with every emperor on the same prefix) and endpoint publishing, both bound to that lease.
//
// Key layout, for the monitor etcd://…/PREFIX (the emperor's own keys sit beside the vassals, not under them):
//   PREFIX<name>                                   the vassal configs (written by the operator)
//   <PREFIX without its trailing '/'>.emperor/pool/nodes/<node>
//   <PREFIX without its trailing '/'>.emperor/pool/owners/<name>
//   <PREFIX without its trailing '/'>.emperor/endpoints/<name>/<node>/<i>
import * as os from 'node:os';
import type { Etcd3 } from 'etcd3';
import type { ResolvedConfig } from '../config/types';
import { logger, type Logger } from '../log';
import { etcdClient } from '../etcd/client';
import { parseEtcdSpec } from '../monitors/etcd-monitor';
import type { Monitor, VassalSource } from '../monitors/types';
import { EndpointPublisher, defaultAdvertise } from './endpoints';
import { LeaseKeeper } from './lease';
import { Pool } from './pool';
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
  private readonly client: Etcd3;
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
    this.client = etcdClient(hosts);
    const root = emperorRoot(prefix);
    let pool: Pool | undefined;
    this.lease = new LeaseKeeper(this.client, opts.ttlSeconds, log, {
      granted: () => {
        this.publisher.republish();
        pool?.leaseEvents.granted();
      },
      danger: () => pool?.leaseEvents.danger(),
      expiring: () => pool?.leaseEvents.expiring(),
      alive: () => pool?.leaseEvents.alive(),
      lost: () => pool?.leaseEvents.lost(),
    });
    if (opts.pool) pool = this.pool = new Pool(this.client, `${root}pool/`, node, this.lease, table, log);
    this.publisher = new EndpointPublisher(
      this.client,
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

  ended(src: VassalSource): void {
    this.publisher.ended(src);
  }

  async close(): Promise<void> {
    await this.lease.stop();
    this.client.close();
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

  ended(src: VassalSource): void {
    this.sites.get(src.monitor)?.ended(src);
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
