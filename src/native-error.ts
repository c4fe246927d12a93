// The error every syscall wrapper of the addon throws or reports, shaped like Node's SystemError (code, errno,
// syscall): a leaf, so that modules which only name a failure need not load the addon.
import * as os from 'node:os';

/** A failed syscall, shaped like Node's SystemError; every error the addon throws or reports is one. */
export class NativeError extends Error {
  code: string;
  /** Negative, as Node's SystemError.errno. */
  errno: number;
  syscall: string;
  declare path?: string;
  /** The setup step that failed ('execve', 'setresuid', 'chdir', 'uid_map', 'clone3', 'setup_timeout', ...). */
  declare step?: string;

  constructor(message: string, fields: { code: string; errno: number; syscall: string; path?: string; step?: string }) {
    super(message);
    this.code = fields.code;
    this.errno = fields.errno;
    this.syscall = fields.syscall;
    if (fields.path !== undefined) this.path = fields.path;
    if (fields.step !== undefined) this.step = fields.step;
  }
}

/** A NativeError for a failure detected in JS; errno is negative, as in Node's SystemError. */
export function nativeError(code: string, syscall: string, opts: { path?: string; step?: string } = {}): NativeError {
  const errno = (os.constants.errno as Record<string, number>)[code];
  const where = opts.path !== undefined ? ` '${opts.path}'` : '';
  return new NativeError(`${code}: ${syscall}${where}`, { code, errno: errno === undefined ? 0 : -errno, syscall, ...opts });
}
