// What operators use beside the vassal files, wired to one emperor: the control socket, the Prometheus metrics,
// systemd's notifications and the CPU/memory sampler behind `emperor status` and the metrics.
import * as fs from 'node:fs';
import type { Logger } from '../log';
import { startControlServer, type ControlServer, type ControlledVassal } from '../ops/control-server';
import type { BlacklistEntry } from './blacklist';
import { EmperorMetrics, startMetricsServer, type MetricsServer, type VassalMetrics } from '../ops/metrics-server';
import { SystemdNotifier } from '../ops/systemd-notify';
import type { EmperorOptions } from './options';
import type { VassalOutput } from '../output/vassal-output';
import { UsageSampler, type Usage } from '../ops/usage';
import type { Vassal } from './vassal';
import type { StatsDocument } from '../ops/stats-document';
import { detached } from '../detach';
import { internalErrorCount } from '../internal-errors';
import { retainLogs } from '../output/log-retention';
import type { ConnectionLimits } from '../ops/connection-limits';

/** What the operations read of the emperor. */
export interface OperatedEmperor {
  readonly vassals: ReadonlyMap<string, Vassal>;
  outputOf(v: Vassal): VassalOutput | undefined;
  blacklistEntries(): BlacklistEntry[];
  /** The stats document, its vassals filtered by `visible`. */
  snapshot(visible?: (v: Vassal) => boolean): StatsDocument;
  /** emperor drain and resume-pool (src/cluster): their outcome, one line each. */
  drainPool(moved: (vassal: string, where: string) => void): Promise<string>;
  resumePool(): Promise<string>;
  /** The stats server's connection caps, when it runs. */
  statsLimits(): ConnectionLimits | undefined;
  /** Every monitor has scanned once: the vassal table is complete. */
  allScanned(): boolean;
}

/**
 * A scrape shows the last CPU/memory sample and starts the next one unless that one is younger than this: the
 * figures are at most one scrape interval old, and an emperor nobody scrapes reads no /proc file for them.
 */
const SCRAPE_SAMPLE_MS = 1000;
/** `emperor status` shows CPU over at least this long. */
const STATUS_SAMPLE_MS = 1000;
const STATUS_WAIT_MS = 200;
const STATUS_EVERY_MS = 1000;

export class Operations {
  readonly notifier: SystemdNotifier;
  private readonly usage = new UsageSampler();
  private metrics?: EmperorMetrics;
  private metricsServer?: MetricsServer;
  private control?: ControlServer;
  private timers: NodeJS.Timeout[] = [];
  private emperor?: OperatedEmperor;
  private retention?: { stop(): void };

  /** Before anything reads the environment: NOTIFY_SOCKET & co. are the emperor's, not its vassals'. */
  constructor(
    private readonly opts: EmperorOptions,
    private readonly log: Logger,
  ) {
    this.notifier = new SystemdNotifier(log);
  }

  async start(emperor: OperatedEmperor): Promise<void> {
    this.emperor = emperor;
    if (this.opts.logsDir) {
      fs.mkdirSync(this.opts.logsDir, { recursive: true, mode: 0o750 });
      this.retention = retainLogs({
        dir: this.opts.logsDir,
        retentionMs: this.opts.logsRetentionSeconds * 1000,
        vassals: () => new Set([...emperor.vassals.values()].map((v) => v.name)),
        ready: () => emperor.allScanned(),
        log: this.log,
      });
    }
    if (this.opts.metrics) {
      this.metrics = new EmperorMetrics({
        refusedConnections: () =>
          [emperor.statsLimits(), this.control?.limits, this.metricsServer?.limits].flatMap((l) =>
            l ? [{ server: l.server, refused: l.refusedTotal }] : [],
          ),
        internalErrors: internalErrorCount,
      });
      this.metricsServer = await startMetricsServer(
        this.opts.metrics,
        this.metrics,
        () => this.vassalMetrics(),
        () => detached(this.refreshUsage(SCRAPE_SAMPLE_MS), 'usage sample'),
      );
      detached(this.refreshUsage(0), 'usage sample');
      this.log.info({ event: 'metrics', address: this.metricsServer.address }, `metrics on http://${this.metricsServer.address}/metrics`);
    }
    if (this.opts.control) {
      this.control = await startControlServer(
        this.opts.control,
        {
          tyrant: this.opts.tyrant,
          drain: (moved) => emperor.drainPool(moved),
          resumePool: () => emperor.resumePool(),
          vassals: () => [...emperor.vassals.values()].map(controlled),
          status: async (visible) => {
            await this.freshUsage();
            return emperor.snapshot((v) => visible(controlled(v)));
          },
          output: (c) => emperor.outputOf((c as ControlledVassal & { vassal: Vassal }).vassal),
        },
        this.log,
      );
      this.log.info({ event: 'control-socket', path: this.control.path }, `control socket on ${this.control.path}`);
    }
    if (this.notifier.enabled) this.every(STATUS_EVERY_MS, () => this.notifier.status(this.statusText()));
  }

