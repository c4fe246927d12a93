// The emperor's own agent, on its event loop: the monitors' directory listings and stats run in an agent process
// (the emperor's own identity) over a non-blocking socket, one request at a time, so that a hung mount costs a
// monitor one timeout and never the loop. A late answer abandons that agent (killed through its cgroup; it exits
// whenever the kernel lets it) and a fresh one serves what is queued.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { HostError, type DirStamp, type SourceStat, type StatModes } from '../host-fs';
import * as calls from './calls';
import { AgentProcess, StuckAgents, describe } from './process';
import { AnswerSplitter, WireError } from './agent-wire';
import type { HelperCgroups } from '../cgroup/helpers';

export interface AsyncAgentOptions {
  /** How long each answer may take, in ms; for statSources each path's answer, so a long list is not a late one. */
  budgetMs: number;
  /** Abandoned agents still stuck, at most; beyond it calls fail at once with EAGAIN. Default 4. */
  maxStuck?: number;
  /** Where each agent gets a cgroup of its own (src/cgroup/helpers.ts); none without cgroup v2. */
  cgroups?: HelperCgroups;
}

interface Job {
  call: calls.Call<unknown>;
  /** Answer i of this call is answer offset+i of what the caller asked (a rest call after a hang). */
  offset: number;
  results: unknown[];
  resolve(results: unknown[]): void;
}

interface Connection {
  agent: AgentProcess;
  socket: net.Socket;
  frames: AnswerSplitter;
}

export class AsyncAgent {
  private readonly queue: Job[] = [];
  // progressAt: when the last answer came; the timer, armed once per call, rechecks it instead of being re-armed
  private current: { job: Job; received: number; progressAt: number; timer: NodeJS.Timeout } | undefined;
  private conn: Connection | undefined;
  private readonly stuck: StuckAgents;
  private closed = false;

  constructor(private readonly opts: AsyncAgentOptions) {
    this.stuck = new StuckAgents(opts.maxStuck ?? 4);
  }

  readdir(dir: string): Promise<string[]> {
    return this.one(() => calls.readdirCall(dir));
  }

  async dirStamp(dir: string): Promise<DirStamp | null> {
    const st = await this.one(() => calls.statCall(dir, true));
    return st?.type === 'dir' ? { ino: st.ino, mtimeMs: st.mtimeMs } : null;
  }

  realpath(path: string): Promise<string> {
    return this.one(() => calls.realpathCall(path));
  }

  async statSources(paths: readonly string[], modes: StatModes): Promise<Array<SourceStat | HostError | null>> {
    if (paths.length === 0) return [];
    return (await this.ask(calls.statSourcesCall(paths, modes))) as Array<SourceStat | HostError | null>;
  }

