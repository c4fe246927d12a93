// The emperor <-> init wire format on the socketpair (the init has its end as fd 3).
// Frame: u32 LE length of what follows, one type byte (MSG below; native/init/init.h mirrors it), the body.
// Emperor -> init:
//   start   plan
//   reload  u32 mercy ms, plan: an app that speaks the protocol gets byte 1 and the mercy to act on it
//   stop    u32 mercy ms, u8 stop byte (0, or 2 for a graceful stop): the same for that byte
//   plan = u32 count, then per step: u32 index, u8 flags (1 fatal, 2 atexit), u32 nargs, nargs x (u32 len, bytes);
//   the first arg is the op.
// Init -> emperor, each body exactly this (the init runs as the tenant, who may write any frame on its socket:
// decodeInitFrame checks every field before it is used):
//   step      u32 index (in the plan it runs, or 0xffffffff: the plan has no app), u8 ok (0/1), u8 fatal (0/1),
//             i32 errno (0..4095), then syscall NUL path NUL message: UTF-8, the syscall a lower-case name
//   app       u32 pid (as seen in the vassal's pid namespace, 1..4194304): the app started
//   exit      u32 code (0..255) and u32 signal 0, or u32 0xffffffff and u32 signal (1..64): the app ended
//   protocol  u8: one protocol byte the app wrote on its UWSGI_EMPEROR_FD
//   inPlace   u32 pid: the app answered byte 1 with byte 1 or 5 and is kept: it reloaded itself
//   fallback  u8 byte (0, 1 or 2): the app did nothing with that relayed byte within the mercy, so the init stops or
//             restarts it itself
//   output    u8 stream (1 stdout, 2 stderr), then 1 or more bytes: what the hooks and the app wrote (emperor-init
//             NAME --relay-output), in chunks as read, at most 4 MiB a second
import { isUtf8 } from 'node:buffer';
import { WireError } from '../frames';
import { TO_VASSAL } from '../tables/uwsgi-protocol';
import type { PlanStep } from './plan';

/** Exit codes of emperor-init besides the app's own status (128+signal when the app was killed). */
export const INIT_EXIT_STEP_FAILED = 125;
export const INIT_EXIT_MOUNTPOINT = 126;
export const INIT_EXIT_PROTOCOL = 124;

/** The message types, once. */
export const MSG = {
  start: 'P',
  reload: 'R',
  stop: 'T',
  step: 's',
  app: 'a',
  exit: 'x',
  protocol: 'p',
  inPlace: 'k',
  fallback: 'f',
  output: 'o',
} as const;

const FLAG_FATAL = 1;
const FLAG_ATEXIT = 2;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function frame(type: (typeof MSG)[keyof typeof MSG], body: Buffer): Buffer {
  return Buffer.concat([u32(body.length + 1), Buffer.from(type, 'latin1'), body]);
}

export function encodePlan(steps: PlanStep[]): Buffer {
  const parts: Buffer[] = [u32(steps.length)];
  steps.forEach((s, index) => {
    const words = [s.op, ...s.args];
    parts.push(u32(index), Buffer.from([(s.fatal ? FLAG_FATAL : 0) | (s.atexit ? FLAG_ATEXIT : 0)]), u32(words.length));
    for (const w of words) {
      const b = Buffer.from(w, 'utf8');
      parts.push(u32(b.length), b);
    }
  });
  return Buffer.concat(parts);
}

export const mercyBody = u32;

export function stopBody(mercyMs: number, byte: number): Buffer {
  return Buffer.concat([u32(mercyMs), Buffer.of(byte)]);
}

/** The step index of the init's own report that a plan has no app to run. */
export const NO_STEP = 0xffffffff;
/** What the exit frame's code says when the app was killed by a signal. */
const KILLED = 0xffffffff;
/** The kernel's PID_MAX_LIMIT. */
const PID_MAX = 1 << 22;
const SIGNAL_MAX = 64;
const ERRNO_MAX = 4095;
const SYSCALL = /^[a-z0-9_]{0,64}$/;

/**
 * The largest frame an honest init sends is an output chunk (16 KiB and a byte) or a step report: ten bytes, a
 * syscall name, a path (PATH_MAX) and a message naming that path, or a plan word twice at most (`exec` reports the
 * command's last word as its path; `call:` and an unknown user name put the argument in both). 256 KiB covers every
 * plan whose longest word is under 120 KiB (twice that, and 16 KiB for the rest); a plan with longer words raises the
 * cap to fit them. Anything longer is refused at its header, before a byte of it is buffered.
 */
export const MIN_FRAME_CAP = 256 * 1024;