  /** A vassal came up, spawnMs after its start began. */
  vassalRunning(spawnMs: number): void {
    this.metrics?.spawnDuration.observe(spawnMs / 1000);
  }

  vassalConfigError(): void {
    this.metrics?.configErrors.inc();
  }

  /** The last sample of v, undefined before its first. */
  usageOf(v: Vassal): Usage | undefined {
    return this.usage.get(v);
  }

  /**
   * For `emperor status`: a sample at most STATUS_SAMPLE_MS old, waited for at most STATUS_WAIT_MS (thousands of
   * vassals take longer to sample: the answer then shows the previous sample, and the next one the new). The stats
   * server, which tools poll, does not wait: it starts a sample for its next answer (startUsage).
   */
  freshUsage(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => (timer = setTimeout(r, STATUS_WAIT_MS)));
    return Promise.race([this.refreshUsage(STATUS_SAMPLE_MS), bound]).finally(() => clearTimeout(timer));
  }

  startUsage(): void {
    detached(this.refreshUsage(STATUS_SAMPLE_MS), 'usage sample');
  }

  /** A fresh CPU/memory sample unless the last one is younger than maxAgeMs. */
  refreshUsage(maxAgeMs: number): Promise<void> {
    return this.usage.refresh(
      () => [...(this.emperor?.vassals.values() ?? [])].map((v) => [v, { pid: v.pid, cgroup: v.cgroup }]),
      maxAgeMs,
    );
  }

  /** STATUS= for systemd: how many vassals, by state. */
  statusText(): string {
    const counts = new Map<string, number>();
    for (const v of this.emperor?.vassals.values() ?? []) counts.set(v.state, (counts.get(v.state) ?? 0) + 1);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${n} ${s}`);
    return `${total} vassal${total === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.retention?.stop();
    this.notifier.close();
    await Promise.all([this.metricsServer?.close(), this.control?.close()]);
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  private vassalMetrics(): VassalMetrics[] {
    const emperor = this.emperor!;
    const throttle = new Map(emperor.blacklistEntries().map((e) => [e.id, e.throttle_level / 1000]));
    return [...emperor.vassals.values()].map((v) => {
      const u = this.usage.get(v) ?? { cpuSeconds: 0, memoryBytes: 0 };
      return {
        name: v.name,
        state: v.state,
        restarts: v.deaths + v.respawns,
        startTime: v.pid > 0 ? v.startedAtMs / 1000 : 0,
        throttleSeconds: throttle.get(v.name) ?? 0,
        cpuSeconds: u.cpuSeconds,
        memoryBytes: u.memoryBytes,
        outputDropped: emperor.outputOf(v)?.droppedTotal ?? 0,
      };
    });
  }
}

function controlled(v: Vassal): ControlledVassal & { vassal: Vassal } {
  return {
    vassal: v,
    name: v.name,
    get uid() {
      return v.uid;
    },
    get state() {
      return v.state;
    },
    reload: (reason) => v.reload(reason),
    adminStop: () => v.adminStop(),
    adminStart: () => v.adminStart(),
    resume: () => v.resume(),
  };
}
