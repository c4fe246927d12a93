// An agent started for a few calls of one vassal, on the emperor's event loop: what an on-demand vassal's socket
// needs (reading <file>EXT, running the on-demand command, binding the socket, removing it) is done with the
// vassal owner's credentials, each call within a budget, and a socket comes back as an fd (SCM_RIGHTS), which a
// net.Socket cannot receive. Closing the session closes the agent's channel, and it exits; a late or broken answer
// also kills it (through its cgroup; it exits whenever the kernel lets it).
import * as fs from 'node:fs';
import { HostError } from '../host-fs';
import * as native from '../native';
import * as calls from './calls';
import { AgentProcess, describe, type AgentEnv, type Identity } from './process';
import { AnswerSplitter, WireError } from './agent-wire';
import type { HelperCgroups } from '../cgroup/helpers';
import { detached } from '../detach';

/** Requests are written whole: one at a time into a fresh socket, a frame this small never waits. */
const MAX_REQUEST = 64 << 10;
const READ_CHUNK = 64 << 10;

interface Pending {
  call: calls.Call<unknown>;
  resolve(answer: { value: unknown; fds: number[] }): void;
  reject(err: HostError): void;
  timer: NodeJS.Timeout;
}

export class AgentSession {
  private readonly frames = new AnswerSplitter();
  private readonly watch: native.FdWatch;
  private fds: number[] = [];
  private pending?: Pending;
  /** Why it can no longer be asked anything, once ended. */
  private failure?: string;
  /** It has answered before: an EOF before that means it never started. */
  private served = false;

  private constructor(
    private readonly agent: AgentProcess,
    private readonly identity: Identity | null,
    private readonly budgetMs: number,
  ) {
    this.watch = native.watchReadable(agent.fd, () => this.onReadable());
    this.watch.unref(); // a pending call's timer keeps the process alive
  }

  /** Throws HostError (EAGENT, or a host limit's code: EMFILE, EAGAIN...) when no agent can be started. */
  static start(identity: Identity | null, env: AgentEnv, budgetMs: number, cgroups?: HelperCgroups): AgentSession {
    try {
      return new AgentSession(AgentProcess.start(identity, env, cgroups), identity, budgetMs);
    } catch (e) {
      throw calls.agentNotStarted(undefined, describe(identity), e);
    }
  }

  /** The call's value; rejects with HostError (a refusal, ETIMEDOUT, EAGENT). One call at a time. */
  async ask<T>(call: calls.Call<T>): Promise<T> {
    const { value, fds } = await this.exchange(call);
    for (const fd of fds) native.closeFd(fd);
    return value as T;
  }

  /** The call's value and the one fd its answer carries (the caller's to close). */
  async askFd<T>(call: calls.Call<T>): Promise<{ value: T; fd: number }> {
    const { value, fds } = await this.exchange(call);
    const [fd, ...extra] = fds;
    for (const f of extra) native.closeFd(f);
    if (fd === undefined) throw calls.agentFailed(call.about(0), `${this.agent.who} answered without the socket`);
    return { value: value as T, fd };
  }

  /** Ends the agent by closing its channel; a call in flight fails with EAGENT (and the agent is killed). */
  close(): void {
    this.end('the agent was closed', this.pending !== undefined);
  }

  private exchange(call: calls.Call<unknown>): Promise<{ value: unknown; fds: number[] }> {
    return new Promise((resolve, reject) => {
      const about = call.about(0);
      if (this.failure) return reject(calls.agentFailed(about, this.failure));
      if (this.pending) return reject(calls.agentFailed(about, 'a call is already in flight'));
      if (call.frame.length > MAX_REQUEST)
        return reject(new HostError('EINVAL', `${about.doing}: a request of ${call.frame.length} bytes`, { path: about.path }));
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(calls.timedOut(this.budgetMs, about, this.agent.exited));
        this.end(`${this.agent.who} did not answer in time`, true);
      }, this.budgetMs + call.graceMs);
      this.pending = { call, resolve, reject, timer };
      try {
        fs.writeSync(this.agent.fd, call.frame);
      } catch (e) {
        // gone already (EPIPE): before its first answer, maybe without having run at all
        this.broken(`could not be asked: ${(e as Error).message}`, !this.served);
      }
    });
  }

  private onReadable(): void {
    for (;;) {
      let got: { data: Buffer; fds: number[] };
      try {
        got = native.recvFds(this.agent.fd, READ_CHUNK);
      } catch (e) {
        const code = (e as native.NativeError).code;
        if (code === 'EAGAIN') return;
        // a peer that closed with our request unread resets the connection: an exit, as EOF is
        if (code === 'ECONNRESET') return this.broken('exited before answering', !this.served);
        return this.broken(`failed (${code})`);
      }
      this.fds.push(...got.fds);
      if (got.data.length === 0) return this.broken('exited before answering', !this.served);
      const cur = this.pending;
      if (!cur) return this.broken('answered nothing it was asked');
      let frames: Buffer[];
      try {
        frames = this.frames.push(got.data, cur.call.maxAnswer);
      } catch (e) {
        return this.broken(`answered nonsense: ${(e as Error).message}`);
      }
      if (frames.length === 0) continue;
      if (frames.length > 1) return this.broken('answered more than it was asked');
      this.pending = undefined;
      this.served = true;
      clearTimeout(cur.timer);
      const fds = this.fds;
      this.fds = [];
      try {
        cur.resolve({ value: cur.call.decode(frames[0], 0), fds });
      } catch (e) {
        for (const fd of fds) native.closeFd(fd);
        if (e instanceof HostError) cur.reject(e);
        else if (e instanceof WireError)
          cur.reject(calls.agentFailed(cur.call.about(0), `${this.agent.who} answered nonsense: ${e.message}`));
        else throw e;
      }
    }
  }

  // The agent died or broke the protocol: what it owed fails with EAGENT, and it is ended. lost: it closed before its
  // first answer, maybe without having run at all: the call then fails once its setup's outcome says which.
  private broken(why: string, lost = false): void {
    this.end(`${this.agent.who} ${why}`, true, lost);
  }

  private end(why: string, kill: boolean, lost = false): void {
    if (this.failure !== undefined) return;
    this.failure = why;
    for (const fd of this.fds.splice(0)) native.closeFd(fd);
    const cur = this.pending;
    this.pending = undefined;
    if (cur) {
      clearTimeout(cur.timer);
      const about = cur.call.about(0);
      if (!lost) cur.reject(calls.agentFailed(about, why));
      else
        detached(
          this.agent.setupFailure.then((e) =>
            cur.reject(e ? calls.agentNotStarted(about, describe(this.identity), e) : calls.agentFailed(about, why)),
          ),
          'agent setup outcome',
        );
    }
    this.watch.close();
    native.closeFd(this.agent.fd);
    if (kill) this.agent.kill();
  }
}
