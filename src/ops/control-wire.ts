// The control socket's wire: one JSON request line from the client, JSON answer lines from the emperor. An action
// answers one line; `status` one line with the stats document; `logs` one line per output line (then, with
// follow, every new one until the client hangs up); `drain` one line per vassal handed over ({vassal, state}), then
// its outcome ({state}); `resume-pool` its outcome. A failure is one line {ok: false, code, error}.

export type ControlCommand = 'status' | 'logs' | 'reload' | 'stop' | 'start' | 'resume' | 'drain' | 'resume-pool';
export const ACTIONS: readonly ControlCommand[] = ['reload', 'stop', 'start', 'resume'];

export interface ControlRequest {
  cmd: ControlCommand;
  vassal?: string;
  /** logs: how many recent lines first (default 15, as `pm2 logs`). */
  lines?: number;
  follow?: boolean;
}

/**
 * Why a drain or a resume-pool was refused or stopped (src/cluster/pool.ts): not in pool mode, not in the pool now, a
 * drain under way, no other node takes vassals, a vassal not running elsewhere in time.
 */
export const POOL_ERROR_CODES = ['ENOPOOL', 'EAGAIN', 'EBUSY', 'ENONODE', 'ETIMEDOUT'] as const;
export type PoolErrorCode = (typeof POOL_ERROR_CODES)[number];

/** Why a request was refused: ENOVASSAL (no such vassal), EPERM (not this peer's), EINVAL (a bad request), a pool's. */
export type ControlErrorCode = 'ENOVASSAL' | 'EPERM' | 'EINVAL' | 'ESLOW' | PoolErrorCode;

export type ControlAnswer =
  { ok: true; vassal?: string; state?: string; stats?: unknown; line?: LogLine } | { ok: false; code: ControlErrorCode; error: string };

export interface LogLine {
  vassal: string;
  time: number;
  stream: string;
  pid: number;
  line: string;
  truncated?: number;
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
