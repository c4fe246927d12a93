// Prometheus metrics on --emperor-metrics HOST:PORT, GET /metrics, named as systemd_exporter names a unit's:
// emperor_vassal_* per vassal, with _total counters and _seconds/_bytes units. prom-client holds the emperor's own
// metrics (the spawn duration histogram, the config error counter) and the exposition format; the per-vassal
// families are written here straight from the vassal table, because prom-client's labelled gauges cost about
// 1 s per scrape at 5,000 vassals (each value hashed, validated and formatted one by one), and a scrape must stay
// far below 100 ms (bench/metrics.ts).
import * as http from 'node:http';
import type * as net from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { parseStatsAddress } from './index';
import { logger } from '../log';
import { ConnectionLimits, IDLE_MS } from './connection-limits';

/** What a scrape reads of one vassal. */
export interface VassalMetrics {
  name: string;
  state: string;
  restarts: number;
  /** Epoch seconds of the running instance's start, 0 when none runs. */
  startTime: number;
  throttleSeconds: number;
  cpuSeconds: number;
  memoryBytes: number;
  outputDropped: number;
}

/** Every state a vassal shows (systemd_exporter lists each unit state with 0 or 1). */
export const VASSAL_STATES = ['starting', 'running', 'stopping', 'throttled', 'broken', 'exiled', 'refused', 'stopped'] as const;

const FAMILIES: Array<{ name: string; type: 'gauge' | 'counter'; help: string; value?: (v: VassalMetrics) => number }> = [
  {
    name: 'emperor_vassal_up',
    type: 'gauge',
    help: 'Whether the vassal is running (1) or not (0).',
    value: (v) => +(v.state === 'running'),
  },
  { name: 'emperor_vassal_state', type: 'gauge', help: 'The vassal state: 1 for the one it is in, 0 for the others.' },
  {
    name: 'emperor_vassal_restarts_total',
    type: 'counter',
    help: 'Respawns after a death plus reloads of the vassal.',
    value: (v) => v.restarts,
  },
  {
    name: 'emperor_vassal_start_time_seconds',
    type: 'gauge',
    help: "Start time of the vassal's running instance since the epoch, 0 when none runs.",
    value: (v) => v.startTime,
  },
  {
    name: 'emperor_vassal_throttle_seconds',
    type: 'gauge',
    help: "Throttle level of the vassal's blacklist entry, 0 when it is not blacklisted.",
    value: (v) => v.throttleSeconds,
  },
  {
    name: 'emperor_vassal_cpu_seconds_total',
    type: 'counter',
    help: "CPU time used by the vassal's processes (cgroup cpu.stat, else /proc).",
    value: (v) => v.cpuSeconds,
  },
  {
    name: 'emperor_vassal_memory_bytes',
    type: 'gauge',
    help: 'Memory of the vassal (cgroup memory.current, else the RSS of its processes).',
    value: (v) => v.memoryBytes,
  },
  {
    name: 'emperor_vassal_output_dropped_total',
    type: 'counter',
    help: 'Output lines dropped over the per-vassal line rate.',
    value: (v) => v.outputDropped,
  },
];

const HEADERS = FAMILIES.map((f) => `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`);

interface Row {
  label: string;
  prefixes: string[];
  state: string;
  stateBlock: string;
  generation: number;
}

