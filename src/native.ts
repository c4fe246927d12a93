// The one typed door to the C++ addon. Nothing else in the project loads the .node file.
import * as path from 'node:path';
import { builtFile } from './package-info';
import type { Namespace } from './tables/namespaces';
import { NativeError } from './native-error';
import { parseMountFlags } from './tables/mount-flags';
import { signalName, signalNumber } from './tables/signals-errnos';

export { NativeError, nativeError } from './native-error';

export type { Namespace };

export interface SpawnOptions {
  /** Absolute path given to execve (no PATH search in the child; use resolveExecutable() first). */
  file: string;
  argv: string[];
  /** "KEY=VALUE" strings, or an object. */
  env: string[] | Record<string, string | undefined>;
  cwd?: string;
  /** child fd i <- parent fd fds[i]; -1 leaves child fd i closed. Every other fd is closed in the child. Default [0,1,2]. */
  fds?: number[];
  namespaces?: Namespace[];
  /** uid_map / gid_map text written for a new user namespace, e.g. "0 1000 1". */
  uidMap?: string;
  gidMap?: string;
  /** A cgroup v2 directory the child starts in (CLONE_INTO_CGROUP, or a write to cgroup.procs before exec). */
  cgroup?: string;
  /** New session (setsid). Default true. */
  setsid?: boolean;
  hostname?: string;
  /** In a new user namespace with a uidMap, 0 by default (the namespace's root), so that the map applies. */
  uid?: number;
  /** In a new user namespace with a gidMap, 0 by default. */
  gid?: number;
  /** Supplementary groups; [] clears them. */
  groups?: number[];
  /** Keep only these capabilities in the bounding set. */
  capBounding?: number[];
  /** Raise these as ambient capabilities (survive execve as a non-root uid). */
  capAmbient?: number[];
  noNewPrivs?: boolean;
  /** Parent-death signal, default SIGKILL; 0 disables it. */
  deathSignal?: NodeJS.Signals | number;
}

