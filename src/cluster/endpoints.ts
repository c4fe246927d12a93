// Publishing endpoints: the modern form of uWSGI's subscription system. Each running vassal's sockets are written to
// etcd under its emperor's lease, so they vanish when the emperor dies, and an existing proxy routes to whichever
// host runs the app:
//   <root>endpoints/<vassal>/<node>/<i> = {"vassal","node","kind","address","url"}
// and with --emperor-etcd-traefik ROOT, in Traefik's KV layout (http-socket and https-socket only: Traefik's HTTP
// services speak HTTP):
//   ROOT/http/services/<vassal without extension>/loadbalancer/servers/<n>/url = http://address
// where <n> is a number made of the node name's hash and the socket's position, so emperors never overwrite each
// other's servers.
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import type { ResolvedConfig } from '../config/types';
import type { Logger } from '../log';
import { deadline } from '../etcd/client';
import type { EtcdMembers } from '../etcd/members';
import type { VassalSource } from '../monitors/types';
import { WriteChains } from './write-chains';

export interface Endpoint {
  kind: string;
  address: string;
  url: string;
}

/** The socket options published, and the URL scheme of each. */
const SOCKET_KINDS: Record<string, string> = {
  socket: 'uwsgi',
  'uwsgi-socket': 'uwsgi',
  'http-socket': 'http',
  'https-socket': 'https',
  'shared-socket': 'tcp',
};

/** The address published for a socket bound to every address: the first non-loopback IPv4 address. */
export function defaultAdvertise(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** The endpoints a config binds, in option order; a wildcard host is replaced by `advertise`. */
export function endpointsOf(config: ResolvedConfig, advertise: string): Endpoint[] {
  const shared = config.options.filter((o) => o.key.replace(/_/g, '-') === 'shared-socket').map((o) => o.value);
  const out: Endpoint[] = [];
  for (const o of config.options) {
    const kind = o.key.replace(/_/g, '-');
    const scheme = SOCKET_KINDS[kind];
    if (!scheme) continue;
    // https-socket = addr,cert,key; "=N" names the Nth shared-socket
    let addr = o.value.split(',')[0].trim();
    if (/^=\d+$/.test(addr)) addr = shared[Number(addr.slice(1))] ?? '';
    if (!addr) continue;
    if (addr.startsWith('/') || addr.startsWith('@')) {
      out.push({ kind, address: addr, url: `unix:${addr}` });
      continue;
    }
    const m = /^(.*):(\d+)$/.exec(addr);
    if (!m) continue;
    const host = ['', '0.0.0.0', '*', '[::]', '::'].includes(m[1]) ? advertise : m[1];
    const address = `${host}:${m[2]}`;
    out.push({ kind, address, url: `${scheme}://${address}` });
  }
  return out;
}

export class EndpointPublisher {
  /** Keys published per vassal name (and the values, to publish again under a new lease). */
  private readonly published = new Map<string, Map<string, string>>();
  /** Per name, the writes in order: a stop never overtakes the start it ends. */
  private readonly chains = new WriteChains('endpoint publication');
  private troubleSaid = false;

  constructor(
    private readonly members: EtcdMembers,
    /** The endpoints root: <root>endpoints/… */
    private readonly root: string,
    private readonly node: string,
    private readonly leaseId: () => string | null,
    private readonly advertise: string,
    private readonly traefikRoot: string | undefined,
    private readonly log: Logger,
  ) {}

  started(src: VassalSource, config: ResolvedConfig): void {
    const want = new Map<string, string>();
    const serverBase = parseInt(createHash('sha256').update(this.node).digest('hex').slice(0, 8), 16) * 100;
    endpointsOf(config, this.advertise).forEach((e, i) => {
      want.set(`${this.root}endpoints/${src.name}/${this.node}/${i}`, JSON.stringify({ vassal: src.name, node: this.node, ...e }));
      if (this.traefikRoot && (e.kind === 'http-socket' || e.kind === 'https-socket')) {
        const service = src.name.replace(/\.[^.]*$/, '');
        want.set(`${this.traefikRoot}/http/services/${service}/loadbalancer/servers/${serverBase + i}/url`, e.url);
      }
    });
    this.replace(src.name, want);
  }

  ended(src: VassalSource): void {
    this.replace(src.name, new Map());
  }

  /** A new lease: whatever was bound to the old one is gone; everything still running is published again. */
  republish(): void {
    for (const [name, keys] of this.published) this.chains.run(name, () => this.write(new Map(), keys));
  }

  private replace(name: string, want: Map<string, string>): void {
    const had = this.published.get(name) ?? new Map<string, string>();
    if (want.size) this.published.set(name, want);
    else this.published.delete(name);
    this.chains.run(name, () => this.write(had, want));
  }

  /** Deletes what `had` has and `want` has not, puts all of `want` under the lease. */
  private async write(had: Map<string, string>, want: Map<string, string>): Promise<void> {
    const lease = this.leaseId();
    const ops = [
      ...[...had.keys()].filter((k) => !want.has(k)).map((k) => ({ request_delete_range: { key: Buffer.from(k) } })),
      ...(lease ? [...want].map(([k, v]) => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v), lease } })) : []),
    ];
    if (ops.length === 0) return;
    try {
      await this.members.call((c) => c.kv.txn({ compare: [], success: ops, failure: [] }, deadline()));
      this.troubleSaid = false;
    } catch (err) {
      // the next lease grant publishes again; a delete that failed ends with the lease at the latest
      if (!this.troubleSaid)
        this.log.warn({ event: 'endpoints-trouble', error: (err as Error).message }, `cannot publish endpoints: ${(err as Error).message}`);
      this.troubleSaid = true;
    }
  }
}
