// The emperor <-> init wire format on the socketpair (the init has its end as fd 3).
// Frame: u32 LE length of what follows, one type byte (MSG below; native/init/init.h mirrors it), the body.
// Emperor -> init:
//   start   plan
//   reload  u32 mercy ms, plan: an app that speaks the protocol gets byte 1 and the mercy to act on it
//   stop    u32 mercy ms, u8 stop byte (0, or 2 for a graceful stop): the same for that byte
//   plan = u32 count, then per step: u32 index, u8 flags (1 fatal, 2 atexit), u32 nargs, nargs x (u32 len, bytes);
//   the first arg is the op.
// Init -> emperor:
//   step      u32 index, u8 ok, u8 fatal, i32 errno, then syscall NUL path NUL message
//   app       u32 pid (as seen in the vassal's pid namespace): the app started
//   exit      u32 code or 0xffffffff, u32 signal: the app ended
//   protocol  the protocol bytes the app wrote on its UWSGI_EMPEROR_FD
//   inPlace   u32 pid: the app answered byte 1 with byte 1 or 5 and is kept: it reloaded itself
//   fallback  u8 byte: the app did nothing with that byte within the mercy, so the init stops or restarts it itself
//   output    u8 stream (1 stdout, 2 stderr), then bytes: what the hooks and the app wrote (emperor-init NAME
//             --relay-output), in chunks as read, at most 4 MiB a second
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

export interface Frame {
  type: string;
  body: Buffer;
}

/** Splits a byte stream into frames. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) break;
      out.push({ type: String.fromCharCode(this.buf[4]), body: this.buf.subarray(5, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

export interface RawStepReport {
  index: number;
  ok: boolean;
  fatal: boolean;
  errno: number;
  syscall: string;
  path: string;
  message: string;
}

export function decodeStepReport(body: Buffer): RawStepReport {
  const [syscall = '', path = '', message = ''] = body.subarray(10).toString('utf8').split('\0');
  return {
    index: body.readUInt32LE(0),
    ok: body[4] === 1,
    fatal: body[5] === 1,
    errno: body.readInt32LE(6),
    syscall,
    path,
    message,
  };
}
