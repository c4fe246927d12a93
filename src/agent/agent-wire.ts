// The wire format between a client and emperor-agent (native/agent) on their socketpair (the agent's end is fd 3).
// Documented here once; native/agent/agent.h mirrors the numbers.
//
// Every frame, both ways: u32 LE length of the rest, then the rest. Integers are little-endian; str = u32 byte
// length + UTF-8 bytes.
// Request: u8 op, then its fields:
//   1 READ         str path, u32 limit          a regular file's bytes, at most limit (stat, then open non-blocking)
//   2 STAT         str path, u8 follow          stat (follow = 1) or lstat
//   3 REALPATH     str path
//   4 READDIR      str path                     names without . and .., at most MAX_DIR_NAMES / MAX_DIR_BYTES
//   5 ACCESS_X     str path                     access(X_OK)
//   6 EXEC         str command, str cwd, u32 timeoutMs, u32 limit
//   7 STAT_SOURCES u8 flags (1 nofollow, 2 tyrantNofollow), u32 count, count x str path
//   8 LOAD         str path, u32 limit          LSTAT, REALPATH and READ of one config file, in one round trip
//   9 BIND         u8 family (0 unix, 1 inet, 2 inet6), str address, u32 port, u32 mode, u32 backlog
//                  a listening socket, handed over; a unix path gets mode (through umask), an old socket file there
//                  is replaced, anything else there is EADDRINUSE; '@name' is abstract
//  10 UNLINK_SOCKET str path, u64 ino            removes the socket file BIND made (ESTALE: something else is there)
//  11 OPEN         str path, u32 limit          one open of a regular file by a walk from / that follows each symlink
//                  itself (O_NOFOLLOW at every step, at most 40 links, at most MAX_OPEN_STEPS dirs and links), the
//                  file opened again through its O_PATH descriptor, never by name: the facts of whose it is, and the
//                  bytes of that descriptor (native/agent/checked_open.cc; src/file-identity.ts decides)
// Answer: u8 status, then:
//   0 OK      the op's payload
//   1 ERRNO   u32 errno (ETIMEDOUT and EFBIG for EXEC's own timeout and limit, EFBIG for READ and READDIR's caps)
//   2 NOTREG  u8 file type: READ found something else than a regular file, and neither opened nor read it
// OK payloads:
//   READ      the bytes                          EXEC    i32 wait status, then stdout's bytes
//   STAT      u8 type, u32 mode, u32 uid, u32 gid, u64 size, i64 mtime s, u32 mtime ns, u64 ino
//   REALPATH  the path                           READDIR u32 count, count x str name
//   ACCESS_X  nothing
//   STAT_SOURCES  one answer frame per path, in request order, each OK with: u8 kind (0 not a vassal, 1 regular file,
//             2 symlink to a regular file), i64 mtime s, u32 mtime ns, u32 uid, u32 gid
//   LOAD      three whole answer frames (length prefix included): STAT's (follow = 0), REALPATH's and READ's
//   BIND      u64 ino of the socket file (0 for TCP and abstract sockets), the socket attached (SCM_RIGHTS)
//   UNLINK_SOCKET nothing
//   OPEN      the file (fstat of the read descriptor): u64 dev, u64 ino, u32 mode, u32 uid, u32 gid, u32 nlink,
//             u64 size, i64 mtime s, u32 mtime ns, i64 fuse; the path's last name (lstat): u8 symlink, u32 uid,
//             u32 gid, u64 ino; str realpath; u32 count, count x step (u8 file type, u32 mode, u32 uid, u32 gid,
//             i64 fuse, str path), each directory and symlink in the order met, / first; then the bytes.
//             fuse: -1 not on FUSE, -2 on a FUSE mount whose user_id is unknown, else that user_id
// File types: 0 unknown, 1 file, 2 dir, 3 symlink, 4 fifo, 5 socket, 6 char, 7 block.
// A request the agent cannot parse makes it exit; one it can parse but refuses (a NUL in a path, a limit over
// MAX_LIMIT) is answered ERRNO EINVAL. Everything an agent answers is checked here as hostile input.
import { MAX_OPEN_STEPS, type FileFacts, type PathStep } from '../file-identity';

