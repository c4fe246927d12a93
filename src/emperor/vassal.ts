// One vassal: the state machine that owns every transition of one config source's instances.
//
//   throttled/broken/exiled/stopped --start--> starting --(config read, exec'd, app up)--> running --reload--> running
//        ^                                |                                            |
//        +----------- death -------------+--------------------------------------------+--stop--> stopping --exit--> gone
//
// On demand (src/emperor/ondemand.ts), `start` is `dormant` first: a connection on the vassal's socket starts it,
// and its exit (a 22, a death) brings it back to dormant.
//
// Only this class changes a vassal's state; the emperor feeds it events (file changes, signals) and the instance
// feeds it process events (exit, protocol bytes, jail-plan step reports). An admin's stop (the control socket) holds
// it `stopped` until its file changes or an admin's start. Nothing here waits: the config is read by
// the reader processes and the spawn's outcome arrives later, so `starting` covers both.
import type { ConfigError } from '../config/errors';
import type { ResolvedConfig } from '../config/types';
import { vassalLogger, type Logger } from '../log';
import type { ExitInfo, NativeError } from '../native';
import type { VassalSource } from '../monitors/types';
import type { StepReport } from '../jail';
import { FROM_VASSAL, TO_VASSAL } from '../tables/uwsgi-protocol';
import { isSubscriptionOption } from '../tables/routers';
import { killCgroup } from '../cgroup/tree';
import { forceEnd } from '../cgroup/helpers';
import { launch, requestConfig, type Instance, type InstanceEvents, type LaunchContext, type ReadConfig } from './launch';
import type { FileOwner } from '../file-identity';
import type { VassalOutput } from '../output/vassal-output';
import { OnDemand, onDemandEnabled } from './ondemand';
import { ownerOf, type Credentials, type CredentialsOrRefusal, type TyrantRead } from './tyrant';
import type { Blacklist } from './blacklist';
import type { VassalStats } from '../ops/stats-document';
import { isLimit, type LimitWatch } from './host-limits';
import { detached } from '../detach';

export type VassalState =
  'starting' | 'running' | 'stopping' | 'throttled' | 'broken' | 'exiled' | 'refused' | 'stopped' | 'dormant' | 'gone';

/** uWSGI's exit code for "do not respawn me" (UWSGI_EXILE_CODE). */
const EXILE_CODE = 26;

/** Config read failures worth retrying on their own (a hung mount, no process to be had); others wait for an edit. */
const TRANSIENT = new Set(['ETIMEDOUT', 'EAGAIN', 'EBUSY']);

/**
 * Why an instance did not come up: its exit then means a broken config, or (transient) a retry after a throttle, or
 * (limit) a retry on the limit-reached backoff.
 */
interface StartFailure {
  message: string;
  transient: boolean;
  limit?: Error & { code?: string };
}

/**
 * What the emperor hears from its vassals: one object for all of them, so a vassal holds no listener, closure or
 * EventEmitter table of its own (at 10,000 vassals those were a good part of the emperor's memory).
 */
export interface VassalObserver {
  /** An instance was spawned, or reloaded, with this config (the cluster code publishes its sockets). */
  launched?(v: Vassal, config: ResolvedConfig): void;
  /** Whether launched() wants the config a uWSGI vassal reloads with (read only for that). */
  publishes?(v: Vassal): boolean;
  exited?(v: Vassal): void;
  /** The instance came up, spawnMs after its start began. */
  running?(v: Vassal, spawnMs: number): void;
  configError?(v: Vassal): void;
  /** Stopped for good: the emperor forgets it. */
  gone?(v: Vassal): void;
}

export interface VassalContext extends LaunchContext {
  observer?: VassalObserver;
  blacklist: Blacklist;
  /** Host limits reached (EMFILE, EAGAIN...): one log line per episode and a shared backoff. */
  limits?: LimitWatch;
  /** Tyrant mode: the credentials a vassal runs with, or a refusal reason. */
  credentialsFor(src: VassalSource): CredentialsOrRefusal;
}

const secs = (ms: number) => Math.floor(ms / 1000);

