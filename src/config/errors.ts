// The one error type the config reader throws: the emperor refuses only that vassal and names where it went wrong.

export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly option?: string;
  /** What went wrong, without the file:line: prefix. */
  readonly reason: string;
  /**
   * 'ECONFIG' for what the file says; otherwise the access that failed, as HostError codes it: 'ETIMEDOUT' (a hung
   * mount or slow command: worth retrying), 'EACCES', 'ENOENT', 'ENOTREG', 'EFBIG', ...
   */
  readonly code: string;

  constructor(file: string, line: number, reason: string, option?: string, code = 'ECONFIG') {
    super(`${file}:${line}: ${option !== undefined ? `${option}: ` : ''}${reason}`);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.option = option;
    this.reason = reason;
    this.code = code;
  }
}
