// etcd://HOST:PORT[,HOST:PORT...]/PREFIX: every key PREFIX<name> is a vassal <name> whose config is the key's value.
// A put spawns or reloads (mod_revision is the mtime), a delete stops, within a round trip of the watch. etcd going
// away keeps every vassal as it is; the watch resumes (on the next listed member when one fails) or, past a
// compaction, lists again and applies the difference.
import type { IKeyValue } from 'etcd3';
import { EtcdMembers } from '../etcd/members';
import { PrefixWatch } from '../etcd/watch';
import { StoreMonitor, type StoreEntry } from './store-monitor';
import { MonitorSpecError, type MonitorOptions } from './types';

export interface EtcdSpec {
  /** host:port, as given. */
  hosts: string[];
  /** The key prefix: every key PREFIX<name> is a vassal named <name>. */
  prefix: string;
}

/** etcd://HOST:PORT[,HOST:PORT...]/PREFIX */
export function parseEtcdSpec(spec: string): EtcdSpec {
  const m = /^etcd:\/\/([^/]+)(\/.*)$/i.exec(spec);
  if (!m) throw new MonitorSpecError(`--emperor ${spec}: expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX`);
  const hosts = m[1].split(',');
  for (const h of hosts) {
    if (!/^(\[[0-9a-f:.]+\]|[^:[\]]+):\d{1,5}$/i.test(h)) throw new MonitorSpecError(`--emperor ${spec}: "${h}" is not HOST:PORT`);
  }
  return { hosts, prefix: m[2] };
}

/** The listing is taken again this often at most (the safety net; the watch does the work). */
const MIN_RELIST_SECONDS = 60;

export class EtcdMonitor extends StoreMonitor {
  private readonly members: EtcdMembers;
  private readonly prefix: Buffer;
  private readonly watch: PrefixWatch;

  constructor(spec: string, opts: MonitorOptions) {
    const { hosts, prefix } = parseEtcdSpec(spec);
    super(spec, opts);
    this.members = new EtcdMembers(hosts);
    this.prefix = Buffer.from(prefix);
    this.watch = new PrefixWatch(
      this.members,
      this.prefix,
      this.log,
      {
        sync: (kvs) => this.syncAll(kvs.map((kv) => this.entry(kv))),
        put: (kv) => this.upsert(this.entry(kv)),
        delete: (kv) => this.delete(this.nameOf(kv.key)),
        trouble: (why) => this.unreachable(`etcd ${spec}: ${why}`),
        ok: () => this.reachable(),
      },
      Math.max(opts.freqSeconds, MIN_RELIST_SECONDS),
    );
  }

  protected open(): void {
    this.watch.start();
  }

  protected close(): void {
    this.watch.stop();
    this.members.close();
  }

  rescan(): void {
    if (!this.stopped && this.events) this.watch.relist();
  }

  private nameOf(key: Buffer): string {
    return key.subarray(this.prefix.length).toString('utf8');
  }

  /** The key as a vassal: mtime is its mod_revision (stats show it as last_mod), the owner the emperor's own. */
  private entry(kv: IKeyValue): StoreEntry {
    return {
      name: this.nameOf(kv.key),
      config: kv.value.toString('utf8'),
      version: Number(kv.mod_revision) * 1000,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    };
  }
}