export class Vassal implements InstanceEvents {
  state: VassalState = 'throttled';
  private instance?: Instance;
  private timer?: NodeJS.Timeout;
  private loyalTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private jailTimer?: NodeJS.Timeout;
  private removing = false;
  /** Stopped by an admin: no start until its file changes or an admin starts it. */
  private held = false;
  private spawnBeganMs = 0;
  private restartAfterStop = false;
  private setupError?: string;
  /** The config read in flight for a start (its sequence number), 0 when none: a newer read or a removal voids it. */
  private reading = 0;
  private readSeq = 0;
  private reloadSeq = 0;
  /** Set when this instance failed to start: decides what its exit means. */
  private failure?: StartFailure;
  private lastExit?: string;
  /** Router options already named in a warning (once per vassal, not per start). */
  private routerSaid?: Set<string>;
  /** Whoever waits for this vassal to be gone (whenGone), made on first ask. */
  private goneWaiters?: Array<() => void>;
  private buried = false;
  /** With --emperor-on-demand-*: the socket this vassal sleeps on. */
  private readonly onDemand?: OnDemand;

  // uWSGI's per-instance stats fields (docs/UWSGI.md §6), unix seconds
  born: number;
  lastMod: number;
  firstRun = 0;
  lastRun = 0;
  loyal = false;
  lastLoyal = 0;
  ready = false;
  lastReady = 0;
  accepting = false;
  lastAccepting = 0;
  lastHeartbeat = 0;
  cursedAt = 0;
  respawns = 0;
  deaths = 0;
  uid: number;
  gid: number;
  startedAtMs = 0;

  constructor(
    public source: VassalSource,
    private readonly ctx: VassalContext,
    /** Where its stdout and stderr go (the emperor's own without it). */
    private readonly output?: VassalOutput,
  ) {
    this.born = secs(source.mtimeMs);
    this.lastMod = this.born;
    this.uid = source.uid;
    this.gid = source.gid;
    if (onDemandEnabled(ctx.opts)) {
      this.onDemand = new OnDemand(() => this.source, ctx, vassalLogger(source.name), {
        wake: () => this.woken(),
        ordinary: () => this.start(),
        failed: (err) => {
          if (!this.atLimit(err, () => this.start())) this.brokenBy(err.message);
        },
      });
    }
  }

  get name(): string {
    return this.source.name;
  }

  get pid(): number {
    return this.instance?.child.pid ?? -1;
  }

  /** The running instance's cgroup directory, if it has one. */
  get cgroup(): string | undefined {
    return this.instance?.cgroup;
  }

  /** A pino child per event (about 1 us): a dormant vassal keeps no logger. */
  private get log(): Logger {
    return vassalLogger(this.name);
  }

  /** Start now, or when the blacklist allows it; on demand, when a connection comes. */
  start(): void {
    if (this.removing || this.instance || this.held) return;
    if (this.onDemand && !this.onDemand.ordinary) return this.sleep();
    this.startSoon();
  }

  private startSoon(): void {
    const delay = this.ctx.opts.noBlacklist ? 0 : this.ctx.blacklist.delayMs(this.name, Date.now());
    if (delay > 0) {
      this.state = 'throttled';
      this.log.warn({ event: 'throttled', delay_ms: delay }, `vassal throttled for ${delay} ms`);
      this.arm(delay, () => this.spawnNow());
      return;
    }
    this.spawnNow();
  }

  /** On demand: dormant until a connection waits on the vassal's socket (found and bound first, as its owner). */
  private sleep(): void {
    const creds = this.ctx.credentialsFor(this.source);
    if ('refused' in creds) return this.refused(creds.refused);
    this.state = 'dormant';
    this.onDemand!.wait(ownerOf(creds) ?? null);
  }

  private woken(): void {
    if (this.removing || this.instance || this.state !== 'dormant') return;
    this.log.info({ event: 'on-demand-wake' }, 'a connection is waiting: starting the vassal');
    this.startSoon();
  }

