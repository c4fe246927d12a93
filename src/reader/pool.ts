// The emperor's side of the config readers: a few reader processes (src/reader/main.ts) started on demand, one
// request in flight each, a watchdog per request. A file that makes its reader spin, crash or run out of memory
// costs that reader (restarted for the next request) and fails that vassal only; the emperor's event loop never
// waits on any of it.
import * as net from 'node:net';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';
import type { ResolvedConfig } from '../config/types';
import type { Logger } from '../log';
import * as native from '../native';
import { MAX_ANSWER_BYTES, type ReadAnswer, type ReadError, type ReadRequest, type SectionDigest } from './protocol';

export type { Identity, SectionDigest } from './protocol';

export type ReadResult = { config: ResolvedConfig; shell: string } | { error: ConfigError };
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

interface Job {
  req: ReadRequest;
  done(r: ReadAnswer | Failure): void;
  timer?: NodeJS.Timeout;
}

interface Reader {
  child: native.Child;
  sock: net.Socket;
  buf: string;
  job?: Job;
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
    if ('error' in a) return { error: configError(a.error) };
    if ('config' in a) return { config: a.config, shell: a.shell };
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

  /** Kills every reader; queued and running reads fail. */
  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.done(failure(job.req.spec, 'the emperor is shutting down', 'ESHUTDOWN'));
    for (const r of [...this.readers]) this.drop(r, 'the emperor is shutting down', 'ESHUTDOWN');
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let reader = [...this.readers].find((r) => !r.job);
      if (!reader) {
        if (this.readers.size >= (this.opts.maxProcesses ?? 2)) return;
        try {
          reader = this.start();
        } catch (e) {
          // no process to be had (EMFILE, EAGAIN): each waiting vassal hears why, and is retried as a transient failure
          for (const job of this.queue.splice(0)) job.done(failure(job.req.spec, `cannot start a config reader: ${(e as Error).message}`, 'EAGAIN'));
          return;
        }
      }
      this.assign(reader, this.queue.shift()!);
    }
  }

  private start(): Reader {
    const [ours, theirs] = native.socketpair();
    let child: native.Child;
    let reader: Reader | undefined;
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
    child.started.catch((e: Error) => this.opts.log.error({ event: 'reader-setup-failed', error: e.message }, `the config reader did not start: ${e.message}`));
    const sock = new net.Socket({ fd: ours, readable: true, writable: true });
    reader = { child, sock, buf: '', gone: false };
    const r = reader;
    this.readers.add(r);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(r, chunk));
    sock.on('error', () => sock.destroy());
    return r;
  }

  private assign(r: Reader, job: Job): void {
    clearTimeout(r.idle);
    r.job = job;
    r.child.ref();
    job.timer = setTimeout(() => {
      this.opts.log.error({ event: 'reader-killed', file: job.req.spec, budget_ms: job.req.budgetMs }, 'the config reader did not answer in time: killed');
      this.drop(r, `the config reader did not finish within ${job.req.budgetMs / 1000} s (killed)`, 'ETIMEDOUT');
    }, job.req.budgetMs + GRACE_MS);
    r.sock.write(`${JSON.stringify(job.req)}\n`);
  }

  private onData(r: Reader, chunk: string): void {
    r.buf += chunk;
    let nl: number;
    while ((nl = r.buf.indexOf('\n')) >= 0) {
      const line = r.buf.slice(0, nl);
      r.buf = r.buf.slice(nl + 1);
      let answer: ReadAnswer;
      try {
        answer = JSON.parse(line) as ReadAnswer;
      } catch {
        return this.drop(r, 'the config reader answered garbage', 'EAGENT');
      }
      const job = r.job;
      if (!job || answer.id !== job.req.id) return this.drop(r, 'the config reader answered out of turn', 'EAGENT');
      clearTimeout(job.timer);
      r.job = undefined;
      job.done(answer);
      this.rest(r);
    }
    if (r.buf.length > MAX_ANSWER_BYTES + 1024) this.drop(r, 'the config reader answered more than it may', 'EAGENT');
  }

  /** An idle reader no longer keeps the emperor alive, and exits after a while. */
  private rest(r: Reader): void {
    this.pump();
    if (r.job || r.gone) return;
    r.child.unref();
    if (this.opts.keepWarm && [...this.readers].every((o) => o === r || o.gone)) return;
    r.idle = setTimeout(() => this.drop(r, '', 'EIDLE'), this.opts.idleMs ?? 30000);
    r.idle.unref();
  }

  private onExit(r: Reader, info: native.ExitInfo): void {
    const how = info.signal ? `killed by ${info.signal}${info.signal === 'SIGABRT' ? `; over its ${HEAP_MB} MB heap?` : ''}` : `exit ${info.code}`;
    if (r.job) this.opts.log.error({ event: 'reader-died', file: r.job.req.spec, code: info.code, signal: info.signal }, 'the config reader died');
    this.drop(r, `the config reader died while resolving this file (${how})`, 'EAGENT');
  }

  /** Ends a reader; its request, if any, fails with `why`. */
  private drop(r: Reader, why: string, code: string): void {
    clearTimeout(r.idle);
    if (r.job) {
      const job = r.job;
      r.job = undefined;
      clearTimeout(job.timer);
      job.done(failure(job.req.spec, why, code));
    }
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