/** The frame cap for an init running plans whose longest word is `longestWord` bytes. */
export function frameCap(longestWord: number): number {
  return Math.max(MIN_FRAME_CAP, 2 * longestWord + 16 * 1024);
}

/** The longest word (op or argument) of a plan, in UTF-8 bytes. */
export function longestWord(steps: readonly PlanStep[]): number {
  let most = 0;
  for (const s of steps) for (const w of [s.op, ...s.args]) most = Math.max(most, Buffer.byteLength(w, 'utf8'));
  return most;
}

/** What the init said in one frame, every field checked. */
export type InitMessage =
  | { type: 'step'; index: number; ok: boolean; fatal: boolean; errno: number; syscall: string; path: string; message: string }
  | { type: 'app' | 'inPlace'; pid: number }
  | { type: 'exit'; code: number | null; signal: number }
  | { type: 'protocol' | 'fallback'; byte: number }
  | { type: 'output'; stream: 'stdout' | 'stderr'; bytes: Buffer };

/** `what` with its article: 'an exit'. */
function exactly(body: Buffer, n: number, what: string): void {
  if (body.length !== n) throw new WireError(`${what} frame of ${body.length} bytes, not ${n}`);
}

function pidAt(body: Buffer, what: string): number {
  exactly(body, 4, what);
  const pid = body.readUInt32LE(0);
  if (pid < 1 || pid > PID_MAX) throw new WireError(`${what} frame with pid ${pid}`);
  return pid;
}

function flag(byte: number, what: string): boolean {
  if (byte > 1) throw new WireError(`${what} ${byte}, not 0 or 1`);
  return byte === 1;
}

function decodeStep(body: Buffer, steps: number): InitMessage {
  if (body.length < 12) throw new WireError(`a step frame of ${body.length} bytes`);
  const index = body.readUInt32LE(0);
  if (index >= steps && index !== NO_STEP) throw new WireError(`step index ${index} of a plan of ${steps} steps`);
  const errno = body.readInt32LE(6);
  if (errno < 0 || errno > ERRNO_MAX) throw new WireError(`errno ${errno}`);
  const text = body.subarray(10);
  if (!isUtf8(text)) throw new WireError('a step report that is not UTF-8');
  const parts = text.toString('utf8').split('\0');
  if (parts.length !== 3) throw new WireError(`a step report of ${parts.length} NUL-separated parts, not 3`);
  const [syscall, path, message] = parts;
  if (!SYSCALL.test(syscall)) throw new WireError(`syscall name ${JSON.stringify(syscall.slice(0, 40))}`);
  return { type: 'step', index, ok: flag(body[4], 'ok'), fatal: flag(body[5], 'fatal'), errno, syscall, path, message };
}

function decodeExit(body: Buffer): InitMessage {
  exactly(body, 8, 'an exit');
  const code = body.readUInt32LE(0);
  const signal = body.readUInt32LE(4);
  if (code === KILLED ? signal < 1 || signal > SIGNAL_MAX : code > 255 || signal !== 0)
    throw new WireError(`exit code ${code} with signal ${signal}`);
  return { type: 'exit', code: code === KILLED ? null : code, signal };
}

const FALLBACK_BYTES: readonly number[] = Object.values(TO_VASSAL);

/**
 * One frame from the init (its type byte and body), checked field by field; `steps` is the length of the longest
 * plan sent to it (a report names a step of one of them). Throws WireError for anything an honest init never sends.
 */
export function decodeInitFrame(frame: Buffer, steps: number): InitMessage {
  const type = String.fromCharCode(frame[0]);
  const body = frame.subarray(1);
  switch (type) {
    case MSG.step:
      return decodeStep(body, steps);
    case MSG.app:
      return { type: 'app', pid: pidAt(body, 'an app') };
    case MSG.inPlace:
      return { type: 'inPlace', pid: pidAt(body, 'an in-place') };
    case MSG.exit:
      return decodeExit(body);
    case MSG.protocol:
      exactly(body, 1, 'a protocol');
      return { type: 'protocol', byte: body[0] };
    case MSG.fallback:
      exactly(body, 1, 'a fallback');
      if (!FALLBACK_BYTES.includes(body[0])) throw new WireError(`fallback byte ${body[0]}`);
      return { type: 'fallback', byte: body[0] };
    case MSG.output:
      if (body.length < 2 || (body[0] !== 1 && body[0] !== 2)) throw new WireError('a malformed output frame');
      return { type: 'output', stream: body[0] === 2 ? 'stderr' : 'stdout', bytes: body.subarray(1) };
    default:
      throw new WireError(`frame type 0x${frame[0].toString(16).padStart(2, '0')}`);
  }
}