  private refused(reason: string): void {
    // once per refusal: touching a file that is still root-owned does not repeat the line
    if (this.state !== 'refused' || this.setupError !== reason) this.log.error({ event: 'refused', file: this.source.path }, reason);
    this.state = 'refused';
    this.setupError = reason;
  }

  private spawnNow(): void {
    this.clearTimer();
    if (this.removing || this.instance || this.reading) return;
    const creds = this.ctx.credentialsFor(this.source);
    if ('refused' in creds) return this.refused(creds.refused);
    const seq = ++this.readSeq;
    this.reading = seq;
    this.state = 'starting';
    this.spawnBeganMs = Date.now();
    detached(
      requestConfig(this.source, this.ctx, creds, false).then((r) => {
        if (this.reading !== seq) return; // an edit started a newer read, or the vassal went
        this.reading = 0;
        if ('refused' in r) this.refused(r.refused);
        else if ('owner' in r) this.ownerFound(r.owner);
        else if ('error' in r) this.notStarted(r.error);
        else this.launchWith(r, creds);
      }),
      'config read',
    );
  }

  private notStarted(err: ConfigError): void {
    if (err.code === 'ESHUTDOWN') return;
    if (this.atLimit(err)) return;
    if (!TRANSIENT.has(err.code)) return this.brokenBy(err.message);
    // a hung mount or a missing process: tried again after a throttle that grows, as for a crash loop
    this.setupError = err.message;
    this.log.error({ event: 'config-timeout', error: err.message, code: err.code }, `config not read, retrying: ${err.message}`);
    if (!this.ctx.opts.noBlacklist) this.ctx.blacklist.add(this.name, Date.now());
    this.start();
  }

  /**
   * The file's one open shows another owner than the one it was read as: the vassal is that owner's now (an owner
   * change, whatever the monitor saw), and it is read again as them. A file that flips owners between reads costs a
   * throttle per flip, never a busy loop.
   */
  private ownerFound(owner: FileOwner): void {
    if (!this.ctx.opts.noBlacklist) this.ctx.blacklist.add(this.name, Date.now());
    if (this.instance) return this.fileChanged({ ...this.source, uid: owner.uid, gid: owner.gid });
    this.log.warn(
      { event: 'owner-changed', uid: owner.uid, gid: owner.gid },
      `the config file's open shows owner uid ${owner.uid} gid ${owner.gid}, not the one it was read as: read again as them`,
    );
    this.ownerIs(owner);
    this.startSoon();
  }

  /**
   * The vassal's owner is now `owner`: its control rights and stats at once, and in tyrant mode an owner change is a
   * new vassal: its on-demand socket is bound again as the new owner, and what the old owner's instances printed is
   * no longer shown (src/output/vassal-output.ts).
   */
  private ownerIs(owner: FileOwner): void {
    if (owner.uid === this.uid && owner.gid === this.gid) return;
    this.source = { ...this.source, uid: owner.uid, gid: owner.gid };
    this.uid = owner.uid;
    this.gid = owner.gid;
    if (!this.ctx.opts.tyrant) return;
    this.onDemand?.reset();
    this.output?.newOwner();
  }

