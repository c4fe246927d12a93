// The emperor's side of the config readers: a few reader processes (src/reader/main.ts) started on demand, a
// watchdog on the request each reader is working on. A file that makes its reader spin, crash or run out of memory
// costs that reader (restarted for the next request) and fails that vassal only; the emperor's event loop never
// waits on any of it.
//
// Scheduling (README, "Untrusted input"): requests wait in one queue per owner, and the owners take turns. A reader
// holds up to PIPELINE requests of one owner at a time (a reader answers them in order, so a burst of one owner's
// vassals costs one write and a few wake-ups per batch, not per vassal). An owner that waits while every reader is
// busy with others takes back the requests one reader has not started yet (a cancel line): that owner then waits at
// most for the request that reader is working on, which ends within one read budget, whatever the others' files do.
//
// A reader exits when its channel closes: idle, or at the emperor's end, it is closed; one that spins or breaks
// the wire is killed through its cgroup (src/cgroup/helpers.ts).
import * as net from 'node:net';
import * as path from 'node:path';
import { HelperCgroups, forceEnd } from '../cgroup/helpers';
import { ConfigError } from '../config/errors';
import type { ResolvedConfig } from '../config/types';
import type { FileFacts } from '../file-identity';
import type { Logger } from '../log';
import * as native from '../native';
import { CheckError } from '../check';
import { JsonLines, WireError } from '../frames';
import { OwnerQueues } from './owner-queues';
import { settlesWithin } from '../settle';
import {
  CANCELLED,
  MAX_ANSWER_BYTES,
  parseAnswer,
  type ReadAnswer,
  type ReadError,
  type ReadRequest,
  type SectionDigest,
} from './reader-wire';

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
  /** Where each reader gets a cgroup of its own (and makes its agents' in it); none without cgroup v2. */
  cgroups?: HelperCgroups;
}

/** The reader's V8 heap: a config that needs more is refused (the reader dies of it, the emperor does not). */
const HEAP_MB = 256;
/** Past the budget, the time a reader gets to answer before it is killed (the agents time out within the budget). */
const GRACE_MS = 2000;
/** Requests a reader holds at once; the first is the one it works on. */
const PIPELINE = 16;
/** At the emperor's end: how long readers get to exit on their channel's EOF, then to die of a kill. */
const CLOSE_GRACE_MS = 1000;
const KILL_WAIT_MS = 2000;

interface Job {
  req: ReadRequest;
  /** Whose read it is: the identity's uid, -1 for the emperor's own. */
  owner: number;
  done(r: ReadAnswer | Failure): void;
}

interface Reader {
  child: native.Child;
  sock: net.Socket;
  /** Its answers, one checked JSON line each. */
  answers: JsonLines;
  /** In the order the reader answers them, all of one owner; the watchdog runs on the first. */
  jobs: Job[];
  /** When it began the request it works on (Date.now()): the one that began first is the first sure to end. */
  since: number;
  /** A cancel line was sent: the requests it had not started come back, and nothing is added meanwhile. */
  cancelling: boolean;
  /** Those that came back so far, queued again once all have. */
  takenBack: Job[];
  watchdog?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
  gone: boolean;
  cgroup?: string;
  exited: Promise<void>;
}

export class ConfigReader {
  private readonly queue = new OwnerQueues<Job>();
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
      const owner = req.identity?.uid ?? -1;
      this.queue.push(owner, { req: { ...req, id: ++this.seq, budgetMs: this.opts.budgetMs }, owner, done });
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