export interface ExitInfo {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly pid: number;
  /** false once the process is gone (the pidfd then refuses signals). */
  readonly alive: boolean;
  kill(signal?: NodeJS.Signals | number): boolean;
  /**
   * Resolves once the child has exec'd opts.file (or died with no failure to report: killed before it got there);
   * rejects with a NativeError when its setup failed (a step in the child, a step of the parent such as the uid_map
   * write, or the setupTimeout). Settles before onExit runs, its reactions included. Never an unhandled rejection
   * when ignored.
   */
  readonly started: Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Implementation.

export interface SpawnOptions {
  /** With the 'mount' namespace: the propagation applied recursively to / first. Default 'private' (as unshare(1)),
   *  so mounts made inside never reach the host. */
  mountPropagation?: 'private' | 'slave' | 'shared' | 'unchanged';
  /** Milliseconds the child has to reach execve; then it is sent SIGKILL and `started` rejects with ETIMEDOUT, step
   *  'setup_timeout' (e.g. a cwd on a hung FUSE mount; onExit still runs, whenever the kernel lets the child die).
   *  Default 10000; 0 = no limit. */
  setupTimeout?: number;
  /**
   * With the 'mount' namespace: the child, before any credential change, bind-mounts `source` read-only (nosuid,
   * nodev, noexec) over `target` and checks that `check` then leads to it (the inode dev/ino); else `started` rejects with
   * step 'config_bind', 'config_readonly' or 'config_check' (ESTALE: it leads elsewhere). A tyrant's uWSGI vassal
   * reads its verified config this way (native/addon/config_bind.cc).
   */
  configBind?: { source: string; target: string; check: string; dev: number; ino: number };
}

export interface Child {
  /** Keep (default) or stop keeping the event loop alive while the child runs. */
  ref(): void;
  unref(): void;
}

interface AddonChild {
  readonly pid: number;
  readonly alive: boolean;
  kill(signal: number): boolean;
  ref(): void;
  unref(): void;
}

interface AddonChannel {
  write(chunk: Buffer): boolean;
  close(): void;
  pause(): void;
  resume(): void;
  ref(): void;
  unref(): void;
}

/**
 * Every option's default, once: the addon requires each of these keys (it keeps no default of its own), and reads
 * exactly the keys of SPAWN_KEYS, refusing any other (test/native.mirror.test.ts reads native/addon/spawn.cc).
 */
export const SPAWN_DEFAULTS = {
  fds: [0, 1, 2],
  namespaces: [],
  setsid: true,
  noNewPrivs: false,
  deathSignal: 'SIGKILL',
  mountPropagation: 'private',
  setupTimeout: 10000,
} as const satisfies Partial<SpawnOptions>;

/** The keys of SpawnOptions, checked both ways by the compiler: a key added to the interface must be listed here. */
export const SPAWN_KEYS = Object.keys({
  file: true,
  argv: true,
  env: true,
  cwd: true,
  fds: true,
  namespaces: true,
  uidMap: true,
  gidMap: true,
  cgroup: true,
  setsid: true,
  hostname: true,
  uid: true,
  gid: true,
  groups: true,
  capBounding: true,
  capAmbient: true,
  noNewPrivs: true,
  deathSignal: true,
  mountPropagation: true,
  setupTimeout: true,
  configBind: true,
} satisfies Record<keyof SpawnOptions, true>) as ReadonlyArray<keyof SpawnOptions>;

type Defaulted = keyof typeof SPAWN_DEFAULTS;

/** What the addon is given: the environment as a list, the death signal as a number, every default filled in. */
interface NormalizedSpawnOptions extends Omit<SpawnOptions, 'env' | 'deathSignal' | Defaulted> {
  env: string[];
  deathSignal: number;
  fds: readonly number[];
  namespaces: readonly Namespace[];
  setsid: boolean;
  noNewPrivs: boolean;
  mountPropagation: NonNullable<SpawnOptions['mountPropagation']>;
  setupTimeout: number;
}

function normalize(opts: SpawnOptions): NormalizedSpawnOptions {
  const d = SPAWN_DEFAULTS;
  // a child in a new user namespace keeps the parent's ids (unmapped there) until it switches: it becomes the
  // namespace's root, so that the maps apply to what it does
  const userns = opts.namespaces?.includes('user') ?? false;
  return {
    ...opts,
    uid: opts.uid ?? (userns && opts.uidMap !== undefined ? 0 : undefined),
    gid: opts.gid ?? (userns && opts.gidMap !== undefined ? 0 : undefined),
    env: envList(opts.env),
    fds: opts.fds ?? d.fds,
    namespaces: opts.namespaces ?? d.namespaces,
    setsid: opts.setsid ?? d.setsid,
    noNewPrivs: opts.noNewPrivs ?? d.noNewPrivs,
    deathSignal: signalNumber(opts.deathSignal ?? d.deathSignal),
    mountPropagation: opts.mountPropagation ?? d.mountPropagation,
    setupTimeout: opts.setupTimeout ?? d.setupTimeout,
  };
}

interface Addon {
  setErrorClass(cls: typeof NativeError): void;
  spawn(
    opts: NormalizedSpawnOptions,
    onStarted: (err: NativeError | undefined) => void,
    onExit: (code: number | null, signal: number | null) => void,
  ): AddonChild;
  socketpair(): [number, number];
  channel(fd: number, onData: (chunk: Buffer | null) => void): AddonChannel;
  raiseNofileLimit(wanted: number): NofileLimit;
  pipe(): [number, number];
  closeFd(fd: number): void;
  sendDatagram(path: string, data: Buffer): void;
  peerCredentials(fd: number): PeerCredentials;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount(target: string, flags: number): void;
  execve(file: string, argv: string[], env: string[]): never;
  exchange(fd: number, request: Buffer, timeoutMs: number, maxFrame: number): Buffer;
  receive(fd: number, timeoutMs: number, maxFrame: number): Buffer;
  FdWatch: new (fd: number, onReadable: () => void) => FdWatch;
  recvFds(fd: number, maxBytes: number): { data: Buffer; fds: number[] };
}

let loaded: Addon | undefined;
// Loaded on first use, so that modules needing only parseMountFlags() & co. work without a built addon.
function addon(): Addon {
  if (!loaded) {
    loaded = require(builtFile('emperor_native.node')) as Addon;
    loaded.setErrorClass(NativeError);
  }
  return loaded;
}

class NativeChild implements Child {
  constructor(
    private readonly handle: AddonChild,
    readonly started: Promise<void>,
  ) {}
  get pid(): number {
    return this.handle.pid;
  }
  get alive(): boolean {
    return this.handle.alive;
  }
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    return this.handle.kill(signalNumber(signal));
  }
  ref(): void {
    this.handle.ref();
  }
  unref(): void {
    this.handle.unref();
  }
}