  private launchWith(read: ReadConfig, creds: Credentials): void {
    for (const w of read.config.warnings) this.log.warn({ event: 'config-warning', file: w.file, line: w.line }, w.message);
    for (const o of read.config.options) {
      if (!isSubscriptionOption(o.key) || this.routerSaid?.has(o.key)) continue;
      (this.routerSaid ??= new Set()).add(o.key);
      this.log.warn(
        { event: 'router-option-ignored', option: o.key, file: o.file, line: o.line },
        `${o.file}:${o.line}: ${o.key}: this emperor runs no FastRouter to subscribe to; an etcd:// vassal's sockets are published in etcd instead (see the README)`,
      );
    }
    let inst: Instance;
    try {
      inst = launch(this.source, read, this.ctx, creds, this, { output: this.output, listenFd: this.onDemand?.fd });
    } catch (e) {
      if (!this.atLimit(e)) this.brokenBy(describeSetupError(e));
      return;
    }
    this.ctx.limits?.ok();
    this.instance = inst;
    // the cluster code publishes the sockets of the config an instance runs
    this.ctx.observer?.launched?.(this, read.config);
    const now = Date.now();
    this.state = 'starting';
    this.failure = undefined;
    this.startedAtMs = now;
    this.firstRun ||= secs(now);
    this.lastRun = secs(now);
    this.cursedAt = 0;
    this.ready = this.accepting = false;
    this.lastHeartbeat = 0;
    inst.child.started.then(
      () => {
        // a uWSGI vassal runs once exec'd; a native one once its init reports the app
        if (this.instance === inst && !inst.native && this.state === 'starting') this.running();
      },
      (err: NativeError) => {
        if (this.instance !== inst) return;
        // the exit follows: a setup that hung or met a host limit is retried, and so is a tyrant's uWSGI vassal whose
        // file's name no longer led to its verified bytes (its path changed after the read: read again); any other is
        // a config to fix
        clearTimeout(this.loyalTimer);
        const limit = isLimit(err) ? err : undefined;
        const transient = err.code === 'ETIMEDOUT' || err.step === 'config_check' || limit !== undefined;
        this.failure = { message: describeSetupError(err), transient, limit };
        this.setupError = this.failure.message;
        // a host limit is said once per episode, at the exit that follows
        if (!limit) this.log.error({ event: 'setup-error', error: this.failure.message }, `vassal not started: ${this.failure.message}`);
      },
    );
    if (inst.native) this.armJailTimer(inst);
    this.log.info({ event: 'spawned', pid: this.pid, native: inst.native, cgroup: inst.cgroup }, 'vassal spawned');
    // a program that never speaks the protocol earns loyalty by staying up: a crash after a day of service is
    // then respawned at once instead of being throttled like a start-up crash loop
    const loyalAfter = this.ctx.opts.loyalAfterSeconds * 1000;
    if (!this.loyal) this.loyalTimer = setTimeout(() => this.becomeLoyal('uptime'), loyalAfter);
  }

  private running(): void {
    this.state = 'running';
    this.setupError = undefined;
    // from the config read to the app up: the metrics' spawn duration
    this.ctx.observer?.running?.(this, Date.now() - this.spawnBeganMs);
  }

  /** A jail plan that does not reach its app in time (a step stuck on a hung mount) is killed and retried. */
  private armJailTimer(inst: Instance): void {
    clearTimeout(this.jailTimer);
    const seconds = this.ctx.opts.jailTimeoutSeconds;
    this.jailTimer = setTimeout(() => {
      if (this.instance !== inst) return;
      const step = inst.currentStep();
      const where = step ? `${step.origin.file}:${step.origin.line}: ${step.origin.option}: ${step.op}` : 'the vassal init';
      const message = `${where} did not finish within ${seconds} s (a hung mount?): the vassal is killed and retried`;
      this.failure = { message, transient: true };
      this.setupError = message;
      this.log.error({ event: 'jail-timeout', seconds, step: step?.op, where: step && `${step.origin.file}:${step.origin.line}` }, message);
      this.killNow();
    }, seconds * 1000);
  }

  /**
   * A start refused by a host limit: tried again after the shared backoff, without a log line of its own (on demand,
   * the socket is looked for again, and the vassal sleeps on it).
   */
  private atLimit(err: unknown, retry = () => this.spawnNow()): boolean {
    if (!this.ctx.limits || !isLimit(err)) return false;
    this.state = 'throttled';
    this.setupError = describeSetupError(err);
    this.arm(this.ctx.limits.hit(err as Error, this.name), retry);
    return true;
  }

  private brokenBy(message: string): void {
    this.state = 'broken';
    this.setupError = message;
    this.ctx.observer?.configError?.(this);
    this.log.error({ event: 'setup-error', error: message }, `vassal not started: ${message}`);
  }