  /**
   * Ends the agent by closing its channel (and kills it if a call is in flight); pending and later calls fail with
   * EAGENT, and stuck agents no longer keep the process alive.
   */
  close(): void {
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) this.end(conn, this.current !== undefined);
    this.fail('the agent was closed');
    this.stuck.release();
  }

  private async one<T>(build: () => calls.Call<T>): Promise<T> {
    const [result] = await this.ask(build());
    if (result instanceof HostError) throw result;
    return result as T;
  }

  /** Every answer of call, a HostError in place of each that failed. */
  private ask(call: calls.Call<unknown>): Promise<unknown[]> {
    return new Promise((resolve) => {
      this.queue.push({ call, offset: 0, results: new Array<unknown>(call.count), resolve });
      this.pump();
    });
  }

  private pump(): void {
    while (!this.current && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const conn = this.conn ?? this.connect();
      if (typeof conn === 'function') {
        this.settle(job, 0, conn);
        continue;
      }
      conn.socket.write(job.call.frame);
      this.current = { job, received: 0, progressAt: performance.now(), timer: this.arm(this.opts.budgetMs) };
    }
  }

  /** A fresh agent, or why there is none (as the error of each answer). */
  private connect(): Connection | ((about: calls.About) => HostError) {
    if (this.closed) return (about) => calls.agentFailed(about, 'the agent was closed');
    if (this.stuck.full) return (about) => this.stuck.fullError(about, null);
    let agent: AgentProcess;
    try {
      agent = AgentProcess.start(null, [], this.opts.cgroups);
    } catch (e) {
      return (about) => calls.agentNotStarted(about, describe(null), e);
    }
    const conn: Connection = {
      agent,
      socket: new net.Socket({ fd: agent.fd, readable: true, writable: true }),
      frames: new AnswerSplitter(),
    };
    conn.socket.unref(); // a pending call's timer is what keeps the process alive
    conn.socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    conn.socket.on('error', () => {}); // the 'close' that follows says it
    conn.socket.on('close', () => {
      if (conn === this.conn) this.broken(conn, 'exited before answering');
    });
    this.conn = conn;
    return conn;
  }

  private arm(ms: number): NodeJS.Timeout {
    return setTimeout(() => {
      const cur = this.current!;
      const left = cur.progressAt + this.opts.budgetMs - performance.now();
      if (left > 0) cur.timer = this.arm(left);
      else this.onLate();
    }, ms);
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn !== this.conn) return;
    let frames: Buffer[];
    try {
      if (!this.current) throw new WireError('an answer to nothing');
      frames = conn.frames.push(chunk, this.current.job.call.maxAnswer);
    } catch (e) {
      return this.broken(conn, `answered nonsense: ${(e as Error).message}`);
    }
    if (frames.length > 0) this.current.progressAt = performance.now();
    for (const frame of frames) {
      const cur = this.current;
      if (!cur) return this.broken(conn, 'answered more than it was asked');
      const { job } = cur;
      const i = cur.received++;
      try {
        job.results[job.offset + i] = job.call.decode(frame, i);
      } catch (e) {
        if (!(e instanceof HostError)) return this.broken(conn, `answered nonsense: ${(e as Error).message}`);
        job.results[job.offset + i] = e;
      }
      if (cur.received === job.call.count) {
        clearTimeout(cur.timer);
        this.current = undefined;
        job.resolve(job.results);
      }
    }
    this.pump();
  }

  // The answer being waited for is late: its agent is abandoned, that answer is a timeout, and the rest of the call
  // (the paths after a hung one) is asked of a fresh agent before anything else.
  private onLate(): void {
    const cur = this.current!;
    const conn = this.conn!;
    this.current = undefined;
    this.conn = undefined;
    conn.socket.destroy();
    const settled = this.stuck.abandon(conn.agent);
    const { job, received: i } = cur;
    job.results[job.offset + i] = calls.timedOut(this.opts.budgetMs, job.call.about(i), settled);
    if (i + 1 < job.call.count && job.call.rest) {
      this.queue.unshift({ ...job, call: job.call.rest(i + 1), offset: job.offset + i + 1 });
    } else {
      job.resolve(job.results);
    }
    this.pump();
  }

  // The agent died or broke the protocol: it is ended, and what it owed fails with EAGENT.
  private broken(conn: Connection, why: string): void {
    this.conn = undefined;
    this.end(conn, true);
    const cur = this.current;
    this.current = undefined;
    if (cur) {
      clearTimeout(cur.timer);
      this.settle(cur.job, cur.received, (about) => calls.agentFailed(about, `${conn.agent.who} ${why}`));
    }
    this.pump();
  }

  /** Closes the agent's channel, so it exits; kill: it may not be reading (a call in flight, a broken protocol). */
  private end(conn: Connection, kill: boolean): void {
    conn.socket.destroy();
    if (kill) conn.agent.kill();
  }

  /** Fails the current and every queued job. */
  private fail(why: string): void {
    const cur = this.current;
    this.current = undefined;
    if (cur) {
      clearTimeout(cur.timer);
      this.settle(cur.job, cur.received, (about) => calls.agentFailed(about, why));
    }
    for (const job of this.queue.splice(0)) this.settle(job, 0, (about) => calls.agentFailed(about, why));
  }

  /** Answers from..count-1 of job become error(...) and the caller gets its results. */
  private settle(job: Job, from: number, error: (about: calls.About) => HostError): void {
    for (let i = from; i < job.call.count; i++) job.results[job.offset + i] = error(job.call.about(i));
    job.resolve(job.results);
  }
}
