// The ConfigHost of a process that resolves vassal configs (the emperor's config reader, `emperor config`, tests):
// every file is opened and every command run by an agent holding the vassal owner's credentials, drawn from a pool
// with one live agent per identity. Blocking by design (native.exchange), so never on the emperor's event loop.
import { performance } from 'node:perf_hooks';
import type { ConfigFile, ConfigHost } from '../config/host';
import { HostError, type HostStat } from '../host-fs';
import * as native from '../native';
import * as calls from './calls';
import { AgentProcess, StuckAgents, describe, type AgentEnv, type Identity } from './process';
import { WireError } from './agent-wire';
import { detached } from '../detach';
import type { HelperCgroups } from '../cgroup/helpers';

export type { Identity } from './process';

export interface AgentPoolOptions {
  /** The agents' environment, which @(exec://) commands run with, unless a host names another. */
  env: AgentEnv;
  /** Where each agent gets a cgroup of its own (the stopping rule, src/cgroup/helpers.ts); none without cgroup v2. */
  cgroups?: HelperCgroups;
  /** An agent unused for this long is closed. Default 30,000 ms. */
  idleMs?: number;
  /** Live agents at most; the least recently used is closed first. Default 32. */
  maxAgents?: number;
  /** Abandoned agents per identity still stuck, at most; beyond it calls fail at once with EAGAIN. Default 16. */
  maxStuck?: number;
}

interface Live {
  agent: AgentProcess;
  usedAt: number;
  /** It has answered before: a failure to deliver a request then means it died while idle. */
  served: boolean;
}

export class AgentPool {
  private readonly live = new Map<string, Live>(); // least recently used first
  private readonly stuck = new Map<string, StuckAgents>();
  /**
   * Paths whose access timed out, until the agent stuck on it has exited: asking again would only strand another
   * agent, so a retry of the same include fails at once, and the agents left for other paths stay free.
   */
  private readonly hung = new Map<string, HostError>();
  private readonly idleMs: number;
  private readonly maxAgents: number;
  private readonly maxStuck: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: AgentPoolOptions) {
    this.idleMs = opts.idleMs ?? 30000;
    this.maxAgents = opts.maxAgents ?? 32;
    this.maxStuck = opts.maxStuck ?? 16;
  }

  /**
   * A host whose calls all share one deadline, now + budgetMs. identity null: this process's own. env: the
   * environment of an agent it starts (identity's own), instead of the pool's.
   */
  host(identity: Identity | null, budgetMs: number, env?: AgentEnv): AgentHost {
    return new AgentHost(this, identity, budgetMs, env);
  }

  /**
   * Closes every live agent's channel (each exits at its EOF) and stops waiting for stuck ones; calls fail with EAGENT
   * from now on. Resolves once the live ones have exited (before an exec of this process, or this process's own
   * exit, none is left behind as a stray child).
   */
  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const gone: Promise<void>[] = [];
    for (const [key, live] of this.live) {
      live.agent.ref();
      gone.push(live.agent.exited);
      this.drop(key, live, false);
    }
    for (const s of this.stuck.values()) s.release();
    return Promise.all(gone).then(() => undefined);
  }

  /** One call of an AgentHost; build gets the milliseconds left (the agent times EXEC itself). */
  run<T>(
    identity: Identity | null,
    build: (leftMs: number) => calls.Call<T>,
    deadline: number,
    budgetMs: number,
    env: AgentEnv | undefined,
  ): T {
    const key = identity ? `${identity.uid}:${identity.gid}:${[...identity.groups].sort((a, b) => a - b).join(',')}` : '';
    for (let retried = false; ; retried = true) {
      const left = deadline - performance.now();
      const call = build(Math.max(0, left));
      const about = call.about(0);
      if (left <= 0) throw calls.timedOut(budgetMs, about, Promise.resolve());
      const stillHung = this.hung.get(about.path);
      if (stillHung)
        throw new HostError('ETIMEDOUT', `${stillHung.message} (still not answering)`, { path: about.path, settled: stillHung.settled });
      const live = this.acquire(key, identity, about, env);
      let frame: Buffer;
      try {
        frame = native.exchange(live.agent.fd, call.frame, left + call.graceMs, call.maxAnswer);
      } catch (e) {
        const code = (e as native.NativeError).code;
        if (code === 'ETIMEDOUT') {
          const err = calls.timedOut(budgetMs, about, this.abandon(key, live));
          this.hung.set(about.path, err);
          detached(
            err.settled!.then(() => this.hung.delete(about.path)),
            'hung path release',
          );
          throw err;
        }
        this.drop(key, live, true);
        // one that died while idle (its tenant may kill it) never got the request: a fresh one gets it
        if (code === 'EPIPE' && live.served && !retried) continue;
        // one that never ran could not start (its exec refused): a host limit; not reaped yet, the loop being ours
        if ((code === 'EPIPE' || code === 'ECONNRESET') && !live.served && !live.agent.ran())
          throw calls.agentNeverRan(about, live.agent.who);
        const why =
          code === 'EPROTO'
            ? `answered a frame over ${call.maxAnswer} bytes`
            : code === 'ECONNRESET' || code === 'EPIPE'
              ? 'exited before answering'
              : `failed (${code})`;
        throw calls.agentFailed(about, `${live.agent.who} ${why}`);
      }
      live.served = true;
      live.usedAt = performance.now();
      try {
        return call.decode(frame, 0);
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        this.drop(key, live, true);
        throw calls.agentFailed(about, `${live.agent.who} answered nonsense: ${e.message}`);
      }
    }
  }

  private acquire(key: string, identity: Identity | null, about: calls.About, env: AgentEnv | undefined): Live {
    if (this.closed) throw calls.agentFailed(about, 'the agent pool is closed');
    const found = this.live.get(key);
    if (found) {
      this.live.delete(key);
      this.live.set(key, found);
      return found;
    }
    const stuck = this.stuck.get(key);
    if (stuck?.full) throw stuck.fullError(about, identity);
    let agent: AgentProcess;
    try {
      agent = AgentProcess.start(identity, env ?? this.opts.env, this.opts.cgroups);
    } catch (e) {
      throw calls.agentNotStarted(about, describe(identity), e);
    }
    const live: Live = { agent, usedAt: performance.now(), served: false };
    this.live.set(key, live);
    if (this.live.size > this.maxAgents) {
      const [oldKey, oldest] = this.live.entries().next().value as [string, Live];
      this.drop(oldKey, oldest, false);
    }
    this.schedule();
    return live;
  }

  /** Ends a live agent by closing its channel; one that broke the protocol is killed too (it may not be reading). */
  private drop(key: string, live: Live, broken: boolean): void {
    if (this.live.get(key) === live) this.live.delete(key);
    native.closeFd(live.agent.fd);
    if (broken) live.agent.kill();
  }

  private abandon(key: string, live: Live): Promise<void> {
    if (this.live.get(key) === live) this.live.delete(key);
    native.closeFd(live.agent.fd);
    const stuck = this.stuck.get(key) ?? new StuckAgents(this.maxStuck);
    this.stuck.set(key, stuck);
    const settled = stuck.abandon(live.agent);
    detached(
      settled.then(() => {
        if (stuck.size === 0 && this.stuck.get(key) === stuck) this.stuck.delete(key);
      }),
      'stuck agent release',
    );
    return settled;
  }

  // closes agents unused for idleMs, waking when the least recently used one would be
  private schedule(): void {
    if (this.timer || this.live.size === 0) return;
    const oldest = (this.live.values().next().value as Live).usedAt;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = performance.now();
        for (const [key, live] of this.live) {
          if (now - live.usedAt < this.idleMs) break;
          this.drop(key, live, false);
        }
        this.schedule();
      },
      Math.max(0, oldest + this.idleMs - performance.now()),
    );
    this.timer.unref();
  }
}

