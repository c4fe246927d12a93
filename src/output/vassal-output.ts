// A vassal's own output: a uWSGI vassal's stdout and stderr come through pipes the emperor reads on its loop, a native
// vassal's as frames its init relays on the control socket (the init holds the pipes). One log event per line
// (`vassal`, `stream`, `pid`), a bounded ring of recent lines for `emperor logs`, and optionally a size-capped file
// per vassal. A vassal that floods is read and dropped over a line rate (said once per second, with the count), and
// past a byte budget its pipes are left full until the next second (here; a native vassal's channel by its InitLink),
// so the flood costs the flooder its own writes, never the emperor's loop.
import * as path from 'node:path';
import { vassalLogger, vassalOutputLogger, type Logger } from '../log';
import * as native from '../native';
import { logFileName, RotatingFile } from './logfile';
import { detached } from '../detach';
import { ByteBudget } from '../byte-budget';
import { LineSplitter } from '../frames';
import { printable } from '../printable';

export type OutputStream = 'stdout' | 'stderr';

export interface OutputLine {
  /** Epoch ms. */
  time: number;
  /** 'emperor' for the emperor's own notes in the ring (lines dropped). */
  stream: OutputStream | 'emperor';
  pid: number;
  line: string;
  /** Bytes of this line past the length bound, not kept. */
  truncated?: number;
}

export interface OutputOptions {
  /** Lines per second per vassal before lines are dropped; 0: no limit. */
  ratePerSecond: number;
  /** Lines kept in memory per vassal. */
  ringLines: number;
  /** One file per vassal here, when given. */
  logsDir?: string;
  maxFileBytes: number;
  keepFiles: number;
}

/** Longest line kept; the rest of it is counted in `truncated`. */
export const MAX_LINE = 16 * 1024;
/** Bytes a ring may hold whatever its line count. */
const RING_BYTES = 1024 * 1024;
const WINDOW_MS = 1000;

/**
 * One instance's output: either two pipes whose write ends are the child's fds 1 and 2 (a uWSGI vassal), or what a
 * vassal init relays on its control socket from pipes of its own (a native vassal: no fd in the emperor).
 */
export interface InstanceOutput {
  /** The pipes' write ends; undefined for a relayed instance. */
  readonly stdout?: number;
  readonly stderr?: number;
  /** The child exists: the write ends are closed here and reading starts, lines tagged with pid. */
  attach(pid: number): void;
  /** No child: every end is closed. */
  abort(): void;
  /** A relayed instance: a chunk of its stream as the init sent it. */
  relay(stream: OutputStream, chunk: Buffer): void;
  /** A relayed instance's channel has closed: a last line without its newline is still a line. */
  end(): void;
}

export class VassalOutput {
  private readonly ring: OutputLine[] = [];
  private ringBytes = 0;
  /** Made on first use: most vassals are never followed, and native ones have no pipe here. */
  private followers?: Set<(l: OutputLine) => void>;
  private readers?: Set<PipeReader>;
  /** Relayed instances whose channel is still open. */
  private sources = 0;
  private readonly file?: RotatingFile;
  private windowStart = 0;
  private windowLines = 0;
  private dropped = 0;
  private noticeTimer?: NodeJS.Timeout;
  /** Bytes read from the pipes: past the budget of the second, they wait (the writer blocks) until the next one. */
  private readonly pipeBudget = new ByteBudget({
    pause: () => this.readers?.forEach((r) => r.channel.pause()),
    resume: () => this.readers?.forEach((r) => r.channel.resume()),
  });
  private closed = false;
  /** Bumped when the vassal's owner changes: lines of an instance opened before are not the new owner's to read. */
  private owners = 0;
  /** Lines dropped over the rate since the vassal appeared. */
  droppedTotal = 0;

  constructor(
    readonly name: string,
    private readonly opts: OutputOptions,
  ) {
    if (opts.logsDir)
      this.file = new RotatingFile(path.join(opts.logsDir, logFileName(name)), opts.maxFileBytes, opts.keepFiles, this.emperorLog);
  }

  /** A pino child per event, as for the vassal's own log (src/emperor/vassal.ts): a quiet vassal keeps none. */
  private get log(): Logger {
    return vassalOutputLogger(this.name);
  }

  private get emperorLog(): Logger {
    return vassalLogger(this.name);
  }

  open(relayed = false): InstanceOutput {
    if (relayed) return this.relayed();
    const owner = this.owners;
    const out = native.pipe();
    let err: [number, number];
    try {
      err = native.pipe();
    } catch (e) {
      out.forEach(native.closeFd);
      throw e;
    }
    const closeWriteEnds = () => {
      native.closeFd(out[1]);
      native.closeFd(err[1]);
    };
    return {
      stdout: out[1],
      stderr: err[1],
      attach: (pid) => {
        closeWriteEnds();
        this.read(out[0], 'stdout', pid, owner);
        this.read(err[0], 'stderr', pid, owner);
      },
      abort: () => {
        closeWriteEnds();
        native.closeFd(out[0]);
        native.closeFd(err[0]);
      },
      relay: () => {
        throw new TypeError('an instance with pipes has nothing relayed');
      },
      end: () => {},
    };
  }

  private relayed(): InstanceOutput {
    this.sources++;
    return new RelayedOutput(this, this.owners);
  }

  /** The lines of one stream of one instance (opened under `owner`, the owners count), as they will be logged and kept. */
  lineSplitter(stream: OutputStream, pid: number, owner: number): LineSplitter {
    return new LineSplitter((line, truncated) => this.line(stream, pid, line, truncated, owner), MAX_LINE);
  }

