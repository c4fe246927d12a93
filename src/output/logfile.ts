// One vassal's log file under --emperor-logs-dir, capped in size: past maxBytes it is renamed to NAME.log.1 (the
// older ones shift up to .keep, the oldest goes) and a new one starts, so logs never fill the disk (PM2's most
// common complaint). Writes are batched and go through libuv's threadpool; nothing here waits on the loop.
import { promises as fsp } from 'node:fs';
import type { Logger } from '../log';

/** A vassal's log file name: its name as one file name (no separator, no leading dot), then `.log`. */
export function logFileName(vassal: string): string {
  return `${encodeURIComponent(vassal).replace(/^\./, '%2E')}.log`;
}

/**
 * The vassal whose log file (NAME.log, or a rotated NAME.log.N) `file` is, if logFileName gives exactly that name;
 * undefined for any other file.
 */
export function vassalOfLogFile(file: string): string | undefined {
  const m = /^(.+)\.log(?:\.[1-9][0-9]{0,5})?$/.exec(file);
  if (!m) return undefined;
  let vassal: string;
  try {
    vassal = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  return logFileName(vassal) === `${m[1]}.log` ? vassal : undefined;
}

/** Bytes waiting for the disk; past it lines are counted and dropped, and the count is written when it catches up. */
const MAX_PENDING = 8 * 1024 * 1024;
const FLUSH_MS = 100;

export class RotatingFile {
  private pending: string[] = [];
  private pendingBytes = 0;
  private lost = 0;
  private size = -1;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private failed = false;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
    private readonly log: Logger,
  ) {}

  write(text: string): void {
    if (this.pendingBytes + text.length > MAX_PENDING) {
      this.lost++;
      return;
    }
    this.pending.push(text);
    this.pendingBytes += text.length;
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** What is pending is written, then the file is rotated away: the lines after this start a new one. */
  restart(): void {
    this.flush();
    this.writing = this.writing.then(() => this.rotate().catch((e: Error) => this.failure(e)));
  }

  /** Writes what is pending and resolves once it is on disk. */
  close(): Promise<void> {
    this.flush();
    return this.writing;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending.length && !this.lost) return;
    let data = this.pending.join('');
    if (this.lost) data += `${new Date().toISOString()} emperor ${this.lost} lines not written: the disk did not keep up\n`;
    this.pending = [];
    this.pendingBytes = 0;
    this.lost = 0;
    this.writing = this.writing.then(() => this.append(data));
  }

  private async append(data: string): Promise<void> {
    const bytes = Buffer.byteLength(data);
    try {
      if (this.size < 0)
        this.size = await fsp.stat(this.path).then(
          (s) => s.size,
          () => 0,
        );
      if (this.size > 0 && this.size + bytes > this.maxBytes) await this.rotate();
      await fsp.appendFile(this.path, data, { mode: 0o640 });
      this.size += bytes;
      this.failed = false;
    } catch (e) {
      this.failure(e as Error);
    }
  }

  private failure(e: Error): void {
    // said once per run of failures: a full disk must not turn into a log line per flush
    if (!this.failed)
      this.log.error({ event: 'logfile-error', file: this.path, error: e.message }, `cannot write ${this.path}: ${e.message}`);
    this.failed = true;
    this.size = -1;
  }

  private async rotate(): Promise<void> {
    const missingOk = (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    };
    if (this.keep === 0) await fsp.unlink(this.path).catch(missingOk);
    for (let i = this.keep; i >= 1; i--)
      await fsp.rename(i === 1 ? this.path : `${this.path}.${i - 1}`, `${this.path}.${i}`).catch(missingOk);
    this.size = 0;
  }
}
