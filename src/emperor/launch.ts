// Starting one vassal instance: a real uWSGI (exec binary-path on the file, as uWSGI's emperor does) or a native
// vassal (our init executing the jail plan). Both come back as an Instance with the same channel surface.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResolvedConfig } from '../config/types';
import type { FileFacts } from '../file-identity';
import type { VassalSource as MonitorSource } from '../monitors/types';
import * as native from '../native';
import { resolveExecutable } from '../executable';
import type { ConfigReader } from '../reader/pool';
import type { HelperCgroups } from '../cgroup/helpers';
import { InitLink, compilePlan, inheritStep, initExecutable, isNativeVassal } from '../jail';
import type { AppEvent, LinkEvents, PlanStep, StepReport } from '../jail';
import { checkSpawnPrivileges } from '../privileges';
import { configFlagOf } from '../tables/formats';
import { TO_VASSAL } from '../tables/uwsgi-protocol';
import { UwsgiChannel } from './uwsgi-channel';
import type { EmperorOptions } from './options';
import type { InstanceOutput, OutputStream, VassalOutput } from '../output/vassal-output';
import {
  environmentOf,
  initNamespaceArgs,
  judgeRead,
  ownerOf,
  tyrantPlan,
  tyrantSpawnOptions,
  wantsUserNamespace,
  type Credentials,
  type Owner,
  type TyrantRead,
  type VassalEnvironments,
} from './tyrant';
import type { ConfigSnapshots, Snapshot } from './config-snapshot';

export interface LaunchContext extends VassalEnvironments {
  opts: EmperorOptions;
  namespaces: native.Namespace[];
  /** Where the emperor's helpers (agents, readers) get their cgroups; undefined where cgroup v2 is not usable. */
  helpers?: HelperCgroups;
  /** Where the instance's cgroup directory is made; undefined where cgroup v2 is not usable. */
  makeCgroup?: (vassal: string) => string;
  /** After an instance's exit: kills what is left in its cgroup directory and removes it. */
  releaseCgroup?: (dir: string) => void;
  devNull: number;
  /** Resolves vassal configs off the event loop, with the vassal's rights. */
  reader: ConfigReader;
  /** %b of every vassal config: the uWSGI binary, resolved once at start. */
  binaryPath: string;
  /** A tyrant that may mount: where its uWSGI vassals' verified bytes are kept (src/emperor/config-snapshot.ts). */
  snapshots?: ConfigSnapshots;
}

/** What one vassal brings to its launches besides the shared context. */
export interface LaunchIo {
  /** Where the vassal's stdout and stderr go; without it they are the emperor's own. */
  output?: VassalOutput;
  /** An on-demand vassal's listening socket (still the caller's: the child gets a copy). */
  listenFd?: number;
}

/** What an instance reports to its vassal: the Vassal itself implements these (no closures per instance). */
export interface InstanceEvents {
  onExit(info: native.ExitInfo): void;
  onProtocol(byte: number): void;
  /** Native vassals: a jail-plan step reported back (ok or failed), for the log. */
  onStep(report: StepReport): void;
  /** Native vassals: a plan step failed fatally; the init exits and the vassal's config is broken. */
  onStepFailed(report: StepReport): void;
  /** Native vassals: the app is running (the plan is done), or (inPlace) kept: it reloaded itself on byte 1. */
  onAppStarted(pid: number, inPlace: boolean): void;
  /** Native vassals: the app did nothing with a relayed protocol byte in time; the init stops or restarts it. */
  onFallback(byte: number): void;
  /** Native vassals: the init sent what its wire does not allow (its owner may write anything on its socket). */
  onInitProtocolError(reason: string): void;
}

export interface Instance {
  readonly child: native.Child;
  readonly native: boolean;
  readonly cgroup?: string;
  /**
   * Graceful restart in place: byte 1 to uWSGI; a native vassal runs the reload plan of `next` (its config read
   * with isReload) in the same namespaces. Throws ConfigError when that plan does not compile.
   */
  reload(next?: ReadConfig): void;
  stop(graceful: boolean): void;
  close(): void;
  /** Native vassals: the jail-plan step the init is running now (for a timeout's message). */
  currentStep(): PlanStep | undefined;
}