  /**
   * The vassal's owner changed (tyrant mode: a new vassal). What the old owner's instances printed is not the new
   * owner's to read: the ring is emptied, the log file starts again (the old one is rotated away), and whatever an
   * instance opened before still prints goes to the emperor's own log only. Followers stay: whether each may still
   * read is the control socket's question at every line.
   */
  newOwner(): void {
    this.owners++;
    this.ring.length = 0;
    this.ringBytes = 0;
    this.file?.restart();
  }

  /** A relayed instance's channel has closed. */
  sourceEnded(): void {
    this.sources--;
    this.finishIfDrained();
  }

  /** The last n lines (oldest first). */
  recent(n = this.ring.length): OutputLine[] {
    return n <= 0 ? [] : this.ring.slice(-n);
  }

  /** Every line from now on, until the returned function is called. */
  follow(fn: (l: OutputLine) => void): () => void {
    const followers = (this.followers ??= new Set());
    followers.add(fn);
    return () => followers.delete(fn);
  }

  /** The vassal is gone: what its pipes still hold is read to their end, then the file is closed. */
  close(): void {
    this.closed = true;
    this.followers = undefined;
    this.finishIfDrained();
  }

  private finishIfDrained(): void {
    if (!this.closed || this.readers?.size || this.sources) return;
    this.flushNotice();
    clearTimeout(this.noticeTimer);
    this.pipeBudget.close();
    if (this.file) detached(this.file.close(), 'log file close');
  }

  private read(fd: number, stream: OutputStream, pid: number, owner: number): void {
    (this.readers ??= new Set()).add(new PipeReader(fd, this, this.lineSplitter(stream, pid, owner)));
  }

  /** A pipe has closed: the last line without its newline is still a line. */
  pipeClosed(reader: PipeReader, split: LineSplitter): void {
    split.end();
    this.readers?.delete(reader);
    this.finishIfDrained();
  }

  private rollWindow(now: number): void {
    if (now - this.windowStart < WINDOW_MS) return;
    this.flushNotice();
    this.windowStart = now;
    this.windowLines = 0;
  }

  /** Bytes read from this vassal's pipes. */
  pipeBytes(bytes: number): void {
    this.pipeBudget.spend(bytes);
  }

  private line(stream: OutputStream, pid: number, raw: Buffer, truncated: number, owner: number): void {
    const now = Date.now();
    this.rollWindow(now);
    if (this.opts.ratePerSecond > 0 && ++this.windowLines > this.opts.ratePerSecond) {
      this.dropped++;
      this.droppedTotal++;
      // the count is said at the end of the window even when the vassal then falls silent
      this.noticeTimer ??= setTimeout(
        () => {
          this.noticeTimer = undefined;
          this.flushNotice();
        },
        Math.max(1, this.windowStart + WINDOW_MS - now),
      );
      return;
    }
    const entry: OutputLine = { time: now, stream, pid, line: printable(raw) };
    if (truncated) entry.truncated = truncated;
    if (truncated) this.log.info({ event: 'output', stream, pid, truncated }, entry.line);
    else this.log.info({ event: 'output', stream, pid }, entry.line);
    if (owner === this.owners) this.keep(entry);
  }

  private flushNotice(): void {
    clearTimeout(this.noticeTimer);
    this.noticeTimer = undefined;
    if (!this.dropped) return;
    const message = `${this.dropped} lines of output dropped: over ${this.opts.ratePerSecond} lines/s`;
    this.emperorLog.warn({ event: 'output-dropped', dropped: this.dropped, rate: this.opts.ratePerSecond }, message);
    this.dropped = 0;
    this.keep({ time: Date.now(), stream: 'emperor', pid: process.pid, line: message });
  }

  private keep(entry: OutputLine): void {
    this.ring.push(entry);
    this.ringBytes += entry.line.length;
    while (this.ring.length > this.opts.ringLines || (this.ringBytes > RING_BYTES && this.ring.length > 1))
      this.ringBytes -= this.ring.shift()!.line.length;
    this.file?.write(
      `${new Date(entry.time).toISOString()} ${entry.stream} ${entry.line}${entry.truncated ? ` [${entry.truncated} more bytes]` : ''}\n`,
    );
    for (const f of this.followers ?? []) f(entry);
  }
}

/** One output pipe of a uWSGI vassal: its chunks go to the vassal's output, split into lines. */
class PipeReader implements native.ChannelSink {
  readonly channel: native.FdChannel;

  constructor(
    fd: number,
    private readonly owner: VassalOutput,
    private readonly split: LineSplitter,
  ) {
    this.channel = new native.FdChannel(fd, this);
  }

  onData(chunk: Buffer): void {
    this.owner.pipeBytes(chunk.length);
    this.split.push(chunk);
  }

  onClose(): void {
    this.owner.pipeClosed(this, this.split);
  }
}

/** What a native vassal's init relays of one instance's output, until its channel closes. */
class RelayedOutput implements InstanceOutput {
  private pid = 0;
  private open = true;
  private stdoutLines?: LineSplitter;
  private stderrLines?: LineSplitter;

  constructor(
    private readonly owner: VassalOutput,
    /** The owners count it was opened under. */
    private readonly opened: number,
  ) {}

  attach(pid: number): void {
    this.pid = pid;
  }

  abort(): void {
    this.end();
  }

  relay(stream: OutputStream, chunk: Buffer): void {
    if (!this.open) return; // the byte budget is the InitLink's: it pauses the init's channel
    const lines =
      stream === 'stderr'
        ? (this.stderrLines ??= this.owner.lineSplitter(stream, this.pid, this.opened))
        : (this.stdoutLines ??= this.owner.lineSplitter(stream, this.pid, this.opened));
    lines.push(chunk);
  }

  end(): void {
    if (!this.open) return;
    this.open = false;
    this.stdoutLines?.end();
    this.stderrLines?.end();
    this.owner.sourceEnded();
  }
}
