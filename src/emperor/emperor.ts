// The emperor: the vassal table fed by the imperial monitors, the signals, Ragnarok and the stats snapshot.
import * as fs from 'node:fs';
import { tenantEnvironment, vassalEnvironment } from '../config';
import { logger, type Logger } from '../log';
import { AsyncAgent } from '../agent/async';
import { Cluster } from '../cluster';
import { createMonitor, MonitorSpecError } from '../monitors';
import type { Monitor, VassalSource } from '../monitors/types';
import { binaryRealpath } from '../reader/facts';
import { ConfigReader } from '../reader/pool';
import { startStatsServer, type StatsServer } from '../ops';
import { Blacklist } from './blacklist';
import { CgroupTree } from '../cgroup/tree';
import { HelperCgroups } from '../cgroup/helpers';
import { AgentProcess } from '../agent/process';
import { LimitWatch, raiseLimits } from './host-limits';
import { tyrantCredentials, type CredentialsOrRefusal } from './tyrant';
import { canBindConfigs, heldAmbientCaps, missingCapabilityNotes } from '../privileges';
import { ConfigSnapshots } from './config-snapshot';
import { OptionError, parseCloneFlags, type EmperorOptions } from './options';
import type { Namespace } from '../tables/namespaces';
import { sectionMonitor } from './multi-section';
import { Vassal, type VassalContext, type VassalObserver } from './vassal';
import { makeRuntimeDir, removeRuntimeDir } from './runtime-dir';
import { Operations } from './operations';
import { VassalOutput, type OutputOptions } from '../output/vassal-output';
import { packageVersion } from '../package-info';
import type { StatsDocument } from '../ops/stats-document';

const VERSION = packageVersion();
/** At the emperor's end: how long its agents get to exit once closed, then what is left gets to die of a kill. */
const HELPER_GRACE_MS = 1000;
const HELPER_KILL_WAIT_MS = 2000;

export class Emperor {
  readonly vassals = new Map<string, Vassal>();
  /** Sources re-added while their old vassal was still stopping, by key. */
  private readonly comeback = new Map<string, VassalSource>();
  private readonly monitors: Monitor[] = [];
  private readonly blacklist: Blacklist;
  private readonly log: Logger = logger();
  private cgroups?: CgroupTree;
  private helpers?: HelperCgroups;
  private reader?: ConfigReader;
  private scanner?: AsyncAgent;
  private stats?: StatsServer;
  private ragnarokAt = 0;
  /** What every vassal shares: set before any monitor starts, so every add() has it. */
  private ctxBase?: VassalContext;
  private mercyTimer?: NodeJS.Timeout;
  private devNull = -1;
  private exited?: (code: number) => void;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  private cluster?: Cluster;
  private runtimeDir?: string;
  private readonly outputs = new Map<Vassal, VassalOutput>();
  private ops!: Operations;
  /** One for every vassal's output. */
  private outputOpts?: OutputOptions;
  /** Monitors whose first scan is not over yet: systemd hears READY=1 when none is left. */
  private unscanned = new Set<Monitor>();
  /** Every monitor has scanned once: the vassal table is complete. */
  private scannedOnce = false;

  constructor(private readonly opts: EmperorOptions) {
    this.blacklist = new Blacklist({ throttleMs: opts.throttleMs, maxThrottleMs: opts.maxThrottleMs });
  }