/** OPEN's directories and links recorded at most (the judge's bound, src/file-identity.ts). */
export { MAX_OPEN_STEPS };
import type { FileType, HostStat, SourceStat } from '../host-fs';
import { WireError } from '../frames';

// an answer that breaks the format is a WireError; the answers are split as every length-prefixed wire's frames are
export { WireError, FrameSplitter as AnswerSplitter } from '../frames';

/** Largest request frame the agent reads (without the length prefix). */
export const MAX_REQUEST = 16 << 20;
/** Largest READ or EXEC limit the agent accepts. */
export const MAX_LIMIT = 64 << 20;
export const MAX_DIR_NAMES = 262144;
/** Largest READDIR payload. */
export const MAX_DIR_BYTES = 16 << 20;
const PATH_MAX = 4096;
/** OPEN's symlinks followed at most: the kernel's own bound. */
export const MAX_LINKS = 40;

/** The request ops by name; native/agent/agent.h enum Op mirrors them (test/native.mirror.test.ts). */
export const OP = {
  read: 1,
  stat: 2,
  realpath: 3,
  readdir: 4,
  accessX: 5,
  exec: 6,
  statSources: 7,
  load: 8,
  bind: 9,
  unlinkSocket: 10,
  open: 11,
} as const;
const FAMILY = { unix: 0, inet: 1, inet6: 2 } as const;
/** The answer statuses (native/agent/agent.h mirrors them). */
export const STATUS = { ok: 0, errno: 1, notRegular: 2 } as const;
const { ok: STATUS_OK, errno: STATUS_ERRNO, notRegular: STATUS_NOTREG } = STATUS;
const FILE_TYPES: readonly FileType[] = ['unknown', 'file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block'];
const STAT_BYTES = 1 + 4 * 3 + 8 + 8 + 4 + 8;
const SOURCE_BYTES = 1 + 8 + 4 + 4 + 4;
const OPEN_FILE_BYTES = 8 + 8 + 4 * 4 + 8 + 8 + 4 + 8;
const OPEN_ENTRY_BYTES = 1 + 4 + 4 + 8;
const OPEN_STEP_BYTES = 1 + 4 * 3 + 8 + 4;
/** OPEN's fuse field besides a user_id (native/agent/agent.h mirrors it). */
export const FUSE_FIELD = { notFuse: -1, ownerUnknown: -2 } as const;

export type Request =
  | { op: 'read' | 'load' | 'open'; path: string; limit: number }
  | { op: 'stat'; path: string; follow: boolean }
  | { op: 'realpath' | 'readdir' | 'accessX'; path: string }
  | { op: 'exec'; command: string; cwd: string; timeoutMs: number; limit: number }
  | { op: 'statSources'; paths: readonly string[]; nofollow: boolean; tyrantNofollow: boolean }
  | { op: 'bind'; family: keyof typeof FAMILY; address: string; port: number; mode: number; backlog: number }
  | { op: 'unlinkSocket'; path: string; ino: number };

export type Answer = { status: 'ok'; payload: Buffer } | { status: 'errno'; errno: number } | { status: 'notreg'; type: FileType };

class Writer {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  u8(n: number): this {
    return this.push(Buffer.from([n]));
  }
  u64(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`agent request: ${n} is not a u64`);
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt(n));
    return this.push(b);
  }
  u32(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`agent request: ${n} is not a u32`);
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(n);
    return this.push(b);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.u32(b.length).push(b);
  }
  frame(): Buffer {
    if (this.size > MAX_REQUEST) throw new RangeError(`agent request of ${this.size} bytes is over the ${MAX_REQUEST}-byte limit`);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(this.size);
    return Buffer.concat([len, ...this.parts], 4 + this.size);
  }
}

