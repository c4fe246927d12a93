// On-demand vassals (docs/UWSGI.md §10): the emperor binds the vassal's socket and listens without accepting; the first
// connection waits in the backlog and wakes the vassal, which gets the socket (uWSGI: fd 0; a native app: the first
// of LISTEN_FDS). Everything done at a vassal-controlled path (reading <file>EXT, running the on-demand command,
// binding a unix socket, removing it) is done by an agent holding the vassal owner's credentials in tyrant mode,
// within the config time budget, off the event loop.
import * as net from 'node:net';
import * as path from 'node:path';
import * as calls from '../agent/calls';
import type { Identity } from '../agent/process';
import { AgentSession } from '../agent/session';
import { HostError } from '../host-fs';
import type { Logger } from '../log';
import type { VassalSource } from '../monitors/types';
import * as native from '../native';
import type { EmperorOptions } from './options';
import type { HelperCgroups } from '../cgroup/helpers';
import { environmentOf, type VassalEnvironments } from './tyrant';
import { sideFileRefusal, type FileOwner } from '../file-identity';
import { detached } from '../detach';

/** A socket name that is not an address. */
export class OnDemandError extends Error {
  readonly code = 'EONDEMAND';
}

/** Socket names are short: a longer answer (a command printing a lot) is an error, not a name. */
const NAME_LIMIT = 64 << 10;
/** uWSGI's default listen queue. */
const BACKLOG = 100;
/** uWSGI makes an on-demand unix socket 0666. A tyrant's is its owner's: made by the owner, for the owner and its group. */
const SOCKET_MODE = 0o666;
const TYRANT_SOCKET_MODE = 0o660;

export function onDemandEnabled(opts: EmperorOptions): boolean {
  return Boolean(opts.onDemandExtension || opts.onDemandDirectory || opts.onDemandExec);
}

/** The bytes up to the first one below 32 (uWSGI's cut), as text; undefined when that is empty. */
function firstLine(bytes: Buffer): string | undefined {
  const end = bytes.findIndex((b) => b < 32);
  const name = (end < 0 ? bytes : bytes.subarray(0, end)).toString('utf8');
  return name === '' ? undefined : name;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The vassal's socket name, from the one on-demand option given (extension, else directory, else exec, uWSGI's
 * precedence); undefined when the vassal is not on demand. `owner`: a tyrant's vassal's, whose own the socket file
 * must be. Throws HostError, or OnDemandError when the socket file is someone else's.
 */
export async function socketName(
  src: VassalSource,
  opts: EmperorOptions,
  session: AgentSession,
  budgetMs: number,
  owner: FileOwner | null,
): Promise<string | undefined> {
  if (opts.onDemandExtension) {
    const file = path.resolve(src.dir, src.name + opts.onDemandExtension);
    let opened: calls.OpenedFile;
    try {
      opened = await session.ask(calls.openCall(file, NAME_LIMIT));
    } catch (e) {
      if (e instanceof HostError && e.code === 'ENOENT') return undefined;
      throw e;
    }
    // a tyrant's: read as the vassal's owner, and used only if it is that owner's own (README "Whose file it is")
    const refusal = owner && sideFileRefusal(opened.facts, owner, opts.tyrantNofollow);
    if (refusal) throw new OnDemandError(refusal);
    return firstLine(opened.bytes);
  }
  if (opts.onDemandDirectory) return path.join(opts.onDemandDirectory, `${path.basename(src.name).replace(/\.[^.]*$/, '')}.socket`);
  if (opts.onDemandExec) {
    // the name is quoted: a file name is never shell syntax
    const command = `${opts.onDemandExec} ${shellQuote(src.name)}`;
    return firstLine(await session.ask(calls.execCall(command, src.dir, NAME_LIMIT, budgetMs, budgetMs)));
  }
  return undefined;
}

/** A name with ':' is TCP ('host:port', ':port', '[v6]:port'), anything else a unix socket (relative to cwd). */
export function socketAddress(name: string, cwd: string): calls.SocketAddress {
  const colon = name.lastIndexOf(':');
  if (colon < 0) return { family: 'unix', path: name.startsWith('@') ? name : path.resolve(cwd, name) };
  const host = name.slice(0, colon);
  const portText = name.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
    throw new OnDemandError(`socket name '${name}': '${portText}' is not a port (1-65535)`);
  const v6 = /^\[(.*)\]$/.exec(host)?.[1];
  if (v6 !== undefined) {
    if (!net.isIPv6(v6)) throw new OnDemandError(`socket name '${name}': '${v6}' is not an IPv6 address`);
    return { family: 'inet6', host: v6, port };
  }
  if (host === '' || host === '0') return { family: 'inet', host: '0.0.0.0', port };
  if (host === 'localhost') return { family: 'inet', host: '127.0.0.1', port };
  if (!net.isIPv4(host))
    throw new OnDemandError(`socket name '${name}': '${host}' is not a numeric IPv4 address (or [IPv6], localhost, empty)`);
  return { family: 'inet', host, port };
}

