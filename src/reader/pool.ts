// The emperor's side of the config readers: a few reader processes (src/reader/main.ts) started on demand, up to
// PIPELINE requests queued in each (a reader answers them in order, so a burst of vassals costs one write and a few
// wake-ups per batch, not per vassal), a watchdog on the request each reader is working on. A file that makes its reader spin, crash or run out of memory
// costs that reader (restarted for the next request) and fails that vassal only; the emperor's event loop never
// waits on any of it.
import * as net from 'node:net';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';
import type { ResolvedConfig } from '../config/types';
import type { FileFacts } from '../file-identity';
import type { Logger } from '../log';
import * as native from '../native';
import { CheckError } from '../check';
import { JsonLines, WireError } from '../frames';
import { MAX_ANSWER_BYTES, parseAnswer, type ReadAnswer, type ReadError, type ReadRequest, type SectionDigest } from './reader-wire';

export type { Identity, SectionDigest } from './reader-wire';

/**
 * A resolved config, or why not. With an identity (a tyrant's vassal) `opened` carries the facts of the vassal file's
 * one open, which the emperor judges itself (src/emperor/tyrant.ts), and for a uWSGI vassal `bytes` are that open's.
 */
export type ReadResult =
  { config: ResolvedConfig; shell: string; opened?: FileFacts; bytes?: Buffer } | { error: ConfigError; opened?: FileFacts };
export type SectionsResult = { sections: SectionDigest[] } | { error: ConfigError };

/** What a request gets when no reader answered it. */
type Failure = { error: ReadError };

function configError(e: ReadError): ConfigError {
  return new ConfigError(e.file, e.line, e.reason, e.option, e.code);
}

export interface ReaderOptions {
  /** The vassal environment: the readers' own, so $(VAR), UWSGI_* options and exec:// see what the vassal sees. */
  env: Record<string, string>;
  /** Time for one vassal's whole resolution. */
  budgetMs: number;
  log: Logger;
  /** Reader processes at most (each resolves one config at a time). */
  maxProcesses?: number;
  /** A reader with nothing to do exits after this long. */
  idleMs?: number;
  /** Keep one reader even when idle: on-demand vassals wake after long quiet spells, and must not wait for a start. */
  keepWarm?: boolean;
  /** Ambient capabilities the readers keep (a capability-limited emperor's setuid/setgid, to start agents as tenants). */
  capAmbient?: number[];
  /** /dev/null, opened by the emperor. */
  devNull: number;
}

/** The reader's V8 heap: a config that needs more is refused (the reader dies of it, the emperor does not). */
const HEAP_MB = 256;
/** Past the budget, the time a reader gets to answer before it is killed (the agents time out within the budget). */
const GRACE_MS = 2000;
/** Requests a reader holds at once; the first is the one it works on. */
const PIPELINE = 16;

interface Job {
  req: ReadRequest;
  done(r: ReadAnswer | Failure): void;
}

interface Reader {
  child: native.Child;
  sock: net.Socket;
  /** Its answers, one checked JSON line each. */
  answers: JsonLines;
  /** In the order the reader answers them; the watchdog runs on the first. */
  jobs: Job[];
  watchdog?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
  gone: boolean;
}