/** Label values escaped as the text format wants them (backslash, double quote, newline). */
function escapeLabel(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

/** What the emperor-wide counters read at each scrape. */
export interface EmperorCounts {
  /** Connections each operator server refused (its caps), by server. */
  refusedConnections(): Array<{ server: string; refused: number }>;
  /** Internal errors (src/internal-errors.ts). */
  internalErrors(): number;
}

export class EmperorMetrics {
  readonly registry = new Registry();
  readonly spawnDuration = new Histogram({
    name: 'emperor_spawn_duration_seconds',
    help: "From reading a vassal config to the vassal running (its app started, or uWSGI exec'd).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly configErrors = new Counter({
    name: 'emperor_config_errors_total',
    help: 'Vassal configs that did not load or start (broken), and reloads refused for the same reason.',
    registers: [this.registry],
  });
  readonly refusedConnections: Counter<'server'>;
  readonly internalErrors: Counter;
  /** Per vassal name: the start of each of its sample lines, and its state family's lines for its last state. */
  private readonly rows = new Map<string, Row>();
  private generation = 0;

  constructor(counts: EmperorCounts = { refusedConnections: () => [], internalErrors: () => 0 }) {
    this.refusedConnections = new Counter({
      name: 'emperor_connections_refused_total',
      help: 'Connections to the control, stats and metrics servers refused over their caps (in all, per peer).',
      labelNames: ['server'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { server, refused } of counts.refusedConnections()) this.inc({ server }, refused);
      },
    });
    this.internalErrors = new Counter({
      name: 'emperor_internal_errors_total',
      help: "Exceptions and rejections of the emperor's own code nobody handled: logged as internal-error, the emperor kept running.",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(counts.internalErrors());
      },
    });
  }

  /** The per-vassal families in the text exposition format. */
  renderVassals(vassals: VassalMetrics[]): string {
    const gen = ++this.generation;
    const rows = vassals.map((v) => this.row(v, gen));
    // names that went are forgotten
    for (const [name, r] of this.rows) if (r.generation !== gen) this.rows.delete(name);
    // one rope per document: V8 joins the pieces once, at the end
    let out = '';
    FAMILIES.forEach((f, i) => {
      out += HEADERS[i];
      const value = f.value;
      if (value) for (let k = 0; k < vassals.length; k++) out += `${rows[k].prefixes[i]}${num(value(vassals[k]))}\n`;
      else for (const r of rows) out += r.stateBlock;
    });
    return out;
  }

  private row(v: VassalMetrics, generation: number): Row {
    let r = this.rows.get(v.name);
    if (!r) {
      const label = `vassal="${escapeLabel(v.name)}"`;
      r = { label, prefixes: FAMILIES.map((f) => `${f.name}{${label}} `), state: '', stateBlock: '', generation };
      this.rows.set(v.name, r);
    }
    r.generation = generation;
    if (r.state !== v.state) {
      r.state = v.state;
      r.stateBlock = VASSAL_STATES.map((s) => `emperor_vassal_state{${r.label},state="${s}"} ${v.state === s ? 1 : 0}\n`).join('');
    }
    return r;
  }

  /** The whole /metrics document. */
  async render(vassals: VassalMetrics[]): Promise<string> {
    return this.renderVassals(vassals) + (await this.registry.metrics());
  }
}

export interface MetricsServer {
  address: string;
  /** Its connection caps, and how many it refused. */
  limits: ConnectionLimits;
  close(): Promise<void>;
}

/** Serves GET /metrics on host:port (port 0: any free port, said in `address`). */
/** `vassals` gives what a scrape shows now; `scraped` runs after each scrape (to refresh samples for the next one). */
export async function startMetricsServer(
  addr: string,
  metrics: EmperorMetrics,
  vassals: () => VassalMetrics[],
  scraped: () => void = () => {},
): Promise<MetricsServer> {
  const where = parseStatsAddress(addr);
  if (where.kind !== 'tcp') throw new Error(`--emperor-metrics ${addr}: give HOST:PORT`);
  // a request's headers and body within IDLE_MS however they trickle in (checked every second), a kept-alive
  // connection idle 5 s, any connection silent IDLE_MS
  const server = http.createServer(
    { headersTimeout: IDLE_MS, requestTimeout: IDLE_MS, keepAliveTimeout: 5000, connectionsCheckingInterval: 1000 },
    (req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
        return;
      }
      metrics.render(vassals()).then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
      scraped();
    },
  );
  // capped per peer address and in all
  const limits = new ConnectionLimits('metrics', logger());
  server.on('connection', (sock: net.Socket) => limits.admit(sock, { kind: 'tcp', address: sock.remoteAddress ?? '' }));
  server.setTimeout(IDLE_MS, (sock) => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`--emperor-metrics ${addr}: ${err.message}`)));
    server.listen({ host: where.host, port: where.port, exclusive: true }, resolve);
  });
  const bound = server.address();
  const port = bound && typeof bound === 'object' ? bound.port : where.port;
  return {
    address: `${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}`,
    limits,
    close: () =>
      new Promise<void>((resolve) => {
        limits.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
