// One emperor-agent process (native/agent), and the agents abandoned while stuck in the kernel. An agent exits when
// its channel closes (between requests, and during an @(exec://), which it then kills): whoever holds the channel ends
// it by closing it, and kills it (through its cgroup) only when that cannot work (src/cgroup/helpers.ts).
import * as fs from 'node:fs';
import { HostError } from '../host-fs';
import * as native from '../native';
import { programFile } from '../package-info';
import type { About } from './calls';
import { detached } from '../detach';
import { HelperCgroups, forceEnd } from '../cgroup/helpers';
import { logger } from '../log';
import { settlesWithin } from '../settle';

/** Who an agent runs as: a vassal owner's real uid, gid and supplementary groups. */
export interface Identity {
  uid: number;
  gid: number;
  groups: readonly number[];
}

export type AgentEnv = native.SpawnOptions['env'];

/** 'uid 1000', for messages. */
export function describe(identity: Identity | null): string {
  return identity ? `uid ${identity.uid}` : "this process's identity";
}

let devNull: number | undefined;

/** Agents of this process that have not exited yet: what a process waits for before it says it has ended. */
const running = new Set<AgentProcess>();

export class AgentProcess {
  private exitSeen = false;

  private constructor(
    private readonly child: native.Child,
    /** Our end of the socketpair: blocking, close-on-exec, owned by whoever started the agent. */
    readonly fd: number,
    readonly who: string,
    /** Resolves once the process has exited and been reaped. */
    readonly exited: Promise<void>,
    /** Its own cgroup directory, where cgroup v2 is usable. */
    private readonly cgroup: string | undefined,
  ) {}

  /**
   * Starts an agent with the given credentials (null: this process's own) and no way to gain privileges, in a cgroup
   * of its own when cgroups are given. Throws Error when it cannot be started at all; a failed setup shows up as EOF
   * on fd. The process is unref'd: a live agent never keeps this process alive.
   */
  static start(identity: Identity | null, env: AgentEnv, cgroups?: HelperCgroups): AgentProcess {
    // stdin, stdout and stderr of every agent; /dev/null cannot hang, so it is opened once, synchronously
    devNull ??= fs.openSync('/dev/null', 'r+');
    const [mine, theirs] = native.socketpair();
    let onExit!: () => void;
    const exited = new Promise<void>((resolve) => (onExit = resolve));
    const cgroup = cgroups?.make('agent');
    let child: native.Child;
    try {
      child = native.spawn(
        {
          file: programFile('emperor-agent'),
          argv: ['emperor-agent'],
          env,
          cwd: '/',
          fds: [devNull, devNull, devNull, theirs],
          noNewPrivs: true,
          deathSignal: 'SIGKILL',
          cgroup,
          ...(identity && { uid: identity.uid, gid: identity.gid, groups: [...identity.groups] }),
        },
        () => onExit(),
      );
    } catch (e) {
      native.closeFd(mine);
      if (cgroup) HelperCgroups.release(cgroup);
      throw e;
    } finally {
      native.closeFd(theirs);
    }
    // a setup failure (rejecting `started`) shows up to the client as EOF on its socket
    child.unref();
    const agent = new AgentProcess(child, mine, `the agent (pid ${child.pid}, ${describe(identity)})`, exited, cgroup);
    running.add(agent);
    detached(
      exited.then(() => {
        agent.exitSeen = true;
        running.delete(agent);
        if (cgroup) HelperCgroups.release(cgroup);
      }),
      'agent exit',
    );
    return agent;
  }

  /** Resolves once every agent this process started has exited, or after timeoutMs; with those still running. */
  static async allExited(timeoutMs: number): Promise<AgentProcess[]> {
    await settlesWithin(Promise.all([...running].map((a) => a.exited)), timeoutMs);
    return [...running];
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Settles once its setup is over: undefined once it runs emperor-agent, else the failed step's error. */
  get setupFailure(): Promise<Error | undefined> {
    return this.child.started.then(
      () => undefined,
      (e: Error) => e,
    );
  }

  /**
   * Whether it got as far as running emperor-agent, read from /proc: for a caller off the event loop (the blocking
   * pool), while the exit is not reaped yet. True when that cannot be told.
   */
  ran(): boolean {
    try {
      return fs.readFileSync(`/proc/${this.pid}/comm`, 'utf8') === 'emperor-agent\n';
    } catch {
      return true;
    }
  }

  /**
   * SIGKILL, for an agent its closed channel does not end (late, or answering nonsense): through its cgroup, else a
   * pidfd signal, whose refusal is logged (it then exits on the EOF of its channel). A process in an uninterruptible
   * sleep (a hung FUSE request) exits only once the sleep ends.
   */
  kill(): void {
    if (this.exitSeen) return;
    forceEnd(this.child, this.cgroup, (e) =>
      logger().warn(
        { event: 'kill-refused', pid: this.pid, code: e.code, error: e.message },
        `${this.who} could not be killed (${e.code ?? e.message}): it ends when its channel's end reaches it`,
      ),
    );
  }

  /** Keep this process alive until the agent has exited (so that waiting on `exited` works), or stop doing so. */
  ref(): void {
    if (!this.exitSeen) this.child.ref();
  }

  unref(): void {
    if (!this.exitSeen) this.child.unref();
  }
}

/**
 * Agents abandoned because an answer was late: SIGKILLed, and referenced until they have exited, which for one stuck
 * on a hung mount is when that mount's daemon dies. At most `cap` of them: beyond it no agent is started (calls fail
 * at once), so a hung mount costs a bounded number of processes.
 */
export class StuckAgents {
  private readonly agents = new Set<AgentProcess>();
  private held = true;

  constructor(private readonly cap: number) {}

  get size(): number {
    return this.agents.size;
  }

  /** Kills agent and returns when it has exited. */
  abandon(agent: AgentProcess): Promise<void> {
    agent.kill();
    this.agents.add(agent);
    if (this.held) agent.ref();
    detached(
      agent.exited.then(() => this.agents.delete(agent)),
      'stuck agent exit',
    );
    return agent.exited;
  }

  /** No agent may be started while so many are stuck. */
  get full(): boolean {
    return this.agents.size >= this.cap;
  }

  /** Why a call fails at once while full(): 'EAGAIN', settled when one of them has exited. */
  fullError(about: About, identity: Identity | null): HostError {
    const settled = Promise.race([...this.agents].map((a) => a.exited));
    return new HostError(
      'EAGAIN',
      `${about.doing}: ${this.agents.size} agents (${describe(identity)}) are still stuck on earlier accesses that timed out (a hung mount?); no other is started until one of them has exited`,
      { path: about.path, settled },
    );
  }

  /** Stop keeping this process alive for them. */
  release(): void {
    this.held = false;
    for (const a of this.agents) a.unref();
  }
}
