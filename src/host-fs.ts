// What a file host (an agent process) says about files, and the error every filesystem or command access made on a
// vassal's behalf fails with (config reads, monitor scans): a leaf module, so the pure layers (src/config,
// src/monitors) and the processes that do the access share it.

/**
 * code: an errno name ('ENOENT', 'EACCES', ...) or one of
 * - 'ETIMEDOUT': the access did not finish within its time budget (a hung mount, a slow command);
 * - 'ENOTREG': the path is not a regular file (a FIFO, a device, a socket): refused, never opened for reading;
 * - 'EFBIG': more bytes than the limit were read (counted as read, never taken from stat);
 * - 'EAGENT': the process doing the access died or answered nonsense;
 * - 'EAGAIN': refused at once because too many earlier accesses as the same identity are still stuck; `settled` says
 *   when one of them has ended.
 * message is complete and names the path ("timed out after 5 s reading /mnt/x.ini").
 */
export class HostError extends Error {
  readonly code: string;
  readonly path?: string;
  /** ETIMEDOUT, EAGAIN: settles once the access that hung is over (the process stuck on it has exited). */
  readonly settled?: Promise<void>;

  constructor(code: string, message: string, opts: { path?: string; settled?: Promise<void> } = {}) {
    super(message);
    this.name = 'HostError';
    this.code = code;
    if (opts.path !== undefined) this.path = opts.path;
    if (opts.settled) this.settled = opts.settled;
  }
}

export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block' | 'unknown';

export interface HostStat {
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** What a scan learns of one candidate path (the rule is in src/monitors/stat-source.ts). */
export interface SourceStat {
  mtimeMs: number;
  uid: number;
  gid: number;
  /** The entry is a symlink (its target may change without an event in the watched directory). */
  symlink: boolean;
}

export interface DirStamp {
  ino: number;
  mtimeMs: number;
}

export interface StatModes {
  nofollow: boolean;
  tyrantNofollow: boolean;
}