/** The files and commands of one config resolution, as one identity, within one deadline for all of them. */
export class AgentHost implements ConfigHost {
  private readonly deadline: number;

  constructor(
    private readonly pool: AgentPool,
    private readonly identity: Identity | null,
    private readonly budgetMs: number,
    private readonly env?: AgentEnv,
  ) {
    this.deadline = performance.now() + budgetMs;
  }

  readFile(path: string, limit: number): Buffer {
    return this.ask(() => calls.readCall(path, limit));
  }

  /** One open by a walk from /, and the facts of whose the file is (a tyrant's vassal file: src/file-identity.ts). */
  open(path: string, limit: number): calls.OpenedFile {
    return this.ask(() => calls.openCall(path, limit));
  }

  openConfig(path: string, limit: number): ConfigFile {
    return this.ask(() => calls.loadCall(path, limit));
  }

  stat(path: string, follow: boolean): HostStat | null {
    return this.ask(() => calls.statCall(path, follow));
  }

  realpath(path: string): string {
    return this.ask(() => calls.realpathCall(path));
  }

  readdir(path: string): string[] {
    return this.ask(() => calls.readdirCall(path));
  }

  isExecutable(path: string): boolean {
    return this.ask(() => calls.accessXCall(path));
  }

  exec(command: string, cwd: string, limit: number): Buffer {
    return this.ask((left) => calls.execCall(command, cwd, limit, left, this.budgetMs));
  }

  private ask<T>(build: (leftMs: number) => calls.Call<T>): T {
    return this.pool.run(this.identity, build, this.deadline, this.budgetMs, this.env);
  }
}