  /** The config file changed (mtime grew, or the owner changed). */
  fileChanged(src: VassalSource): void {
    const ownerChanged = src.uid !== this.uid || src.gid !== this.gid;
    this.source = src;
    this.lastMod = secs(src.mtimeMs);
    if (this.removing) return;
    this.ownerIs(src);
    if (this.held && this.instance) {
      // an admin's stop still under way: the new file starts once the old instance is gone
      this.held = false;
      this.restartAfterStop = true;
      return;
    }
    this.held = false;
    if (ownerChanged && this.ctx.opts.tyrant && this.instance) {
      // uWSGI: "permissions of file changed. stopping the instance..."; it comes back as the new owner (or refused)
      this.log.warn(
        { event: 'owner-changed', uid: src.uid, gid: src.gid },
        'permissions of the config file changed: restarting the vassal as its new owner',
      );
      this.restartAfterStop = true;
      this.stopInstance();
      return;
    }
    if (!this.instance) {
      // an explicit edit of a throttled, broken or exiled vassal is the admin asking for it now; a read in flight
      // is of the old content, so it is read again
      this.reading = 0;
      this.clearTimer();
      // on demand, an edit only updates a dormant vassal (uWSGI), and puts any other back to sleep
      if (this.onDemand && !this.onDemand.ordinary) return this.sleep();
      this.spawnNow();
      return;
    }
    this.reload('config changed');
  }

  /**
   * Graceful restart in place (file touch, SIGHUP, missed heartbeats). A native vassal's config is read again, and
   * so is a tyrant's uWSGI vassal's (it gets the bytes read then, checked as at its start); outside tyrant mode a
   * uWSGI vassal reads its file itself.
   */
  reload(reason: string): void {
    const inst = this.instance;
    if (!inst || this.state === 'stopping') return;
    if (!inst.native && !this.ctx.opts.tyrant) {
      // uWSGI reads its file again itself; in pool mode the emperor reads it too, to publish the sockets it binds now
      this.reloaded(inst, reason, undefined);
      if (this.ctx.observer?.publishes?.(this)) this.readAfterReload(inst);
      return;
    }
    const creds = this.ctx.credentialsFor(this.source);
    if ('refused' in creds) return; // an owner change stops the vassal on its own
    const seq = ++this.reloadSeq;
    detached(
      requestConfig(this.source, this.ctx, creds, true).then((r) => {
        if (this.instance !== inst || seq !== this.reloadSeq || this.state === 'stopping') return;
        if ('owner' in r) return this.ownerFound(r.owner);
        this.reloaded(inst, reason, r);
      }),
      'config read for a reload',
    );
  }

  /**
   * uWSGI reads its file again itself on a reload; the emperor reads it too (as on a reload: if-reload blocks on), only
   * to publish the sockets the vassal binds now.
   */
  private readAfterReload(inst: Instance): void {
    const creds = this.ctx.credentialsFor(this.source);
    if ('refused' in creds) return;
    const seq = ++this.reloadSeq;
    detached(
      requestConfig(this.source, this.ctx, creds, true).then((r) => {
        if (this.instance !== inst || seq !== this.reloadSeq || this.state === 'stopping') return;
        if ('config' in r) return this.ctx.observer?.launched?.(this, r.config);
        const why = 'error' in r ? r.error.message : 'refused' in r ? r.refused : 'its owner changed';
        this.log.warn({ event: 'endpoints-stale', error: why }, `config not read after the reload, its published sockets are kept: ${why}`);
      }),
      'config read after a reload',
    );
  }

  private reloaded(inst: Instance, reason: string, read: Exclude<TyrantRead, { owner: FileOwner }> | undefined): void {
    if (read && 'refused' in read) return this.reloadRefused(read.refused);
    try {
      if (read && 'error' in read) throw read.error;
      inst.reload(read);
    } catch (e) {
      return this.reloadRefused(describeSetupError(e));
    }
    if (inst.native) this.armJailTimer(inst);
    if (read) this.ctx.observer?.launched?.(this, read.config);
    this.respawns++;
    this.lastRun = secs(Date.now());
    this.ready = this.accepting = false;
    this.log.info({ event: 'reload', reason }, 'vassal reloading');
  }