function limitOf(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_LIMIT) throw new RangeError(`agent request: limit ${n} is not in 0..${MAX_LIMIT}`);
  return n;
}

/** The whole frame, length prefix included. Throws RangeError for a request the agent would refuse to read. */
export function encodeRequest(req: Request): Buffer {
  const w = new Writer().u8(OP[req.op]);
  switch (req.op) {
    case 'read':
    case 'load':
    case 'open':
      return w.str(req.path).u32(limitOf(req.limit)).frame();
    case 'stat':
      return w
        .str(req.path)
        .u8(req.follow ? 1 : 0)
        .frame();
    case 'exec':
      return w
        .str(req.command)
        .str(req.cwd)
        .u32(Math.max(0, Math.ceil(req.timeoutMs)))
        .u32(limitOf(req.limit))
        .frame();
    case 'statSources':
      w.u8((req.nofollow ? 1 : 0) | (req.tyrantNofollow ? 2 : 0)).u32(req.paths.length);
      for (const p of req.paths) w.str(p);
      return w.frame();
    case 'bind':
      return w.u8(FAMILY[req.family]).str(req.address).u32(req.port).u32(req.mode).u32(req.backlog).frame();
    case 'unlinkSocket':
      return w.str(req.path).u64(req.ino).frame();
    default:
      return w.str(req.path).frame();
  }
}

/** The largest answer frame (without its length prefix) a well-behaved agent can send for req; for STAT_SOURCES,
 *  the largest of each of its frames. Anything longer is refused before it is read. */
export function maxAnswer(req: Request): number {
  const payload = {
    read: () => (req as { limit: number }).limit,
    stat: () => STAT_BYTES,
    realpath: () => PATH_MAX,
    readdir: () => MAX_DIR_BYTES,
    accessX: () => 0,
    exec: () => 4 + (req as { limit: number }).limit,
    statSources: () => SOURCE_BYTES,
    load: () => 3 * 5 + STAT_BYTES + PATH_MAX + (req as { limit: number }).limit,
    bind: () => 8,
    unlinkSocket: () => 0,
    open: () =>
      OPEN_FILE_BYTES +
      OPEN_ENTRY_BYTES +
      4 +
      PATH_MAX +
      4 +
      MAX_OPEN_STEPS * (OPEN_STEP_BYTES + PATH_MAX) +
      (req as { limit: number }).limit,
  }[req.op]();
  return 1 + Math.max(4, payload);
}

/** The status of one answer frame (without its length prefix). */
export function decodeAnswer(frame: Buffer): Answer {
  if (frame.length < 1) throw new WireError('an empty answer');
  switch (frame[0]) {
    case STATUS_OK:
      return { status: 'ok', payload: frame.subarray(1) };
    case STATUS_ERRNO: {
      if (frame.length !== 5) throw new WireError(`an errno answer of ${frame.length} bytes`);
      const errno = frame.readUInt32LE(1);
      if (errno < 1 || errno > 4095) throw new WireError(`errno ${errno}`);
      return { status: 'errno', errno };
    }
    case STATUS_NOTREG: {
      const type = FILE_TYPES[frame[1]];
      if (frame.length !== 2 || type === undefined || type === 'file') throw new WireError('a malformed not-a-regular-file answer');
      return { status: 'notreg', type };
    }
    default:
      throw new WireError(`unknown answer status ${frame[0]}`);
  }
}

function exactly(payload: Buffer, n: number, what: string): void {
  if (payload.length !== n) throw new WireError(`a ${what} answer of ${payload.length} bytes, not ${n}`);
}

function mtimeMs(payload: Buffer, at: number): number {
  const sec = payload.readInt32LE(at + 4) * 0x100000000 + payload.readUInt32LE(at); // exact below 2^53, no BigInt
  const nsec = payload.readUInt32LE(at + 8);
  if (nsec >= 1e9) throw new WireError(`mtime nanoseconds ${nsec}`);
  return sec * 1e3 + nsec / 1e6;
}

