// The one error type the config reader throws: the emperor refuses only that vassal and names where it went wrong.

export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly option?: string;

  constructor(file: string, line: number, what: string, option?: string) {
    super(`${file}:${line}: ${option !== undefined ? `${option}: ` : ''}${what}`);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.option = option;
  }
}