  /** A config that no longer reads, compiles or passes the tyrant's rules: the running app is kept, the error shown. */
  private reloadRefused(message: string): void {
    this.setupError = message;
    this.ctx.observer?.configError?.(this);
    this.log.error({ event: 'reload-refused', error: message }, `reload refused, the running instance is kept: ${message}`);
  }

  /** The config source is gone: stop for good. */
  remove(): void {
    this.removing = true;
    this.reading = 0;
    this.clearTimer();
    if (!this.instance) {
      this.finish();
      return;
    }
    this.stopInstance();
  }

  /**
   * Kill whatever is left of the instance at once (second Ragnarok signal, mercy expired): through its cgroup; without
   * one, a signal the kernel may refuse (a capability-limited emperor and a tenant's init), which is logged.
   */
  killNow(): void {
    const inst = this.instance;
    if (!inst) return;
    if (inst.cgroup && killCgroup(inst.cgroup)) return;
    forceEnd(inst.child, undefined, (e) =>
      this.log.warn({ event: 'kill-refused', pid: inst.child.pid, code: e.code }, `the vassal could not be killed: ${e.message}`),
    );
    killProcessGroup(inst.child.pid);
  }

  private stopInstance(): void {
    const inst = this.instance;
    if (!inst || this.state === 'stopping') return;
    this.state = 'stopping';
    this.cursedAt = secs(Date.now());
    inst.stop(this.ctx.opts.gracefulShutdown);
    this.log.info({ event: 'stop' }, 'stop the vassal');
    this.arm(this.ctx.opts.curseToleranceSeconds * 1000, () => {
      this.log.warn({ event: 'no-mercy' }, 'vassal still alive after the curse tolerance: killing it');
      this.killNow();
    });
  }

  onProtocol(byte: number): void {
    const now = secs(Date.now());
    switch (byte) {
      case FROM_VASSAL.spawned:
        this.ready = true;
        this.lastReady = now;
        if (this.state === 'starting') this.running();
        break;
      case FROM_VASSAL.accepting:
        this.accepting = true;
        this.lastAccepting = now;
        if (this.state === 'starting') this.running();
        break;
      case FROM_VASSAL.loyal:
        this.becomeLoyal('protocol');
        break;
      case FROM_VASSAL.voluntaryShutdown:
        // stopped; it comes back at once (its file still exists; uWSGI: at the next scan), or on demand goes dormant
        this.log.info({ event: 'voluntary-shutdown' }, 'vassal asked to be stopped');
        this.restartAfterStop = true;
        this.stopInstance();
        break;
      case FROM_VASSAL.heartbeat:
        this.lastHeartbeat = now;
        this.armHeartbeat();
        break;
      default:
        this.log.debug({ event: 'protocol', byte }, 'ignored protocol byte');
    }
  }