  /** Starts watching and spawning; resolves with the exit code once Ragnarok is over. */
  async run(): Promise<number> {
    const namespaces = parseCloneFlags(this.opts.useClone);
    raiseLimits(this.log);
    this.ops = new Operations(this.opts, this.log);
    if (this.opts.emperor.length === 0) throw new OptionError('no vassal source: give --emperor DIR (or dir://DIR, glob://PATTERN)');
    // the helpers' cgroups first: the monitors' agent is the first helper
    const tree = this.createCgroups(namespaces);
    const snapshots = await this.createMonitors();
    this.devNull = fs.openSync('/dev/null', 'r');
    const env = vassalEnvironment(process.env);
    this.reader = this.startReader(env);
    await this.startStats();
    await this.ops.start(this);
    this.installSignals();
    this.ctxBase = {
      opts: this.opts,
      namespaces,
      env,
      // tyrant vassals get a clean environment of their owner's, unless the emperor's is asked for
      ownerEnv:
        this.opts.tyrant && !this.opts.tyrantInheritEnv
          ? (uid: number) => tenantEnvironment(process.env, uid, this.opts.tyrantKeepEnv)
          : undefined,
      devNull: this.devNull,
      reader: this.reader,
      binaryPath: binaryRealpath(this.opts.binaryPath, env.PATH),
      snapshots,
      helpers: this.helpers,
      makeCgroup: tree ? (name: string) => tree.makeInstanceDir(name) : undefined,
      releaseCgroup: tree ? (dir: string) => tree.release(dir) : undefined,
      blacklist: this.blacklist,
      limits: new LimitWatch(this.log),
      credentialsFor: (src: VassalSource) => this.credentialsFor(src),
      observer: this.observer,
    };
    const done = new Promise<number>((resolve) => (this.exited = resolve));
    this.startMonitors();
    this.log.info({ event: 'start', emperor: this.opts.emperor, version: VERSION }, 'emperor started');
    return done;
  }

