// How the emperor ends its helpers (config readers, agents, vassal inits: docs/ARCHITECTURE.md, Processes). A helper
// exits when its channel closes, so it is ended by closing that channel. One that a closed channel does not end
// (stuck in the kernel, spinning, or held by its tenant) is killed through a cgroup of its own with cgroup.kill: the
// kernel never refuses that to the tree's owner, while a signal to a helper of another uid needs CAP_KILL, which a
// capability-limited emperor does not hold. Without cgroup v2, a pidfd signal is the fallback, and a refusal is
// logged: that helper then ends on its channel's EOF, or when the kernel lets it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { drainAndRemove, isPopulated, killCgroup, removeDirs } from './tree';

/** A child process as the addon hands it out (native.Child), or anything that can be sent SIGKILL by pidfd. */
export interface Killable {
  readonly pid: number;
  kill(signal: 'SIGKILL'): boolean;
}

/** Why a forced end did not happen at once: the helper is then left to its own exit. */
export type Refusal = (err: Error & { code?: string }) => void;

/**
 * SIGKILLs a helper that its closed channel did not end: through its cgroup when it has one, else by pidfd. Never
 * throws: a refused signal (EPERM) goes to refused.
 */
export function forceEnd(child: Killable, cgroup: string | undefined, refused: Refusal): void {
  if (cgroup && killCgroup(cgroup)) return;
  try {
    child.kill('SIGKILL');
  } catch (e) {
    refused(e as Error & { code?: string });
  }
}

/** The cgroup directories of one process's helpers: one each, made in `dir`, removed after the helper's exit. */
export class HelperCgroups {
  private seq = 0;

  constructor(readonly dir: string) {}

  /** A fresh directory for one helper; undefined when none can be made (the helper then shares its parent's). */
  make(kind: string): string | undefined {
    const dir = path.join(this.dir, `${kind}.${++this.seq}`);
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch {
      return undefined;
    }
  }

  /** After a helper's exit: what it left (an @(exec://) command's daemon, its own helpers) is killed, the directory removed. */
  static release(dir: string): void {
    drainAndRemove(dir);
  }

  /**
   * The end of every helper at once (the emperor's burial, after each was asked to end through its channel): one
   * cgroup.kill for the whole directory, then a bounded wait for it to empty, polled on timers. Resolves with the pids
   * still there, stuck in the kernel (a request a FUSE daemon never answers), that outlive it.
   */
  async killAll(timeoutMs: number): Promise<number[]> {
    killCgroup(this.dir);
    const deadline = Date.now() + timeoutMs;
    while (isPopulated(this.dir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const left = pidsUnder(this.dir);
    if (left.length === 0) removeDirs(this.dir);
    return left;
  }
}

/** The pids in dir and every cgroup under it. */
function pidsUnder(dir: string): number[] {
  let entries: fs.Dirent[];
  let own: number[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
    own = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // removed meanwhile
  }
  return [...own, ...entries.filter((e) => e.isDirectory()).flatMap((e) => pidsUnder(path.join(dir, e.name)))];
}