/**
 * Reads the vassal's config as uWSGI's vassal reads it: by the name the monitor found, relative to the vassal's
 * directory (so %o is 'app1.ini', not a path), in a reader process, with its owner's rights in tyrant mode, where
 * the facts of the file's one open are judged before anything of it runs (judgeRead).
 */
export async function requestConfig(
  src: MonitorSource,
  ctx: LaunchContext,
  credentials: Credentials,
  isReload: boolean,
): Promise<TyrantRead> {
  const r = await ctx.reader.read(readRequest(src, ctx, credentials, isReload));
  return judgeRead(r, src.name, ctx.opts.tyrant ? ownerOf(credentials) : undefined, ctx.opts.tyrantNofollow);
}

/**
 * What the reader is asked for a vassal's config: its name, directory, owner, the emperor's vassal-wide options, and
 * the environment the vassal will have when that is not the reader's own (a tyrant vassal's clean one).
 */
export function readRequest(
  src: MonitorSource,
  ctx: Pick<LaunchContext, 'opts' | 'binaryPath' | 'env' | 'ownerEnv'>,
  credentials: Credentials,
  isReload: boolean,
) {
  const owner = ctx.opts.tyrant ? ownerOf(credentials) : undefined;
  return {
    ...(owner && ctx.ownerEnv && { env: environmentOf(ctx, owner) }),
    spec: src.name,
    cwd: src.dir,
    isReload,
    identity: owner ? { uid: owner.uid, gid: owner.gid, groups: owner.groups } : null,
    tyrantNofollow: ctx.opts.tyrantNofollow,
    set: ctx.opts.vassalSet,
    includes: ctx.opts.vassalsInclude,
    includesBefore: ctx.opts.vassalsIncludeBefore,
    inherits: ctx.opts.vassalsInherit,
    inheritsBefore: ctx.opts.vassalsInheritBefore,
    binaryPath: ctx.binaryPath,
  };
}

/** A config as the reader resolved it, with the shell its hooks run under. */
export interface ReadConfig {
  config: ResolvedConfig;
  shell: string;
  /** A tyrant's vassal: the facts of its file's one open (judged), and for a uWSGI vassal the bytes of that open. */
  opened?: FileFacts;
  bytes?: Buffer;
}

/** Where a native vassal's init finds the listening socket it is handed: after stdio and its control socket. */
const INHERITED_FD = 4;

/** The child's fds; an on-demand socket is fd 0 of a uWSGI vassal (as uWSGI does it), INHERITED_FD of an init. */
function stdioAndControl(
  devNull: number,
  stdout: number,
  stderr: number,
  control: number,
  isNative: boolean,
  listenFd: number | undefined,
): number[] {
  if (listenFd === undefined) return [devNull, stdout, stderr, control];
  return isNative ? [devNull, stdout, stderr, control, listenFd] : [listenFd, stdout, stderr, control];
}

/**
 * What runs: a native vassal's init; or uWSGI on the file, as uWSGI's emperor runs it, through emperor-init when
 * that makes the vassal's namespaces first (namespaceArgs).
 */
function vassalCommand(
  src: MonitorSource,
  ctx: LaunchContext,
  isNative: boolean,
  init: { relayOutput: boolean; namespaceArgs?: string[] },
): { file: string; argv: string[] } {
  const { opts } = ctx;
  const ns = init.namespaceArgs ?? [];
  if (isNative) return { file: initExecutable(), argv: ['emperor-init', src.name, ...(init.relayOutput ? ['--relay-output'] : []), ...ns] };
  const uwsgi = [
    opts.binaryPath,
    ...opts.vassalsInheritBefore.flatMap((f) => ['--inherit', f]),
    ...opts.vassalsIncludeBefore.flatMap((f) => ['--include', f]),
    ...opts.vassalSet.flatMap((kv) => ['--set', kv]),
    configFlagOf(src.name),
    src.name,
    ...opts.vassalsInherit.flatMap((f) => ['--inherit', f]),
    ...opts.vassalsInclude.flatMap((f) => ['--include', f]),
  ];
  const binary = resolveExecutable(opts.binaryPath, ctx.env.PATH);
  if (!init.namespaceArgs) return { file: binary, argv: uwsgi };
  return { file: initExecutable(), argv: ['emperor-init', src.name, ...ns, '--exec', binary, ...uwsgi] };
}