function envList(env: SpawnOptions['env']): string[] {
  if (Array.isArray(env)) return env;
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}

/** One rejection handler for every child's `started`, not one closure each. */
const ignore = (): void => {};

/**
 * Starts opts.file in a fresh process set up as asked. Returns as soon as the child exists, without waiting for it
 * (its setup may hang on a mount that never answers): `started` says how the setup ended, and onExit runs once, on
 * the main thread, after `started` has settled, for every child returned, a failed one included. Throws only for
 * bad options (TypeError) and when no child could be made (clone3/clone, pipe2... as a NativeError). Main JS thread
 * only (throws ERR_NOT_MAIN_THREAD in a worker).
 */
export function spawn(opts: SpawnOptions, onExit: (info: ExitInfo) => void): Child {
  if (typeof opts.file !== 'string' || !path.isAbsolute(opts.file)) {
    throw new TypeError(`spawn: file must be an absolute path (use resolveExecutable()), got '${opts.file}'`);
  }
  if (opts.hostname !== undefined && !opts.namespaces?.includes('uts')) {
    // Without its own uts namespace the child would rename the host.
    throw new TypeError(`spawn: hostname '${opts.hostname}' needs the 'uts' namespace`);
  }
  const normalized = normalize(opts);
  let settle!: (err: NativeError | undefined) => void;
  const started = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
  started.catch(ignore); // handled here: a caller that only cares about onExit never gets an unhandledRejection
  const handle = addon().spawn(normalized, settle, (code, signal) => {
    onExit({ code, signal: signal === null ? null : signalName(signal) });
  });
  return new NativeChild(handle, started);
}

/** An AF_UNIX SOCK_STREAM pair, both ends close-on-exec (pass one to a child through SpawnOptions.fds). */
export function socketpair(): [number, number] {
  return addon().socketpair();
}

/** Where an FdChannel delivers: every chunk read, then one onClose (EOF, an error, or destroy()). */
export interface ChannelSink {
  onData(chunk: Buffer): void;
  onClose(): void;
}

/**
 * A socket or pipe end on the event loop (a vassal's control socket, the read ends of its output pipes), delivering
 * to one sink, not an EventEmitter: thousands of vassals each keep one or three, and a listener table per channel
 * was a good part of a vassal's memory. write() sends at once, or as soon as the socket has room; pause() stops
 * reading until resume(). The fd belongs to the channel.
 */
export class FdChannel {
  private handle: AddonChannel | undefined;

  constructor(
    fd: number,
    private readonly sink: ChannelSink,
  ) {
    this.handle = addon().channel(fd, (chunk) => {
      if (chunk) return sink.onData(chunk);
      this.handle = undefined;
      sink.onClose();
    });
  }

  write(chunk: Buffer): boolean {
    return this.handle?.write(chunk) ?? false;
  }

  destroy(): void {
    const h = this.handle;
    if (!h) return;
    this.handle = undefined;
    h.close();
    this.sink.onClose();
  }

  pause(): void {
    this.handle?.pause();
  }

  resume(): void {
    this.handle?.resume();
  }

  ref(): void {
    this.handle?.ref();
  }

  unref(): void {
    this.handle?.unref();
  }
}

export interface NofileLimit {
  soft: number;
  hard: number;
  /**
   * The soft limit every child spawned afterwards gets, with the hard limit the process was started with: that soft
   * limit, at most 1024 (Node raises its own to the hard one before any code runs, as systemd's default for services).
   */
  before: number;
}

