// Each agent op as a call: its request frame, what each of its answers is about (for messages), and what an answer
// becomes. Shared by the blocking AgentHost (config resolution) and the emperor's AsyncAgent, so that both name
// paths, refusals and limits the same way.
import { constants } from 'node:os';
import * as path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import type { ConfigFile } from '../config/host';
import type { FileFacts } from '../file-identity';
import { HostError, type FileType, type HostStat, type SourceStat, type StatModes } from '../host-fs';
import { errnoCode, isHostLimit } from '../tables/signals-errnos';
import * as wire from './agent-wire';

export interface About {
  /** What was being done, as messages say it: 'reading /etc/app.ini'. */
  doing: string;
  path: string;
}

export interface Call<T> {
  readonly frame: Buffer;
  /** Answers to expect: 1, or one per path for STAT_SOURCES. */
  readonly count: number;
  /** Longest valid answer frame; a longer one is refused unread. */
  readonly maxAnswer: number;
  /** Extra wait past the budget: the agent enforces this call's budget itself (EXEC) and then still answers. */
  readonly graceMs: number;
  about(i: number): About;
  /** Answer i: its value; throws HostError for a refusal (an errno, not a regular file) and WireError for nonsense. */
  decode(answer: Buffer, i: number): T;
  /** The same call for answers from..count-1 only, to ask a fresh agent after answer from-1 hung. */
  rest?(from: number): Call<T>;
}

const { EFBIG, ETIMEDOUT } = constants.errno;
/** The agent kills and reaps an EXEC that ran out of time within ~100 ms; this is its answer's slack. */
const EXEC_GRACE_MS = 500;

const TYPE_NAMES: Record<FileType, string> = {
  file: 'regular file',
  dir: 'directory',
  symlink: 'symlink',
  fifo: 'FIFO',
  socket: 'socket',
  char: 'character device',
  block: 'block device',
  unknown: 'special file',
};

function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}

export function timedOut(budgetMs: number, about: About, settled: Promise<void>): HostError {
  return new HostError('ETIMEDOUT', `timed out after ${seconds(budgetMs)} s ${about.doing}`, { path: about.path, settled });
}

/** The agent died, answered nonsense, or could not be started: 'EAGENT'. */
export function agentFailed(about: About, why: string): HostError {
  return new HostError('EAGENT', `${about.doing}: ${why}`, { path: about.path });
}

/**
 * No agent to be had for `who`: a host limit keeps its code (EMFILE, EAGAIN...), so that the vassal is retried on the
 * limit-reached backoff; anything else is EAGENT.
 */
export function agentNotStarted(about: About | undefined, who: string, e: unknown): HostError {
  const why = `cannot start an agent (${who}): ${(e as Error).message}`;
  const message = about ? `${about.doing}: ${why}` : why;
  return new HostError(isHostLimit(e) ? (e as { code: string }).code : 'EAGENT', message, { path: about?.path });
}

/**
 * An agent that closed its channel before its first answer without having run (its exec refused: EAGAIN when its
 * owner is at its process limit): a host limit, retried as such.
 */
export function agentNeverRan(about: About, who: string): HostError {
  return new HostError('EAGAIN', `${about.doing}: ${who} exited before it ran (its exec refused: a process limit of its owner?)`, {
    path: about.path,
  });
}

let errorTexts: Map<number, [string, string]> | undefined; // Node builds a new map on each call

function refused(about: About, errno: number): HostError {
  const code = errnoCode(errno);
  const text = (errorTexts ??= getSystemErrorMap()).get(-errno)?.[1];
  return new HostError(code, `${about.doing}: ${code}${text ? ` (${text})` : ''}`, { path: about.path });
}

function absolute(p: string, about: About): void {
  if (!path.isAbsolute(p)) throw new HostError('EINVAL', `${about.doing}: not an absolute path`, { path: about.path });
}

function encode(req: wire.Request, about: About): Buffer {
  try {
    return wire.encodeRequest(req);
  } catch (e) {
    throw new HostError('EINVAL', `${about.doing}: ${(e as Error).message}`, { path: about.path });
  }
}

/** An OK answer's payload, or the errno of a refusal. */
function payloadOrErrno(frame: Buffer): Buffer | number {
  const a = wire.decodeAnswer(frame);
  if (a.status === 'notreg') throw new wire.WireError('a not-a-regular-file answer to something else than a read');
  return a.status === 'errno' ? a.errno : a.payload;
}