export function launch(
  src: MonitorSource,
  read: ReadConfig,
  ctx: LaunchContext,
  credentials: Credentials,
  on: InstanceEvents,
  { output: vassalOutput, listenFd }: LaunchIo = {},
): Instance {
  const cfg = read.config;
  const { opts } = ctx;
  const isNative = isNativeVassal(cfg);
  const owner = opts.tyrant ? ownerOf(credentials) : undefined;
  // everything that can fail on the config is decided before any fd or cgroup exists
  const compiled = isNative ? compilePlan(cfg, { vassal: src.name, firstRun: true, shell: read.shell }) : undefined;
  const firstPlan =
    compiled && listenFd !== undefined ? { ...compiled, steps: [inheritStep(INHERITED_FD, cfg.file), ...compiled.steps] } : compiled;
  const userns = owner !== undefined && (firstPlan ? wantsUserNamespace(ctx.namespaces, firstPlan) : ctx.namespaces.includes('user'));
  const plan = firstPlan && (owner ? tyrantPlan(firstPlan, owner, userns) : firstPlan);
  // A tyrant's uWSGI vassal reads the verified bytes at its file's name: they are bind-mounted there, in its own
  // mount namespace (src/emperor/config-snapshot.ts); a tyrant that cannot mount relies on the path rules alone.
  const bytes = owner && !isNative && ctx.snapshots ? verifiedBytes(src, read) : undefined;
  // A native vassal always gets its own pid namespace (the init is its pid 1, so its death takes the whole vassal
  // with it) and its own mount namespace (a FUSE daemon started by a hook must die with the vassal, not leave a
  // dead mount on the host). Unless the user asked for fs isolation, host mounts still propagate in (slave).
  const own: native.Namespace[] = isNative ? ['pid', 'mount'] : bytes ? ['mount'] : [];
  const namespaces = own.length ? [...new Set<native.Namespace>([...ctx.namespaces, ...own])] : ctx.namespaces;
  const propagation = own.includes('mount') && !ctx.namespaces.includes('mount') ? ('slave' as const) : ('private' as const);
  // a tyrant's vassal with a user namespace: emperor-init makes the namespaces itself (tyrantSpawnOptions)
  const { file, argv } = vassalCommand(src, ctx, isNative, {
    relayOutput: vassalOutput !== undefined,
    namespaceArgs: userns ? initNamespaceArgs(namespaces, propagation) : undefined,
  });
  const tyrantIds = owner && tyrantSpawnOptions(owner, namespaces, userns);
  // the config's bind is made by the addon's child, still root, in a mount namespace of the spawn's own (under the
  // one the init makes itself with a user namespace)
  const identity = tyrantIds
    ? { ...tyrantIds, namespaces: bytes && userns ? ['mount' as const] : tyrantIds.namespaces }
    : { namespaces, ...credentials };
  checkSpawnPrivileges(src.name, identity);
  const base = environmentOf(ctx, owner);
  const env = isNative ? base : { ...base, UWSGI_EMPEROR_FD: '3' };

  const [ours, theirs] = native.socketpair();
  let cgroup: string | undefined;
  let child: native.Child;
  let output: InstanceOutput | undefined;
  let snapshot: Snapshot | undefined;
  try {
    if (bytes) snapshot = ctx.snapshots!.create(`${src.monitor}\0${src.name}`, owner!, bytes.bytes);
    const configBind = snapshot && {
      source: snapshot.path,
      target: bytes!.real,
      check: path.resolve(src.dir, src.name),
      dev: snapshot.dev,
      ino: snapshot.ino,
    };
    // a native vassal's init makes the pipes of its hooks and app itself, and relays them on the control socket
    output = vassalOutput?.open(isNative);
    cgroup = ctx.makeCgroup?.(src.name);
    const [stdout, stderr] = output ? [output.stdout ?? ctx.devNull, output.stderr ?? ctx.devNull] : [1, 2];
    const fds = stdioAndControl(ctx.devNull, stdout, stderr, theirs, isNative, listenFd);
    child = native.spawn(
      { file, argv, env, mountPropagation: propagation, configBind, cwd: src.dir, fds, cgroup, deathSignal: 'SIGKILL', ...identity },
      (info) => on.onExit(info),
    );
  } catch (e) {
    // bad options or no child at all; a failed setup rejects child.started instead (vassal.ts), and the exit that
    // follows closes `ours` and removes the cgroup through the instance, as for any exit
    native.closeFd(ours);
    output?.abort();
    if (cgroup) fs.rmdirSync(cgroup);
    if (snapshot) ctx.snapshots!.remove(snapshot);
    throw e;
  } finally {
    native.closeFd(theirs);
  }
  output?.attach(child.pid);
  if (!plan) return new UwsgiInstance(child, cgroup, ours, on, snapshot && { snapshots: ctx.snapshots!, snapshot });
  const inst = new NativeInstance(child, cgroup, ours, src.name, owner && { owner, userns }, on, output);
  inst.link.start(plan);
  return inst;
}