export function decodeRead(payload: Buffer, limit: number): Buffer {
  if (payload.length > limit) throw new WireError(`${payload.length} bytes read, over the ${limit}-byte limit`);
  return payload;
}

export function decodeStat(payload: Buffer): HostStat {
  exactly(payload, STAT_BYTES, 'stat');
  const type = FILE_TYPES[payload[0]];
  if (type === undefined) throw new WireError(`file type ${payload[0]}`);
  return {
    type,
    mode: payload.readUInt32LE(1),
    uid: payload.readUInt32LE(5),
    gid: payload.readUInt32LE(9),
    size: Number(payload.readBigUInt64LE(13)),
    mtimeMs: mtimeMs(payload, 21),
    ino: Number(payload.readBigUInt64LE(33)),
  };
}

export function decodePath(payload: Buffer): string {
  if (payload.length === 0 || payload.length > PATH_MAX || payload[0] !== 0x2f || payload.includes(0)) {
    throw new WireError('a malformed path');
  }
  return payload.toString('utf8');
}

export function decodeNames(payload: Buffer): string[] {
  if (payload.length < 4 || payload.length > MAX_DIR_BYTES) throw new WireError(`a directory answer of ${payload.length} bytes`);
  const count = payload.readUInt32LE(0);
  if (count > MAX_DIR_NAMES) throw new WireError(`${count} directory entries`);
  const names: string[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (payload.length - at < 4) throw new WireError('a truncated directory answer');
    const len = payload.readUInt32LE(at);
    at += 4;
    if (len === 0 || len > payload.length - at) throw new WireError('a truncated directory answer');
    const name = payload.subarray(at, at + len);
    at += len;
    if (name.includes(0) || name.includes(0x2f)) throw new WireError('a directory entry with a NUL or a slash');
    const text = name.toString('utf8');
    if (text === '.' || text === '..') throw new WireError(`a directory entry '${text}'`);
    names.push(text);
  }
  if (at !== payload.length) throw new WireError('trailing bytes after the directory entries');
  return names;
}

