// The control socket's wire: one JSON request line from the client, JSON answer lines from the emperor. An action
// answers one line; `status` one line with the stats document; `logs` one line per output line (then, with
// follow, every new one until the client hangs up); `drain` one line per vassal handed over ({vassal, state}), then
// its outcome ({state}); `resume-pool` its outcome. A failure is one line {ok: false, code, error}. Both sides check
// what they read against the schemas here: the server reads requests from any local user in tyrant mode, and the
// client believes nothing it has not checked either.
import { boolean, byKey, integer, literal, object, optional, parseJson, string, variants, type Check, type Infer } from '../check';
import { statsDocument } from './stats-document';

/** Largest request line; anything longer is refused before it is read to its end. */
export const MAX_REQUEST = 64 * 1024;
/** Largest answer line: a status of every vassal of a big emperor. */
export const MAX_ANSWER = 64 * 1024 * 1024;
/** Most recent lines one `logs` request asks for. */
export const MAX_LINES = 1_000_000;

const name = string({ min: 1, max: 4096 });
const lines = optional(integer(0, MAX_LINES));

/** What a client may ask. The actions need a vassal name; `logs` without one is every vassal the peer may see. */
const controlRequest = variants('cmd', {
  status: object({ cmd: literal('status') }),
  logs: object({ cmd: literal('logs'), vassal: optional(name), lines, follow: optional(boolean) }),
  reload: object({ cmd: literal('reload'), vassal: name }),
  stop: object({ cmd: literal('stop'), vassal: name }),
  start: object({ cmd: literal('start'), vassal: name }),
  resume: object({ cmd: literal('resume'), vassal: name }),
  drain: object({ cmd: literal('drain') }),
  'resume-pool': object({ cmd: literal('resume-pool') }),
});
export type ControlCommand = ControlRequest['cmd'];
/** The commands that act on one vassal. */
export const ACTIONS: readonly ControlCommand[] = ['reload', 'stop', 'start', 'resume'];

export type ControlRequest = Infer<typeof controlRequest>;

/**
 * Why a drain or a resume-pool was refused or stopped (src/cluster/pool.ts): not in pool mode, not in the pool now, a
 * drain under way, no other node takes vassals, a vassal not running elsewhere in time.
 */
export const POOL_ERROR_CODES = ['ENOPOOL', 'EAGAIN', 'EBUSY', 'ENONODE', 'ETIMEDOUT'] as const;
export type PoolErrorCode = (typeof POOL_ERROR_CODES)[number];

/**
 * Why a request was refused: ENOVASSAL (no such vassal), EPERM (not this peer's), EINVAL (a bad request), ESLOW (a
 * follower that does not read), or a pool's.
 */
const errorCode = literal('ENOVASSAL', 'EPERM', 'EINVAL', 'ESLOW', ...POOL_ERROR_CODES);
export type ControlErrorCode = Infer<typeof errorCode>;

const text = string({ max: 1 << 20 });
const logLine = object({
  vassal: name,
  time: integer(0),
  stream: literal('stdout', 'stderr', 'emperor'),
  pid: integer(-1),
  line: text,
  truncated: optional(integer(1)),
});
export type LogLine = Infer<typeof logLine>;

const refusal = object({ ok: literal(false), code: errorCode, error: text });
/** An action done on a vassal, or (without one) a drain's or a resume-pool's outcome. */
const done = object({ ok: literal(true), vassal: optional(name), state: string({ max: 4096 }) });
const status = object({ ok: literal(true), stats: statsDocument });
const logAnswer = object({ ok: literal(true), line: logLine });

/** Each answer line: a refusal, a status, a log line, or an action done. */
const controlAnswer: Check<ControlAnswer> = byKey({ error: refusal, stats: status, line: logAnswer, state: done });

export type ControlAnswer = Infer<typeof refusal> | Infer<typeof done> | Infer<typeof status> | Infer<typeof logAnswer>;
export type ControlSuccess = Exclude<ControlAnswer, { ok: false }>;

/** A request line as the server reads it; a CheckError says what is wrong and where. */
export function parseRequest(line: string): ControlRequest {
  return parseJson(controlRequest, line, 'request');
}

/** An answer line as the client reads it; a CheckError says what is wrong and where. */
export function parseAnswer(line: string): ControlAnswer {
  return parseJson(controlAnswer, line, 'answer');
}

/** A refusal from the emperor, as the client throws it. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