/** RLIMIT_NOFILE's soft limit up to the hard one, both up to `wanted` where CAP_SYS_RESOURCE allows it. */
export function raiseNofileLimit(wanted: number): NofileLimit {
  return addon().raiseNofileLimit(wanted);
}

/** A pipe: [read end, write end], both close-on-exec (pass the write end to a child through SpawnOptions.fds). */
export function pipe(): [number, number] {
  return addon().pipe();
}

/**
 * One datagram to the AF_UNIX SOCK_DGRAM socket at `path` ('@name' names an abstract socket), without waiting: a
 * receiver whose queue is full is an EAGAIN NativeError, a missing one ENOENT or ECONNREFUSED.
 */
export function sendDatagram(path: string, data: string | Buffer): void {
  addon().sendDatagram(path, typeof data === 'string' ? Buffer.from(data) : data);
}

/** Who connected a unix stream socket, as the kernel recorded it at connect() (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED of the connected unix socket fd; a NativeError (ENOTSOCK, EBADF...) otherwise. */
export function peerCredentials(fd: number): PeerCredentials {
  return addon().peerCredentials(fd);
}

export function closeFd(fd: number): void {
  addon().closeFd(fd);
}

/**
 * Writes a whole request frame on an agent's socket (src/agent/agent-wire.ts), then reads one answer frame and returns it
 * without its length prefix. BLOCKS the calling thread for up to timeoutMs (the write and the read together): for
 * processes that are not the emperor's event loop. Throws a NativeError: ETIMEDOUT; EPIPE (the agent was gone before
 * the request was sent); ECONNRESET (it closed before answering in full); EPROTO (an answer over maxFrame bytes).
 */
export function exchange(fd: number, request: Buffer, timeoutMs: number, maxFrame: number): Buffer {
  return addon().exchange(fd, request, timeoutMs, maxFrame);
}

/** The next frame of a streamed answer (after exchange() returned the first one); as exchange, without the write. */
export function receive(fd: number, timeoutMs: number, maxFrame: number): Buffer {
  return addon().receive(fd, timeoutMs, maxFrame);
}

/** Calls on the event loop, while the fd polls readable, without reading it. */
export interface FdWatch {
  /** Stops watching; the fd (still the caller's, open) gets back the flags it had: uv_poll makes it non-blocking. */
  close(): void;
  ref(): void;
  unref(): void;
}

/** onReadable runs each loop turn the fd is readable (or hung up) until close(). Throws NativeError (EBADF...). */
export function watchReadable(fd: number, onReadable: () => void): FdWatch {
  const Watch = addon().FdWatch;
  return new Watch(fd, onReadable);
}

/**
 * One non-blocking recvmsg: the bytes (empty at EOF) and the fds that came with them (close-on-exec, the caller's
 * to close). Throws NativeError: EAGAIN when nothing is waiting; EPROTO when more fds came than it takes.
 */
export function recvFds(fd: number, maxBytes: number): { data: Buffer; fds: number[] } {
  return addon().recvFds(fd, maxBytes);
}

/**
 * Replaces this process (same pid) with another program; returns only by throwing a NativeError. For the emperor's
 * one re-exec of itself through emperor-setpriv: the credential change happens in that single-threaded program.
 */
export function execve(file: string, argv: string[], env: SpawnOptions['env']): never {
  return addon().execve(file, argv, envList(env));
}

/** mount(2) in the calling process's mount namespace; flags are uWSGI's words ('bind,rec') or a number. */
export function mount(source: string | null, target: string, fstype: string | null, flags: string | number = 0, data?: string): void {
  const mountFlags = typeof flags === 'number' ? flags : parseMountFlags(flags).mountFlags;
  addon().mount(source, target, fstype, mountFlags, data ?? null);
}

/** umount2(2); flags are words ('detach', 'force'). */
export function umount(target: string, flags = ''): void {
  addon().umount(target, parseMountFlags(flags).umountFlags);
}
