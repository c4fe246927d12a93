// pg://CONNINFO;QUERY: uWSGI's emperor_pg, pushed. Each row of the query is a vassal: name, config, ts (unix seconds,
// its mtime), then uid and gid (read in tyrant mode, as emperor_pg does) and an on-demand socket. The query runs
// every --emperor-freq seconds, as emperor_pg's scan does; with --emperor-pg-channel the monitor also LISTENs on that
// channel, and any NOTIFY on it runs the query at once, so a trigger on the table makes changes arrive immediately.
import { Client } from 'pg';
import { Backoff } from '../backoff';
import { parsePgSpec, type PgSpec } from './pg-spec';
import { StoreMonitor, type StoreEntry } from './store-monitor';
import type { MonitorOptions } from './types';
import { detached } from '../detach';

/** A query (or a connection) that takes longer than this has failed. */
const QUERY_MS = 10000;

export class PgMonitor extends StoreMonitor {
  private readonly spec: PgSpec;
  private client?: Client;
  private pollTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private readonly backoff = new Backoff(200, 5000);
  private querying = false;
  private again = false;
  /** Rows whose socket column is set, said once each: on-demand vassals from a store are not supported. */
  private readonly socketSaid = new Set<string>();
  private readonly uidSaid = new Set<string>();

  constructor(spec: string, opts: MonitorOptions) {
    const parsed = parsePgSpec(spec);
    super(spec, opts);
    this.spec = parsed;
  }

  protected open(): void {
    detached(this.scan(), 'pg scan');
  }

  protected close(): void {
    clearTimeout(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.dropClient();
  }

  rescan(): void {
    detached(this.scan(), 'pg scan');
  }

  /** Runs the query and applies its rows; asked again while running, runs once more after. */
  private async scan(): Promise<void> {
    if (this.stopped || !this.events) return;
    if (this.querying) {
      this.again = true;
      return;
    }
    this.querying = true;
    clearTimeout(this.pollTimer);
    try {
      do {
        this.again = false;
        const client = this.client ?? (await this.connect());
        const res = await client.query({ text: this.spec.query, rowMode: 'array' });
        if (this.stopped) return;
        this.reachable();
        this.syncAll(this.entries(res.rows as unknown[][]));
      } while (this.again && !this.stopped);
      this.backoff.reset();
      this.pollTimer = setTimeout(() => detached(this.scan(), 'pg scan'), this.opts.freqSeconds * 1000);
    } catch (err) {
      if (this.stopped) return;
      this.unreachable(`pg ${this.id}: ${(err as Error).message}`);
      this.dropClient();
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => detached(this.scan(), 'pg scan'), this.backoff.take());
    } finally {
      this.querying = false;
    }
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      ...this.spec.config,
      connectionTimeoutMillis: this.spec.config.connectionTimeoutMillis ?? QUERY_MS,
      query_timeout: QUERY_MS,
    });
    // a connection that breaks between queries: the next scan (soon) connects again
    client.on('error', (err) => {
      if (this.client !== client) return;
      this.unreachable(`pg ${this.id}: ${err.message}`);
      this.dropClient();
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => detached(this.scan(), 'pg scan'), this.backoff.take());
    });
    client.on('notification', () => detached(this.scan(), 'pg scan'));
    this.client = client;
    try {
      await client.connect();
      if (this.opts.pgChannel) await client.query(`LISTEN ${quoteIdent(this.opts.pgChannel)}`);
    } catch (err) {
      this.dropClient();
      throw err;
    }
    return client;
  }

  private dropClient(): void {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    c.removeAllListeners('notification');
    c.on('error', () => undefined);
    void c.end().catch(() => undefined);
  }

  private entries(rows: unknown[][]): StoreEntry[] {
    const out: StoreEntry[] = [];
    for (const row of rows) {
      if (row.length < 3) continue;
      const name = String(row[0] ?? '');
      let uid = process.getuid?.() ?? 0;
      let gid = process.getgid?.() ?? 0;
      if (this.opts.tyrant) {
        if (row.length < 5) {
          if (!this.uidSaid.has(name))
            this.log.error({ event: 'pg-no-owner', name }, `[emperor-pg] missing uid and gid for vassal ${name}`);
          this.uidSaid.add(name);
          continue;
        }
        uid = Number(row[3]);
        gid = Number(row[4]);
      }
      if (row.length > 5 && row[5] && !this.socketSaid.has(name)) {
        this.socketSaid.add(name);
        this.log.warn(
          { event: 'pg-socket-ignored', name, socket: String(row[5]) },
          `vassal ${name}: the on-demand socket column is not supported for store vassals; it starts at once`,
        );
      }
      out.push({ name, config: String(row[1] ?? ''), version: Number(row[2] ?? 0) * 1000, uid, gid });
    }
    return out;
  }
}

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