/** The agents' environment is the vassal's: the on-demand command runs with what the vassal will see. */
export interface OnDemandContext extends VassalEnvironments {
  opts: EmperorOptions;
  /** Where each agent gets a cgroup of its own (src/cgroup/helpers.ts). */
  helpers?: HelperCgroups;
}

export interface OnDemandEvents {
  /** A connection waits on the socket. */
  wake(): void;
  /** The vassal turned out not to be on demand: an ordinary one. */
  ordinary(): void;
  /** The socket could not be found or bound (err.code says why); tried again on wait(). */
  failed(err: Error & { code?: string }): void;
}

interface Bound {
  name: string;
  address: calls.SocketAddress;
  /** The socket file's inode (0: none), so that only that file is ever removed. */
  ino: number;
  fd: number;
  identity: Identity | null;
}

/** One vassal's on-demand socket: found and bound once, watched while the vassal is dormant, closed with the vassal. */
export class OnDemand {
  private phase: 'unresolved' | 'resolving' | 'ordinary' | 'bound' = 'unresolved';
  private bound?: Bound;
  private watch?: native.FdWatch;
  /** Voids a resolution in flight when the socket is reset or closed meanwhile. */
  private generation = 0;

  constructor(
    private readonly source: () => VassalSource,
    private readonly ctx: OnDemandContext,
    private readonly log: Logger,
    private readonly on: OnDemandEvents,
  ) {}

  /** The socket name as found (stats' on_demand); '' until bound. */
  get name(): string {
    return this.bound?.name ?? '';
  }

  get ordinary(): boolean {
    return this.phase === 'ordinary';
  }

  /** The listening socket, for the vassal started on it. */
  get fd(): number | undefined {
    return this.bound?.fd;
  }

  private get budgetMs(): number {
    return this.ctx.opts.configTimeoutSeconds * 1000;
  }

  /** Dormant: calls wake() once a connection waits, finding and binding the socket (as identity) first. */
  wait(identity: Identity | null): void {
    if (this.phase === 'bound') return this.arm();
    if (this.phase !== 'unresolved') return;
    this.phase = 'resolving';
    const generation = ++this.generation;
    this.open(identity).then(
      (bound) => {
        if (generation !== this.generation) {
          if (bound) detached(this.release(bound), 'on-demand socket release');
          return;
        }
        if (!bound) {
          this.phase = 'ordinary';
          this.on.ordinary();
          return;
        }
        this.phase = 'bound';
        this.bound = bound;
        this.arm();
      },
      (e: Error & { code?: string }) => {
        if (generation !== this.generation) return;
        this.phase = 'unresolved';
        this.on.failed(Object.assign(new Error(`on-demand socket: ${e.message}`), { code: e.code }));
      },
    );
  }

  private async open(identity: Identity | null): Promise<Bound | undefined> {
    const src = this.source();
    const session = AgentSession.start(identity, environmentOf(this.ctx, identity), this.budgetMs, this.ctx.helpers);
    try {
      const name = await socketName(src, this.ctx.opts, session, this.budgetMs, identity);
      if (name === undefined) return undefined;
      const address = socketAddress(name, src.dir);
      const mode = identity ? TYRANT_SOCKET_MODE : SOCKET_MODE;
      const { value: ino, fd } = await session.askFd(calls.bindCall(address, mode, BACKLOG));
      return { name, address, ino, fd, identity };
    } finally {
      session.close();
    }
  }

  private arm(): void {
    const bound = this.bound!;
    if (this.watch) return;
    this.watch = native.watchReadable(bound.fd, () => {
      this.disarm();
      this.on.wake();
    });
    this.log.info({ event: 'dormant', socket: bound.name }, `on demand: waiting for connections on socket "${bound.name}"`);
  }

  private disarm(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  /** The owner changed (tyrant): the socket is made again, as the new owner, at the next wait(). */
  reset(): void {
    detached(this.close(), 'on-demand socket close');
  }

  /** Closes the socket and removes its file; settles (never rejects) once that is done. */
  close(): Promise<void> {
    this.generation++;
    this.disarm();
    const bound = this.bound;
    this.bound = undefined;
    this.phase = 'unresolved';
    return bound ? this.release(bound) : Promise.resolve();
  }

  private async release(bound: Bound): Promise<void> {
    native.closeFd(bound.fd);
    const { address } = bound;
    if (address.family !== 'unix' || bound.ino === 0) return;
    let session: AgentSession | undefined;
    try {
      session = AgentSession.start(bound.identity, environmentOf(this.ctx, bound.identity), this.budgetMs, this.ctx.helpers);
      await session.ask(calls.unlinkSocketCall(address.path, bound.ino));
    } catch (e) {
      // ESTALE: the path holds another file now (the vassal bound it itself); it is not ours to remove
      const err = e as HostError;
      if (err.code !== 'ENOENT' && err.code !== 'ESTALE')
        this.log.warn({ event: 'on-demand-unlink', path: address.path, code: err.code }, err.message);
    } finally {
      session?.close();
    }
  }
}