  /**
   * Queued and running reads fail, and every reader is closed; resolves once they have exited (those that did not
   * exit on their channel's EOF in time are killed first), so that no reader or agent outlives the emperor.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.drain()) job.done(failure(job.req.spec, 'the emperor is shutting down', 'ESHUTDOWN'));
    const all = [...this.readers];
    for (const r of all) this.drop(r, 'the emperor is shutting down', 'ESHUTDOWN', false);
    const exited = Promise.all(all.map((r) => r.exited));
    if (await settlesWithin(exited, CLOSE_GRACE_MS)) return;
    for (const r of all) this.kill(r);
    await settlesWithin(exited, KILL_WAIT_MS);
  }

  /**
   * Gives each owner with waiting reads, in turn (those no reader works for first), a batch in a reader; an owner
   * left waiting with no reader of its own has one reader's unstarted requests taken back for it.
   */
  private pump(): void {
    const batches = new Map<Reader, string[]>();
    for (let progress = true; progress && this.queue.size > 0;) {
      progress = false;
      const served = new Set<number>();
      let freeing = 0; // readers taking back their batches: each will serve one owner left waiting
      for (const r of this.readers) {
        if (r.cancelling) freeing++;
        else if (r.jobs.length > 0) served.add(r.jobs[0].owner);
      }
      const owners = [...this.queue.owners()];
      for (const owner of [...owners.filter((o) => !served.has(o)), ...owners.filter((o) => served.has(o))]) {
        const reader = this.readerFor(owner);
        if (reader === 'none') break; // no process to be had: each waiting vassal has heard why
        if (!reader) {
          // an owner no reader works for: a reader taking back its batch serves it next, else one more is asked to
          if (served.has(owner)) continue;
          if (freeing > 0) freeing--;
          else this.takeBack();
          continue;
        }
        const jobs = this.queue.take(owner, PIPELINE - reader.jobs.length);
        const first = reader.jobs.length === 0;
        reader.jobs.push(...jobs);
        if (first) this.working(reader);
        served.add(owner);
        progress = true;
        let lines = batches.get(reader);
        if (!lines) batches.set(reader, (lines = []));
        for (const job of jobs) lines.push(JSON.stringify(job.req));
      }
    }
    for (const [r, lines] of batches) r.sock.write(`${lines.join('\n')}\n`);
  }

  /**
   * A reader for owner's next batch: an idle one, else a new one (up to maxProcesses), else, when owner is the only
   * one waiting, the one already working for it; undefined when none is free; 'none' when no reader can be started.
   */
  private readerFor(owner: number): Reader | undefined | 'none' {
    const free = (r: Reader) => !r.cancelling && !r.gone;
    for (const r of this.readers) if (free(r) && r.jobs.length === 0) return r;
    if (this.readers.size < (this.opts.maxProcesses ?? 2)) {
      try {
        return this.start();
      } catch (e) {
        // no process to be had (EMFILE, EAGAIN): the readers running take the queue; without one, each waiting
        // vassal hears why, and is retried as a host limit
        if (this.readers.size > 0) return undefined;
        for (const job of this.queue.drain())
          job.done(
            failure(job.req.spec, `cannot start a config reader: ${(e as Error).message}`, (e as native.NativeError).code ?? 'EAGAIN'),
          );
        return 'none';
      }
    }
    if ([...this.queue.owners()].some((o) => o !== owner)) return undefined;
    for (const r of this.readers) if (free(r) && r.jobs[0]?.owner === owner && r.jobs.length < PIPELINE) return r;
    return undefined;
  }

  /**
   * The requests not started by the reader whose current one began first come back (that reader frees first). When
   * every reader works on its last request, nothing is asked: the first to finish takes the next owner anyway.
   */
  private takeBack(): void {
    let pick: Reader | undefined;
    for (const r of this.readers) if (!r.cancelling && r.jobs.length > 1 && (!pick || r.since < pick.since)) pick = r;
    if (!pick) return;
    pick.cancelling = true;
    pick.sock.write('{"cancel":true}\n');
  }