  /**
   * The monitors of every --emperor source, behind the cluster (pool mode) and, with multi-section, per section; and
   * the runtime directory they and the tyrant's uWSGI config snapshots need. Returns where the snapshots go, if any.
   */
  private async createMonitors(): Promise<ConfigSnapshots | undefined> {
    // the monitors look at directories through an agent process: a hung mount costs a timeout, never the loop
    // each hung path costs one stuck agent (the monitors leave it alone until that agent exits), a small process
    this.scanner = new AsyncAgent({ budgetMs: this.opts.configTimeoutSeconds * 1000, maxStuck: 64, cgroups: this.helpers });
    // a store's vassal configs are written as files there (src/monitors/store-monitor.ts), and a tyrant's uWSGI
    // vassals' verified bytes (src/emperor/config-snapshot.ts)
    const bindConfigs = this.opts.tyrant && canBindConfigs();
    if (bindConfigs || this.opts.emperor.some((spec) => /^(etcd|pg):\/\//i.test(spec))) this.runtimeDir = makeRuntimeDir();
    const snapshots = bindConfigs ? ConfigSnapshots.in(this.runtimeDir!) : undefined;
    const monitorOpts = {
      nofollow: this.opts.nofollow,
      tyrantNofollow: this.opts.tyrantNofollow,
      freqSeconds: this.opts.freqSeconds,
      extraExtensions: this.opts.extraExtensions,
      tyrant: this.opts.tyrant,
      runtimeDir: this.runtimeDir,
      pgChannel: this.opts.pgChannel,
    };
    try {
      // side by side: a source on a hung mount costs its own timeout, not the others' start
      const monitors = await Promise.all(this.opts.emperor.map((spec) => createMonitor(spec, monitorOpts, this.scanner!)));
      this.cluster = new Cluster(
        {
          pool: this.opts.etcdPool,
          node: this.opts.node,
          ttlSeconds: this.opts.etcdTtlSeconds,
          traefikRoot: this.opts.etcdTraefik,
          advertise: this.opts.advertise,
        },
        {
          whenGone: (src) => {
            const v = this.vassals.get(key(src));
            return v ? v.whenGone() : Promise.resolve();
          },
          killNow: (src) => this.vassals.get(key(src))?.killNow(),
          isRunning: (src) => this.vassals.get(key(src))?.state === 'running',
        },
      );
      // with --emperor-multi-section each section is a vassal of its own, placed on its own in pool mode; the
      // sections are listed once the monitors start, when the readers (ctxBase) exist
      this.monitors.push(
        ...monitors.map((m) => this.cluster!.monitor(this.opts.multiSection ? sectionMonitor(m, () => this.ctxBase!) : m)),
      );
      return snapshots;
    } catch (e) {
      this.scanner.close();
      if (this.runtimeDir) removeRuntimeDir(this.runtimeDir);
      await this.endHelpers();
      await this.cgroups?.destroy();
      if (e instanceof MonitorSpecError) throw new OptionError(e.message);
      throw e;
    }
  }

  /**
   * The emperor's cgroup v2 tree and its helpers' directory, or undefined (said once in the log) where it is not
   * usable; then, once, what this emperor cannot do for want of a capability.
   */
  private createCgroups(namespaces: Namespace[]): CgroupTree | undefined {
    const { tree, reason } = CgroupTree.create();
    this.cgroups = tree;
    this.helpers = this.helperCgroups(tree);
    if (!tree)
      this.log.warn(
        { event: 'no-cgroup', reason },
        `cgroup v2 not usable (${reason}): a stop kills the vassal's process group and pid namespace only`,
      );
    const notes = missingCapabilityNotes({
      tyrant: this.opts.tyrant,
      userNamespaces: namespaces.includes('user'),
      cgroups: !!this.helpers,
    });
    if (notes.length > 0)
      this.log.warn(
        { event: 'capability-limited', uid: process.getuid?.(), notes },
        `this emperor runs as uid ${process.getuid?.()} without some capabilities: ${notes.join('; ')}`,
      );
    return tree;
  }

  /** The helpers' cgroup directory, where each reader and agent gets its own; none without cgroup v2. */
  private helperCgroups(tree: CgroupTree | undefined): HelperCgroups | undefined {
    if (!tree) return undefined;
    try {
      return new HelperCgroups(tree.helpersDir());
    } catch (e) {
      this.log.warn({ event: 'no-helper-cgroup', error: (e as Error).message }, `helpers run without cgroups: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The config readers, warm from the start; kept warm when on-demand vassals need quick answers. */
  private startReader(env: Record<string, string>): ConfigReader {
    const onDemand =
      this.opts.onDemandExtension !== undefined || this.opts.onDemandDirectory !== undefined || this.opts.onDemandExec !== undefined;
    const reader = new ConfigReader({
      env,
      budgetMs: this.opts.configTimeoutSeconds * 1000,
      log: this.log,
      devNull: this.devNull,
      capAmbient: heldAmbientCaps(),
      keepWarm: onDemand,
      cgroups: this.helpers,
    });
    reader.warm();
    return reader;
  }

  private async startStats(): Promise<void> {
    if (!this.opts.stats) return;
    this.stats = await startStatsServer(this.opts.stats, () => {
      this.ops.startUsage();
      return this.snapshot();
    });
    this.log.info({ event: 'stats', address: this.stats.address }, `stats server on ${this.stats.address}`);
  }

  /** Every monitor feeds the vassal table; systemd hears READY=1 once each has made its first scan. */
  private startMonitors(): void {
    this.unscanned = new Set(this.monitors);
    for (const m of this.monitors) {
      m.start({
        scanned: () => {
          if (!this.unscanned.delete(m) || this.unscanned.size > 0) return;
          this.scannedOnce = true;
          if (!this.ragnarokAt) this.ops.notifier.ready(this.ops.statusText());
        },
        add: (src) => this.add(src),
        change: (src) => this.vassals.get(key(src))?.fileChanged(src),
        remove: (src) => {
          this.comeback.delete(key(src));
          this.vassals.get(key(src))?.remove();
        },
        unchanged: (src) => {
          // same options: a running instance is left alone, one that is not running is retried as on any edit
          const v = this.vassals.get(key(src));
          if (v && v.pid < 0) v.fileChanged(src);
        },
      });
    }
  }

  private add(src: VassalSource): void {
    const ctx = this.ctxBase!;
    if (this.ragnarokAt) return;
    const k = key(src);
    const existing = this.vassals.get(k);
    if (existing) {
      // removed and re-added before the old instance died: it comes back once the old one is gone (unless the
      // file goes again meanwhile; only the latest appearance counts)
      this.comeback.set(k, src);
      return;
    }
    const output = new VassalOutput(src.name, (this.outputOpts ??= this.outputOptions()));
    const v = new Vassal(src, ctx, output);
    this.vassals.set(k, v);
    this.outputs.set(v, output);
    v.start();
  }

  /** One observer for every vassal (VassalObserver): no listener of its own per vassal. */
  private readonly observer: VassalObserver = {
    launched: (v, config) => this.cluster?.started(v.source, config),
    publishes: (v) => this.cluster?.publishes(v.source) ?? false,
    exited: (v) => this.cluster?.ended(v.source),
    running: (v, spawnMs) => {
      this.ops.vassalRunning(spawnMs);
      this.cluster?.running(v.source);
    },
    configError: () => this.ops.vassalConfigError(),
    gone: (v) => this.gone(v),
  };

  private gone(v: Vassal): void {
    const k = key(v.source);
    if (this.vassals.get(k) === v) this.vassals.delete(k);
    this.outputs.get(v)?.close();
    this.outputs.delete(v);
    const back = this.comeback.get(k);
    this.comeback.delete(k);
    if (back) this.add(back);
    if (this.ragnarokAt && this.vassals.size === 0) this.buried();
  }

  private credentialsFor(src: VassalSource): CredentialsOrRefusal {
    return this.opts.tyrant ? tyrantCredentials(src) : {};
  }

  private installSignals(): void {
    const on = (sig: NodeJS.Signals, fn: () => void) => {
      process.on(sig, fn);
      this.signalHandlers.push([sig, fn]);
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const) on(sig, () => this.ragnarok(sig));
    on('SIGHUP', () => {
      this.log.info({ event: 'reload-all' }, 'SIGHUP: reloading every vassal');
      this.ops.notifier.reloading();
      for (const v of this.vassals.values()) v.reload('SIGHUP');
      // the reloads are under way, each vassal on its own: the emperor itself is ready again
      this.ops.notifier.ready(this.ops.statusText());
    });
    on('SIGURG', () => {
      this.log.info({ event: 'blacklist-cleared' }, 'cleaning up blacklist ...');
      this.blacklist.clear();
      for (const v of this.vassals.values()) v.unthrottle();
    });
    on('SIGUSR1', () => {
      for (const v of this.vassals.values()) this.log.info({ event: 'status', vassal: v.name, ...v.stats() }, v.statusLine());
    });
  }

  /** INT/TERM/QUIT: stop every vassal, wait (at most reload-mercy), exit 0. A second signal kills everything now. */
  ragnarok(sig: string): void {
    if (this.ragnarokAt) {
      this.log.warn({ event: 'ragnarok-forced', signal: sig }, 'second signal during Ragnarok: killing every vassal now');
      this.killAll();
      return;
    }
    this.ragnarokAt = Date.now();
    this.log.info({ event: 'ragnarok', signal: sig }, '*** RAGNAROK EVOKED ***');
    this.ops.notifier.stopping();
    for (const m of this.monitors) m.stop();
    this.cgroups?.beginTeardown();
    if (this.vassals.size === 0) return this.buried();
    for (const v of [...this.vassals.values()]) v.remove();
    this.mercyTimer = setTimeout(() => {
      for (const v of this.vassals.values()) this.log.warn({ event: 'no-mercy', vassal: v.name }, `NO MERCY for vassal ${v.name} !!!`);
      this.killAll();
    }, this.opts.reloadMercySeconds * 1000);
  }

  /** Every vassal SIGKILLed: one write to the emperor's cgroup.kill, or one by one without cgroup v2. */
  private killAll(): void {
    if (this.cgroups?.killAll()) return;
    for (const v of this.vassals.values()) v.killNow();
  }

  private buried(): void {
    clearTimeout(this.mercyTimer);
    for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
    this.scanner?.close();
    if (this.runtimeDir) removeRuntimeDir(this.runtimeDir);
    const finish = () => {
      fs.closeSync(this.devNull);
      this.log.info({ event: 'buried', seconds: (Date.now() - this.ragnarokAt) / 1000 }, 'The Emperor is buried.');
      this.exited?.(0);
    };
    // every vassal is gone: the leases go now, and with them the claims and endpoints, for the others to take over;
    // the emperor's own helpers end, so that nothing of it outlives "buried"
    const helpers = this.endHelpers().then(() => this.cgroups?.destroy());
    void Promise.all([helpers, this.cluster?.close(), this.stats?.close(), this.ops.close()]).then(finish, finish);
  }

  /**
   * Every helper of the emperor ends (docs/ARCHITECTURE.md, Processes): the readers and agents are closed and exit,
   * and whatever is left of them is killed through their cgroups. One stuck in the kernel (a FUSE request its daemon
   * never answers) cannot die before that daemon does: it is named in the log, and left.
   */
  private async endHelpers(): Promise<void> {
    const [, agents] = await Promise.all([this.reader?.close(), AgentProcess.allExited(HELPER_GRACE_MS)]);
    const left = this.helpers ? await this.helpers.killAll(HELPER_KILL_WAIT_MS) : agents.map((a) => a.pid);
    if (left.length > 0)
      this.log.warn(
        { event: 'helpers-stuck', pids: left },
        `helper processes stuck in the kernel (a hung mount?) are left behind: ${left.join(', ')}`,
      );
  }

  /** emperor drain: this node hands its pool vassals over, one at a time, then claims nothing until resumePool. */
  async drainPool(moved: (vassal: string, where: string) => void): Promise<string> {
    const cluster = this.cluster!;
    const n = await cluster.drain(moved);
    return cluster.draining
      ? `node ${cluster.node} is drained: ${n} vassal${n === 1 ? '' : 's'} handed over; it claims nothing until emperor resume-pool`
      : `the drain of node ${cluster.node} was ended by emperor resume-pool after ${n} vassal${n === 1 ? '' : 's'}`;
  }

  async resumePool(): Promise<string> {
    const cluster = this.cluster!;
    const { runs, vassals } = await cluster.resume();
    return `node ${cluster.node} takes vassals again: it runs ${runs} of the pool's ${vassals}`;
  }

  private outputOptions(): OutputOptions {
    const o = this.opts;
    return { ratePerSecond: o.logRate, ringLines: o.logRing, logsDir: o.logsDir, maxFileBytes: o.logsMaxBytes, keepFiles: o.logsKeep };
  }

  outputOf(v: Vassal): VassalOutput | undefined {
    return this.outputs.get(v);
  }

  blacklistEntries() {
    return this.blacklist.entries();
  }

  statsLimits() {
    return this.stats?.limits;
  }

  allScanned(): boolean {
    return this.scannedOnce;
  }

  /** uWSGI's emperor stats layout (docs/UWSGI.md §6), same keys and order, plus our own fields after them. */
  snapshot(visible?: (v: Vassal) => boolean): StatsDocument {
    const shown = visible ? [...this.vassals.values()].filter(visible) : [...this.vassals.values()];
    const names = new Set(shown.map((v) => v.name));
    const blacklist = this.blacklist.entries();
    return {
      version: VERSION,
      pid: process.pid,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      cwd: process.cwd(),
      emperor: this.monitors.map((m) => m.id),
      emperor_tyrant: +this.opts.tyrant,
      throttle_level: 0,
      vassals: shown.map((v) => {
        // cpu (percent of one CPU between the last two samples) and memory once the vassal has been sampled
        const u = this.ops.usageOf(v);
        const base = { ...v.stats(), owner: this.cluster?.ownerOf(v.source) ?? '' };
        return u ? { ...base, cpu: Math.round(u.cpuPercent * 10) / 10, memory: u.memoryBytes } : base;
      }),
      blacklist: visible ? blacklist.filter((e) => names.has(e.id)) : blacklist,
      emperor_impl: 'emperor',
      ragnarok: this.ragnarokAt ? 1 : 0,
      monitor_errors: this.monitors.flatMap((m) => m.errors.map((e) => ({ monitor: m.id, ...e }))),
      node: this.cluster?.node ?? '',
      pool: this.cluster?.placement() ?? [],
    };
  }
}

/** Vassals are keyed by monitor and name: two monitors may both have an app.ini. */
function key(src: VassalSource): string {
  return `${src.monitor}\0${src.name}`;
}