export class ConfigReader {
  private readonly queue: Job[] = [];
  private readonly readers = new Set<Reader>();
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: ReaderOptions) {}

  /** Resolves the config; never rejects: a failure of any kind is a ConfigError naming the file (and line). */
  async read(req: Omit<ReadRequest, 'id' | 'budgetMs' | 'sections'>): Promise<ReadResult> {
    const a = await this.request(req);
    if ('error' in a) return { error: configError(a.error), ...(a.error.opened && { opened: a.error.opened }) };
    if ('config' in a) {
      const { config, shell, opened, bytes } = a;
      return { config, shell, ...(opened && { opened }), ...(bytes !== undefined && { bytes: Buffer.from(bytes, 'base64') }) };
    }
    return { error: new ConfigError(req.spec, 0, 'the config reader answered out of turn', undefined, 'EAGENT') };
  }

  /** The file's sections with a digest of each one's resolved options; never rejects, as read(). */
  async sections(req: Omit<ReadRequest, 'id' | 'budgetMs' | 'sections'>): Promise<SectionsResult> {
    const a = await this.request({ ...req, sections: true });
    if ('error' in a) return { error: configError(a.error) };
    if ('sections' in a) return { sections: a.sections };
    return { error: new ConfigError(req.spec, 0, 'the config reader answered out of turn', undefined, 'EAGENT') };
  }

  private request(req: Omit<ReadRequest, 'id' | 'budgetMs'>): Promise<ReadAnswer | Failure> {
    return new Promise((done) => {
      if (this.closed) return done(failure(req.spec, 'the emperor is shutting down', 'ESHUTDOWN'));
      this.queue.push({ req: { ...req, id: ++this.seq, budgetMs: this.opts.budgetMs }, done });
      this.pump();
    });
  }

  /**
   * Starts a reader before anyone asks: at the emperor's start, Node's boot in the reader (a third of a second on a
   * small box) then overlaps the first scan instead of delaying the first vassal. Idle, it exits as any reader does.
   */
  warm(): void {
    if (this.closed || this.readers.size > 0) return;
    try {
      this.rest(this.start());
    } catch {
      /* no process to be had now: the first request starts one, or says why */
    }
  }

  /** Kills every reader; queued and running reads fail. */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.done(failure(job.req.spec, 'the emperor is shutting down', 'ESHUTDOWN'));
    for (const r of [...this.readers]) this.drop(r, 'the emperor is shutting down', 'ESHUTDOWN');
  }

  private pump(): void {
    const batches = new Map<Reader, string[]>();
    while (this.queue.length > 0) {
      let reader: Reader | undefined;
      for (const r of this.readers) if (!reader || r.jobs.length < reader.jobs.length) reader = r;
      if ((!reader || reader.jobs.length > 0) && this.readers.size < (this.opts.maxProcesses ?? 2)) {
        try {
          reader = this.start();
        } catch (e) {
          // no process to be had (EMFILE, EAGAIN): the readers running take the queue; without one, each waiting
          // vassal hears why, and is retried as a transient failure
          if (!reader) {
            for (const job of this.queue.splice(0))
              job.done(failure(job.req.spec, `cannot start a config reader: ${(e as Error).message}`, 'EAGAIN'));
            break;
          }
        }
      }
      if (!reader || reader.jobs.length >= PIPELINE) break;
      const job = this.queue.shift()!;
      reader.jobs.push(job);
      if (reader.jobs.length === 1) this.working(reader);
      let lines = batches.get(reader);
      if (!lines) batches.set(reader, (lines = []));
      lines.push(JSON.stringify(job.req));
    }
    for (const [r, lines] of batches) r.sock.write(`${lines.join('\n')}\n`);
  }

  private start(): Reader {
    const [ours, theirs] = native.socketpair();
    let child: native.Child;
    let reader: Reader | undefined; // eslint-disable-line prefer-const -- set after spawn(), read by its exit callback
    try {
      child = native.spawn(
        {
          file: process.execPath,
          argv: ['emperor-reader', `--max-old-space-size=${HEAP_MB}`, path.join(__dirname, 'main.js')],
          env: this.opts.env,
          cwd: '/',
          fds: [this.opts.devNull, this.opts.devNull, 2, theirs],
          deathSignal: 'SIGKILL',
          ...(this.opts.capAmbient?.length ? { capAmbient: this.opts.capAmbient } : {}),
        },
        (info) => reader && this.onExit(reader, info),
      );
    } catch (e) {
      native.closeFd(ours);
      throw e;
    } finally {
      native.closeFd(theirs);
    }
    // its exit follows and fails the request it had; the log says why it never ran
    child.started.catch((e: Error) =>
      this.opts.log.error({ event: 'reader-setup-failed', error: e.message }, `the config reader did not start: ${e.message}`),
    );
    const sock = new net.Socket({ fd: ours, readable: true, writable: true });
    reader = { child, sock, answers: new JsonLines(MAX_ANSWER_BYTES), jobs: [], gone: false };
    const r = reader;
    this.readers.add(r);
    sock.on('data', (chunk: Buffer) => this.onData(r, chunk));
    sock.on('error', () => sock.destroy());
    return r;
  }

  /** The reader has work: it keeps the emperor alive, and its first request gets the watchdog. */
  private working(r: Reader): void {
    clearTimeout(r.idle);
    r.child.ref();
    const job = r.jobs[0];
    r.watchdog = setTimeout(() => {
      this.opts.log.error(
        { event: 'reader-killed', file: job.req.spec, budget_ms: job.req.budgetMs },
        'the config reader did not answer in time: killed',
      );
      this.drop(r, `the config reader did not finish within ${job.req.budgetMs / 1000} s (killed)`, 'ETIMEDOUT');
    }, job.req.budgetMs + GRACE_MS);
  }

  private onData(r: Reader, chunk: Buffer): void {
    let answers: ReadAnswer[];
    try {
      answers = r.answers.push(chunk).map(parseAnswer);
    } catch (e) {
      if (!(e instanceof CheckError || e instanceof WireError)) throw e;
      // the reader parses tenants' bytes: whatever made it say this, it is not trusted with another file
      this.opts.log.error(
        { event: 'reader-protocol-error', file: r.jobs[0]?.req.spec, error: e.message },
        `the config reader broke its wire: ${e.message}`,
      );
      return this.drop(r, `the config reader answered what its wire does not allow (${e.message})`, 'EAGENT');
    }
    for (const answer of answers) {
      const job = r.jobs[0];
      if (!job || answer.id !== job.req.id) return this.drop(r, 'the config reader answered out of turn', 'EAGENT');
      clearTimeout(r.watchdog);
      r.jobs.shift();
      if (r.jobs.length > 0) this.working(r);
      job.done(answer);
      this.rest(r);
    }
  }

  /** An idle reader no longer keeps the emperor alive, and exits after a while. */
  private rest(r: Reader): void {
    this.pump();
    if (r.jobs.length > 0 || r.gone) return;
    r.child.unref();
    if (this.opts.keepWarm && [...this.readers].every((o) => o === r || o.gone)) return;
    r.idle = setTimeout(() => this.drop(r, '', 'EIDLE'), this.opts.idleMs ?? 30000);
    r.idle.unref();
  }

  private onExit(r: Reader, info: native.ExitInfo): void {
    const how = info.signal
      ? `killed by ${info.signal}${info.signal === 'SIGABRT' ? `; over its ${HEAP_MB} MB heap?` : ''}`
      : `exit ${info.code}`;
    if (r.jobs.length > 0)
      this.opts.log.error(
        { event: 'reader-died', file: r.jobs[0].req.spec, code: info.code, signal: info.signal },
        'the config reader died',
      );
    this.drop(r, `the config reader died while resolving this file (${how})`, 'EAGENT');
  }

  /** Ends a reader; the request it was working on, if any, fails with `why`; the ones queued behind it go back. */
  private drop(r: Reader, why: string, code: string): void {
    clearTimeout(r.idle);
    clearTimeout(r.watchdog);
    const [job, ...behind] = r.jobs.splice(0);
    if (!this.closed) this.queue.unshift(...behind);
    else for (const j of behind) j.done(failure(j.req.spec, why, code));
    if (job) job.done(failure(job.req.spec, why, code));
    if (!r.gone) {
      r.gone = true;
      this.readers.delete(r);
      r.child.kill('SIGKILL');
      r.sock.destroy();
    }
    this.pump();
  }
}

function failure(spec: string, reason: string, code: string): Failure {
  return { error: { file: spec, line: 0, reason, code } };
}