/** LOAD's payload: its three answer frames, lstat, realpath and read, each without its length prefix. */
export function decodeLoad(payload: Buffer): [Buffer, Buffer, Buffer] {
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < 3; i++) {
    if (payload.length - at < 4) throw new WireError('a truncated load answer');
    const len = payload.readUInt32LE(at);
    if (len === 0 || len > payload.length - at - 4) throw new WireError('a truncated load answer');
    parts.push(payload.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (at !== payload.length) throw new WireError('trailing bytes after a load answer');
  return parts as [Buffer, Buffer, Buffer];
}

export function decodeEmpty(payload: Buffer): void {
  exactly(payload, 0, 'empty');
}

export function decodeExec(payload: Buffer, limit: number): { status: number; stdout: Buffer } {
  if (payload.length < 4) throw new WireError('an exec answer without a wait status');
  if (payload.length - 4 > limit) throw new WireError(`${payload.length - 4} bytes of output, over the ${limit}-byte limit`);
  return { status: payload.readInt32LE(0), stdout: payload.subarray(4) };
}

/** Reads the fields of a payload in order; running past its end is a WireError. */
class Fields {
  at = 0;
  constructor(
    private readonly b: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): number {
    if (this.b.length - this.at < n) throw new WireError(`a truncated ${this.what} answer`);
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(): number {
    return this.b[this.need(1)];
  }
  u32(): number {
    return this.b.readUInt32LE(this.need(4));
  }
  /** A u64 that must be exact as a number (inodes, sizes, devices). */
  u64(): number {
    const v = this.b.readBigUInt64LE(this.need(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`${v} in a ${this.what} answer is past 2^53`);
    return Number(v);
  }
  i64(): number {
    const v = this.b.readBigInt64LE(this.need(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new WireError(`${v} in a ${this.what} answer is past 2^53`);
    return Number(v);
  }
  mtimeMs(): number {
    return mtimeMs(this.b, this.need(12));
  }
  path(): string {
    const n = this.u32();
    if (n > PATH_MAX) throw new WireError(`a path of ${n} bytes in a ${this.what} answer`);
    return decodePath(this.b.subarray(this.need(n), this.at));
  }
  rest(): Buffer {
    return this.b.subarray(this.at);
  }
}

/** OPEN's fuse field: undefined (not FUSE), null (a FUSE mount whose user_id is unknown) or that user_id. */
function fuseField(f: Fields): number | null | undefined {
  const v = f.i64();
  if (v === FUSE_FIELD.notFuse) return undefined;
  if (v === FUSE_FIELD.ownerUnknown) return null;
  if (v < 0 || v > 0xffffffff) throw new WireError(`a FUSE user_id of ${v}`);
  return v;
}

/** The fuse field set only when on FUSE (the facts cross the reader wire as JSON, where undefined is no key). */
function withFuse<T extends { fuse?: number | null }>(o: T, fuse: number | null | undefined): T {
  if (fuse !== undefined) o.fuse = fuse;
  return o;
}

/** OPEN's payload: the facts (for `asked`, the path requested) and the bytes, at most limit of them. */
export function decodeOpen(payload: Buffer, asked: string, limit: number): { facts: FileFacts; bytes: Buffer } {
  const f = new Fields(payload, 'open');
  const dev = f.u64();
  const ino = f.u64();
  const mode = f.u32();
  const uid = f.u32();
  const gid = f.u32();
  const nlink = f.u32();
  const size = f.u64();
  const mtime = f.mtimeMs();
  const fuse = fuseField(f);
  const symlink = f.u8();
  if (symlink > 1) throw new WireError(`an open answer's symlink flag of ${symlink}`);
  const entry = { symlink: symlink === 1, uid: f.u32(), gid: f.u32(), ino: f.u64() };
  const real = f.path();
  const count = f.u32();
  if (count < 1 || count > MAX_OPEN_STEPS) throw new WireError(`${count} steps in an open answer`);
  const steps: PathStep[] = [];
  for (let i = 0; i < count; i++) {
    const type = FILE_TYPES[f.u8()];
    if (type !== 'dir' && type !== 'symlink') throw new WireError(`a step of type ${type} in an open answer`);
    const [stepMode, stepUid, stepGid, stepFuse] = [f.u32(), f.u32(), f.u32(), fuseField(f)];
    steps.push(withFuse<PathStep>({ type, path: f.path(), mode: stepMode, uid: stepUid, gid: stepGid }, stepFuse));
  }
  if ((mode & 0o170000) !== 0o100000) throw new WireError(`an open answer for a file of mode ${mode.toString(8)}`);
  const bytes = decodeRead(f.rest(), limit);
  return {
    facts: withFuse<FileFacts>({ path: asked, real, dev, ino, mode, uid, gid, nlink, size, mtimeMs: mtime, entry, steps }, fuse),
    bytes,
  };
}

/** BIND's payload: the inode of the socket file, 0 when there is none. */
export function decodeBound(payload: Buffer): number {
  exactly(payload, 8, 'bind');
  const ino = payload.readBigUInt64LE(0);
  if (ino > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`inode ${ino}`);
  return Number(ino);
}

export function decodeSource(payload: Buffer): SourceStat | null {
  exactly(payload, SOURCE_BYTES, 'stat-sources');
  const kind = payload[0];
  if (kind > 2) throw new WireError(`source kind ${kind}`);
  if (kind === 0) return null;
  return { mtimeMs: mtimeMs(payload, 1), uid: payload.readUInt32LE(13), gid: payload.readUInt32LE(17), symlink: kind === 2 };
}