/** What a tyrant's uWSGI vassal runs: the bytes of its file's one open, and that file's real path. */
function verifiedBytes(src: MonitorSource, read: ReadConfig): { bytes: Buffer; real: string } {
  if (!read.bytes || !read.opened) throw new TypeError(`vassal ${src.name}: a tyrant's uWSGI vassal needs the verified bytes of its file`);
  return { bytes: read.bytes, real: read.opened.real };
}

/** A uWSGI vassal's instance: protocol bytes on its UWSGI_EMPEROR_FD socket. */
class UwsgiInstance implements Instance {
  readonly native = false;
  private readonly channel: UwsgiChannel;

  constructor(
    readonly child: native.Child,
    readonly cgroup: string | undefined,
    controlFd: number,
    on: InstanceEvents,
    /** A tyrant's: the snapshot mounted at its file's name. */
    private readonly verified?: { snapshots: ConfigSnapshots; snapshot: Snapshot },
  ) {
    this.channel = new UwsgiChannel(controlFd, on);
  }

  /** Byte 1: uWSGI execs itself again and reads its file; a tyrant's reads the bytes of `next`, checked for it. */
  reload(next?: ReadConfig): void {
    if (this.verified) {
      if (!next?.bytes) throw new TypeError(`a tyrant's uWSGI vassal reloads only with the verified bytes of its file`);
      this.verified.snapshots.rewrite(this.verified.snapshot, next.bytes);
    }
    this.channel.reload();
  }

  stop(graceful: boolean): void {
    this.channel.stop(graceful);
  }

  close(): void {
    this.channel.close();
    if (this.verified) this.verified.snapshots.remove(this.verified.snapshot);
  }

  currentStep(): undefined {
    return undefined;
  }
}

/** A native vassal's instance: its init, spoken to through an InitLink whose events it passes on to the vassal. */
class NativeInstance implements Instance, LinkEvents {
  readonly native = true;
  readonly link: InitLink;

  constructor(
    readonly child: native.Child,
    readonly cgroup: string | undefined,
    controlFd: number,
    private readonly vassal: string,
    /** Tyrant mode: every plan, a reload's too, is made the owner's. */
    private readonly tyrant: { owner: Owner; userns: boolean } | undefined,
    private readonly on: InstanceEvents,
    private readonly output: InstanceOutput | undefined,
  ) {
    this.link = new InitLink(this);
    this.link.connect(new native.FdChannel(controlFd, this.link));
  }

  reload(next?: ReadConfig): void {
    if (!next) throw new TypeError(`vassal ${this.vassal}: a native reload needs the config read for it`);
    const plan = compilePlan(next.config, { vassal: this.vassal, firstRun: false, shell: next.shell });
    this.link.reload(this.tyrant ? tyrantPlan(plan, this.tyrant.owner, this.tyrant.userns) : plan);
  }

  stop(graceful: boolean): void {
    this.link.stop(undefined, graceful ? TO_VASSAL.gracefulStop : TO_VASSAL.stop);
  }

  close(): void {
    this.link.close();
  }

  currentStep(): PlanStep | undefined {
    return this.link.currentStep();
  }

  onProtocol(byte: number): void {
    this.on.onProtocol(byte);
  }

  onStep(r: StepReport): void {
    this.on.onStep(r);
  }

  onStepFailed(r: StepReport): void {
    this.on.onStepFailed(r);
  }

  onApp(e: AppEvent): void {
    if ('pid' in e) this.on.onAppStarted(e.pid, e.inPlace ?? false);
  }

  onFallback(byte: number): void {
    this.on.onFallback(byte);
  }

  onProtocolError(reason: string): void {
    this.on.onInitProtocolError(reason);
  }

  onOutput(stream: OutputStream, chunk: Buffer): void {
    this.output?.relay(stream, chunk);
  }

  onClosed(): void {
    this.output?.end();
  }
}