/** An OK answer's payload; a refusal becomes HostError (refuse() may name it better). */
function payloadOf(frame: Buffer, about: About, refuse?: (errno: number) => HostError | undefined): Buffer {
  const a = payloadOrErrno(frame);
  if (typeof a === 'number') throw refuse?.(a) ?? refused(about, a);
  return a;
}

function single<T>(req: wire.Request, about: About, decode: (frame: Buffer) => T, graceMs = 0): Call<T> {
  absolute(about.path, about);
  return { frame: encode(req, about), count: 1, maxAnswer: wire.maxAnswer(req), graceMs, about: () => about, decode };
}

/** The OK payload of a READ or OPEN answer frame, or the HostError of a refusal (not a regular file, over limit). */
function readPayload(frame: Buffer, about: About, limit: number): Buffer {
  const a = wire.decodeAnswer(frame);
  if (a.status === 'notreg') {
    const code = a.type === 'dir' ? 'EISDIR' : 'ENOTREG';
    throw new HostError(code, `${about.doing}: it is a ${TYPE_NAMES[a.type]}, not a regular file (not read)`, { path: about.path });
  }
  if (a.status === 'errno' && a.errno === EFBIG)
    throw new HostError('EFBIG', `${about.doing}: over the ${limit}-byte limit`, { path: about.path });
  if (a.status === 'errno') throw refused(about, a.errno);
  return a.payload;
}

/** READ's answer frame: the bytes, or the HostError of a refusal. */
function readAnswer(frame: Buffer, about: About, limit: number): Buffer {
  return wire.decodeRead(readPayload(frame, about, limit), limit);
}

export function readCall(p: string, limit: number): Call<Buffer> {
  const about = { doing: `reading ${p}`, path: p };
  return single({ op: 'read', path: p, limit }, about, (frame) => readAnswer(frame, about, limit));
}

/** A file opened once, and the facts of whose it is. */
export interface OpenedFile {
  facts: FileFacts;
  bytes: Buffer;
}

/** OPEN: one open by a walk from /, the bytes of that descriptor and its facts; refused as READ is. */
export function openCall(p: string, limit: number): Call<OpenedFile> {
  const about = { doing: `reading ${p}`, path: p };
  return single({ op: 'open', path: p, limit }, about, (frame) => wire.decodeOpen(readPayload(frame, about, limit), p, limit));
}

/** Each part's value, or the HostError that part failed with (a timeout fails the whole call instead). */
export function loadCall(p: string, limit: number): Call<ConfigFile> {
  const about = { doing: `reading ${p}`, path: p };
  const looking = { doing: `looking at ${p}`, path: p };
  const settle = <T>(f: () => T): T | HostError => {
    try {
      return f();
    } catch (e) {
      if (e instanceof HostError) return e;
      throw e;
    }
  };
  return single({ op: 'load', path: p, limit }, about, (frame) => {
    const [lst, real, bytes] = wire.decodeLoad(payloadOf(frame, about));
    const st = payloadOrErrno(lst);
    const stat = typeof st === 'number' ? undefined : wire.decodeStat(st);
    return {
      symlink: stat?.type === 'symlink',
      ino: stat?.ino,
      real: settle(() => wire.decodePath(payloadOf(real, looking))),
      bytes: settle(() => readAnswer(bytes, about, limit)),
    };
  });
}

/** stat/lstat; null for any errno answer (nothing to see there). */
export function statCall(p: string, follow: boolean): Call<HostStat | null> {
  const about = { doing: `looking at ${p}`, path: p };
  return single({ op: 'stat', path: p, follow }, about, (frame) => {
    const a = payloadOrErrno(frame);
    return typeof a === 'number' ? null : wire.decodeStat(a);
  });
}

export function realpathCall(p: string): Call<string> {
  const about = { doing: `looking at ${p}`, path: p };
  return single({ op: 'realpath', path: p }, about, (frame) => wire.decodePath(payloadOf(frame, about)));
}