  private start(): Reader {
    const cgroup = this.opts.cgroups?.make('reader');
    const [ours, theirs] = native.socketpair();
    let child: native.Child;
    let reader: Reader | undefined; // eslint-disable-line prefer-const -- set after spawn(), read by its exit callback
    let onExit!: () => void;
    const exited = new Promise<void>((resolve) => (onExit = resolve));
    try {
      child = native.spawn(
        {
          file: process.execPath,
          argv: [
            'emperor-reader',
            `--max-old-space-size=${HEAP_MB}`,
            path.join(__dirname, 'main.js'),
            ...(cgroup ? ['--cgroup', cgroup] : []),
          ],
          env: this.opts.env,
          cwd: '/',
          fds: [this.opts.devNull, this.opts.devNull, 2, theirs],
          deathSignal: 'SIGKILL',
          cgroup,
          ...(this.opts.capAmbient?.length ? { capAmbient: this.opts.capAmbient } : {}),
        },
        (info) => {
          if (cgroup) HelperCgroups.release(cgroup);
          onExit();
          if (reader) this.onExit(reader, info);
        },
      );
    } catch (e) {
      native.closeFd(ours);
      if (cgroup) HelperCgroups.release(cgroup);
      throw e;
    } finally {
      native.closeFd(theirs);
    }
    // its exit follows and fails the request it had; the log says why it never ran
    child.started.catch((e: Error) =>
      this.opts.log.error({ event: 'reader-setup-failed', error: e.message }, `the config reader did not start: ${e.message}`),
    );
    const sock = new net.Socket({ fd: ours, readable: true, writable: true });
    reader = {
      child,
      sock,
      answers: new JsonLines(MAX_ANSWER_BYTES),
      jobs: [],
      since: 0,
      cancelling: false,
      takenBack: [],
      gone: false,
      cgroup,
      exited,
    };
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
    r.since = Date.now();
    const job = r.jobs[0];
    r.watchdog = setTimeout(() => {
      this.opts.log.error(
        { event: 'reader-killed', file: job.req.spec, budget_ms: job.req.budgetMs },
        'the config reader did not answer in time: killed',
      );
      this.drop(r, `the config reader did not finish within ${job.req.budgetMs / 1000} s (killed)`, 'ETIMEDOUT', true);
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
      return this.drop(r, `the config reader answered what its wire does not allow (${e.message})`, 'EAGENT', true);
    }
    for (const answer of answers) {
      const job = r.jobs[0];
      if (!job || answer.id !== job.req.id) return this.drop(r, 'the config reader answered out of turn', 'EAGENT', true);
      this.answered(r, job, answer);
    }
  }

  /** The answer to r's first job: delivered, or (taken back by a cancel line) queued again at its owner's head. */
  private answered(r: Reader, job: Job, answer: ReadAnswer): void {
    clearTimeout(r.watchdog);
    r.jobs.shift();
    if (r.cancelling && 'error' in answer && answer.error.code === CANCELLED) {
      r.takenBack.push(job);
    } else {
      if (r.jobs.length > 0) this.working(r);
      job.done(answer);
    }
    if (r.jobs.length === 0 && r.cancelling) {
      // the whole batch is back, in its order, at the head of its owner's queue
      r.cancelling = false;
      this.queue.putBack(job.owner, r.takenBack.splice(0));
    }
    this.rest(r);
  }

  /** An idle reader no longer keeps the emperor alive, and exits after a while. */
  private rest(r: Reader): void {
    this.pump();
    if (r.jobs.length > 0 || r.gone) return;
    r.child.unref();
    if (this.opts.keepWarm && [...this.readers].every((o) => o === r || o.gone)) return;
    r.idle = setTimeout(() => this.drop(r, '', 'EIDLE', false), this.opts.idleMs ?? 30000);
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
    this.drop(r, `the config reader died while resolving this file (${how})`, 'EAGENT', false);
  }

  /**
   * Ends a reader by closing its channel, and kills it when it may not be listening (late, or off its wire); the
   * request it was working on, if any, fails with `why`; the ones queued behind it go back.
   */
  private drop(r: Reader, why: string, code: string, kill: boolean): void {
    clearTimeout(r.idle);
    clearTimeout(r.watchdog);
    const [job, ...behind] = r.jobs.splice(0);
    const back = [...r.takenBack.splice(0), ...behind];
    if (!this.closed && job) this.queue.putBack(job.owner, back);
    else for (const j of back) j.done(failure(j.req.spec, why, code));
    if (job) job.done(failure(job.req.spec, why, code));
    if (!r.gone) {
      r.gone = true;
      this.readers.delete(r);
      r.sock.destroy();
      if (kill) this.kill(r);
    }
    this.pump();
  }

  private kill(r: Reader): void {
    forceEnd(r.child, r.cgroup, (e) =>
      this.opts.log.warn(
        { event: 'kill-refused', pid: r.child.pid, code: e.code, error: e.message },
        `the config reader (pid ${r.child.pid}) could not be killed (${e.code ?? e.message})`,
      ),
    );
  }
}

function failure(spec: string, reason: string, code: string): Failure {
  return { error: { file: spec, line: 0, reason, code } };
}