  private armHeartbeat(): void {
    const ms = this.ctx.opts.requiredHeartbeatSeconds * 1000;
    if (this.heartbeatTimer) {
      this.heartbeatTimer.refresh();
      return;
    }
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      this.lastHeartbeat = 0;
      this.log.warn(
        { event: 'heartbeat-missed', seconds: this.ctx.opts.requiredHeartbeatSeconds },
        'vassal sent no heartbeat in time: reloading it',
      );
      this.reload('heartbeat missed');
    }, ms);
  }

  onStep(report: StepReport): void {
    const where = `${report.origin.file}:${report.origin.line}`;
    const fields = {
      event: report.ok ? 'step' : 'step-failed',
      step: report.step,
      where,
      option: report.origin.option,
      code: report.code,
      errno: report.errno,
      syscall: report.syscall,
      path: report.path,
    };
    if (report.ok) this.log.debug(fields, report.message);
    else if (this.ctx.limits && isLimit(report))
      this.ctx.limits.hit(
        Object.assign(new Error(`${report.syscall} ${report.path ?? ''}: ${report.message}`), { code: report.code }),
        this.name,
      );
    else this.log.error(fields, `${where}: ${report.origin.option}: ${report.step} failed: ${report.message}`);
  }

  /**
   * A fatal plan step failed: the init exits, and the vassal is shown as a broken config, not a crash loop. This
   * report, not the init's exit code, says so: an app may exit with any code of its own.
   */
  onStepFailed(report: StepReport): void {
    const detail = [report.code, report.syscall, report.path].filter(Boolean).join(' ');
    const message = `${report.origin.file}:${report.origin.line}: ${report.origin.option}: ${report.step} failed${detail ? ` (${detail})` : ''}: ${report.message}`;
    // a host limit (the init's fork of the app refused) is retried, not a config to fix
    const limit = isLimit(report) ? Object.assign(new Error(message), { code: report.code }) : undefined;
    this.failure = { message, transient: limit !== undefined, limit };
    this.setupError = this.failure.message;
  }

  onAppStarted(pid: number, inPlace: boolean): void {
    clearTimeout(this.jailTimer);
    this.jailTimer = undefined;
    if (this.state === 'starting') this.running();
    if (inPlace) this.log.info({ event: 'reloaded-in-place', app_pid: pid }, 'the app reloaded itself');
    else this.log.info({ event: 'app-started', app_pid: pid }, 'app started');
  }

  private becomeLoyal(how: 'protocol' | 'uptime'): void {
    // an instance that failed to start (a setup or jail step that hung, still dying) earns nothing by lasting
    if (!this.instance || this.failure) return;
    if (!this.loyal) this.log.info({ event: 'loyal', how }, 'vassal is now loyal');
    this.loyal = true;
    this.lastLoyal = secs(Date.now());
    this.ctx.blacklist.loyal(this.name);
    clearTimeout(this.loyalTimer);
    this.loyalTimer = undefined; // a cleared Timeout is still 120 bytes that a dormant vassal need not keep
  }

  /** The init broke its wire: the vassal is killed, and shown broken with the reason until its file changes. */
  onInitProtocolError(reason: string): void {
    const message = `the vassal init broke the init wire (${reason}): the vassal is killed`;
    this.failure = { message, transient: false };
    this.setupError = message;
    this.log.error({ event: 'init-protocol-error', reason }, message);
    this.killNow();
  }

  onFallback(byte: number): void {
    this.log.warn(
      { event: 'protocol-fallback', byte },
      `the app did nothing with protocol byte ${byte} in time: the init ${byte === TO_VASSAL.reload ? 'restarts' : 'stops'} it itself`,
    );
  }

  onExit(info: ExitInfo): void {
    const inst = this.instance!;
    this.instance = undefined;
    this.ctx.observer?.exited?.(this);
    clearTimeout(this.loyalTimer);
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.jailTimer);
    this.heartbeatTimer = undefined;
    this.clearTimer();
    inst.close();
    // what the vassal left behind dies with it: its cgroup, or without cgroup v2 its process group (every vassal
    // starts a session of its own, so the group is its; Linux keeps a pid that still names a group from reuse)
    if (inst.cgroup) this.ctx.releaseCgroup?.(inst.cgroup);
    else killProcessGroup(inst.child.pid);
    this.lastExit = info.signal ? `killed by ${info.signal}` : `exit ${info.code}`;
    const stopping = this.state === 'stopping';
    this.log.info({ event: 'exit', code: info.code, signal: info.signal, requested: stopping }, `vassal ${this.lastExit}`);
    this.ready = this.accepting = false;
    const failure = this.failure;
    this.failure = undefined;
    if (this.removing) return this.finish();
    if (this.held) {
      this.state = 'stopped';
      return;
    }
    if (failure && !failure.transient && !stopping) {
      // a jail-plan step or the exec failed: that is a broken config, not an app crash loop
      this.state = 'broken';
      this.setupError = failure.message;
      return;
    }
    if (stopping && this.restartAfterStop) {
      this.restartAfterStop = false;
      this.start();
      return;
    }
    if (failure?.limit && !stopping && this.atLimit(failure.limit)) return;
    if (info.code === EXILE_CODE) {
      this.state = 'exiled';
      this.log.warn({ event: 'exiled' }, 'vassal exited with code 26: not respawning it until its config changes');
      return;
    }
    this.deaths++;
    if (!this.loyal && !this.ctx.opts.noBlacklist) this.ctx.blacklist.add(this.name, Date.now());
    this.loyal = false;
    this.start();
  }

  private finish(): void {
    this.state = 'gone';
    clearTimeout(this.loyalTimer);
    // gone once its socket is closed and removed too
    if (this.onDemand)
      detached(
        this.onDemand.close().then(() => this.gone()),
        'on-demand socket close',
      );
    else this.gone();
  }

  private gone(): void {
    this.buried = true;
    this.ctx.observer?.gone?.(this);
    for (const w of this.goneWaiters?.splice(0) ?? []) w();
  }

  /** Resolves once the vassal is gone (stopped for good, its on-demand socket closed). */
  whenGone(): Promise<void> {
    if (this.buried) return Promise.resolve();
    return new Promise((resolve) => (this.goneWaiters ??= []).push(resolve));
  }

  private arm(ms: number, fn: () => void): void {
    this.clearTimer();
    this.timer = setTimeout(fn, ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** SIGURG: the blacklist is gone, so a throttled vassal may start now. */
  unthrottle(): void {
    if (this.state === 'throttled' && !this.instance) this.spawnNow();
  }

  /** An admin's resume (uWSGI issue #1148): this vassal's throttle is forgotten and it starts now if it waits. */
  resume(): void {
    this.ctx.blacklist.loyal(this.name);
    this.unthrottle();
  }

  /** An admin's stop: stopped now, and held stopped until its file changes or adminStart(). */
  adminStop(): void {
    if (this.removing) return;
    this.held = true;
    this.restartAfterStop = false;
    if (this.instance) return this.stopInstance();
    this.reading = 0;
    this.clearTimer();
    this.state = 'stopped';
    this.log.info({ event: 'stopped' }, 'vassal stopped by an admin');
  }

  /** An admin's start: a held, throttled, broken or exiled vassal starts now (a running one is left as it is). */
  adminStart(): void {
    if (this.removing) return;
    if (this.instance) {
      if (this.held) this.restartAfterStop = true;
      this.held = false;
      return;
    }
    this.held = false;
    this.reading = 0;
    this.clearTimer();
    this.spawnNow();
  }

  /** uWSGI's per-vassal stats object, same keys in the same order, then ours. */
  stats(): VassalStats {
    return {
      id: this.name,
      pid: this.pid,
      born: this.born,
      last_mod: this.lastMod,
      last_heartbeat: this.lastHeartbeat,
      loyal: +this.loyal,
      ready: +this.ready,
      accepting: +this.accepting,
      last_loyal: this.lastLoyal,
      last_ready: this.lastReady,
      last_accepting: this.lastAccepting,
      first_run: this.firstRun,
      last_run: this.lastRun,
      cursed: this.cursedAt,
      zerg: 0,
      on_demand: this.onDemand?.name ?? '',
      uid: this.uid,
      gid: this.gid,
      monitor: this.source.monitor,
      respawns: this.respawns,
      // ours
      state: this.state,
      native: this.instance ? +this.instance.native : undefined,
      deaths: this.deaths,
      uptime: this.instance ? secs(Date.now() - this.startedAtMs) : 0,
      last_exit: this.lastExit ?? '',
      setup_error: this.setupError ?? '',
    };
  }

  /** The SIGUSR1 line, uWSGI's wording. */
  statusLine(): string {
    return `vassal instance ${this.name} (last modified ${this.lastMod}) status ${this.state === 'stopping' ? 1 : 0} loyal ${+this.loyal} zerg 0 state ${this.state} pid ${this.pid}`;
  }
}

function killProcessGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* ESRCH: nobody left in the group */
  }
}

function describeSetupError(e: unknown): string {
  const err = e as Partial<NativeError> & { file?: string; line?: number };
  if (err.step === 'config_check')
    return `the config file's name no longer led to its verified bytes once they were mounted there (something on its path changed after it was read; ${err.code}): it is read again`;
  if (err.step) {
    const what = [err.code, err.path].filter(Boolean).join(' ');
    return `${err.step} failed${what ? ` (${what})` : ''}: ${err.message}`;
  }
  return err.message ?? String(e);
}