export function readdirCall(p: string): Call<string[]> {
  const about = { doing: `listing ${p}`, path: p };
  const tooMany = (errno: number) =>
    errno === EFBIG
      ? new HostError('EFBIG', `${about.doing}: more than ${wire.MAX_DIR_NAMES} entries or ${wire.MAX_DIR_BYTES} bytes of names`, {
          path: p,
        })
      : undefined;
  return single({ op: 'readdir', path: p }, about, (frame) => wire.decodeNames(payloadOf(frame, about, tooMany)));
}

/** access(X_OK) as the agent; false for any errno answer. */
export function accessXCall(p: string): Call<boolean> {
  const about = { doing: `looking at ${p}`, path: p };
  return single({ op: 'accessX', path: p }, about, (frame) => {
    const a = payloadOrErrno(frame);
    if (typeof a === 'number') return false;
    wire.decodeEmpty(a);
    return true;
  });
}

/** `/bin/sh -c command` in cwd; the agent enforces timeoutMs itself (budgetMs is what messages call it). */
export function execCall(command: string, cwd: string, limit: number, timeoutMs: number, budgetMs: number): Call<Buffer> {
  const about = { doing: `running '${command}' in ${cwd}`, path: cwd };
  const limits = (errno: number) => {
    if (errno === ETIMEDOUT) return timedOut(budgetMs, about, Promise.resolve());
    if (errno === EFBIG) return new HostError('EFBIG', `${about.doing}: its output is over the ${limit}-byte limit`, { path: cwd });
    return undefined;
  };
  const req: wire.Request = { op: 'exec', command, cwd, timeoutMs, limit };
  return single(req, about, (frame) => wire.decodeExec(payloadOf(frame, about, limits), limit).stdout, EXEC_GRACE_MS);
}

/** One answer per path, streamed: the monitors' rule (src/monitors/stat-source.ts). */
export function statSourcesCall(paths: readonly string[], modes: StatModes): Call<SourceStat | null> {
  const about = (i: number) => ({ doing: `looking at ${paths[i]}`, path: paths[i] });
  const req: wire.Request = { op: 'statSources', paths, nofollow: modes.nofollow, tyrantNofollow: modes.tyrantNofollow };
  // the messages are built only for a path that needs one: a periodic check asks this of every slice
  for (let i = 0; i < paths.length; i++) if (!path.isAbsolute(paths[i])) absolute(paths[i], about(i));
  return {
    frame: encode(req, { doing: `looking at ${paths.length} paths`, path: paths[0] }),
    count: paths.length,
    maxAnswer: wire.maxAnswer(req),
    graceMs: 0,
    about,
    decode: (frame) => {
      const a = payloadOrErrno(frame);
      if (typeof a === 'number') throw new wire.WireError(`errno ${a} in a stat-sources answer, which has none`);
      return wire.decodeSource(a);
    },
    rest: (from) => statSourcesCall(paths.slice(from), modes),
  };
}

/** Where an on-demand socket listens: a unix path (absolute, or '@name', abstract) or a TCP address. */
export type SocketAddress = { family: 'unix'; path: string } | { family: 'inet' | 'inet6'; host: string; port: number };

export function describeAddress(a: SocketAddress): string {
  if (a.family === 'unix') return a.path;
  return a.family === 'inet6' ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A listening socket made as the agent (the answer carries it); its value is the socket file's inode, 0 if none. */
export function bindCall(address: SocketAddress, mode: number, backlog: number): Call<number> {
  const where = describeAddress(address);
  const about = { doing: `binding ${where}`, path: where };
  const req: wire.Request =
    address.family === 'unix'
      ? { op: 'bind', family: 'unix', address: address.path, port: 0, mode, backlog }
      : { op: 'bind', family: address.family, address: address.host, port: address.port, mode, backlog };
  if (address.family === 'unix' && !address.path.startsWith('@')) absolute(address.path, about);
  return {
    frame: encode(req, about),
    count: 1,
    maxAnswer: wire.maxAnswer(req),
    graceMs: 0,
    about: () => about,
    decode: (frame) => wire.decodeBound(payloadOf(frame, about)),
  };
}

/** Removes the socket file bindCall made (inode ino); ESTALE when something else is at the path now. */
export function unlinkSocketCall(p: string, ino: number): Call<void> {
  const about = { doing: `removing the socket ${p}`, path: p };
  return single({ op: 'unlinkSocket', path: p, ino }, about, (frame) => wire.decodeEmpty(payloadOf(frame, about)));
}
