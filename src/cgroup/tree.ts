// One cgroup v2 directory per vassal instance, under a directory of this emperor's own, so that a stop can kill a
// vassal's whole process tree at once (cgroup.kill) and no grandchild (a FUSE daemon, a worker) outlives it.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where the cgroup2 hierarchy is mounted ('/sys/fs/cgroup' on pure-v2 hosts, '.../unified' on hybrid ones). */
export function findCgroup2Mount(mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    // fields: id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    if (line.slice(sep + 3).split(' ')[0] !== 'cgroup2') continue;
    return unescapeMountPath(line.slice(0, sep).split(' ')[4]);
  }
  return undefined;
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** This process's own cgroup v2 path relative to the hierarchy root ("0::/path" in /proc/self/cgroup). */
export function ownCgroupPath(procCgroup = fs.readFileSync('/proc/self/cgroup', 'utf8')): string | undefined {
  const line = procCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line?.slice(3);
}

/**
 * Where a capability-limited emperor's own process lives inside its delegated tree: cgroup v2 lets an unprivileged
 * process move a child between two cgroups only when it may write cgroup.procs of their common ancestor, so the
 * emperor itself must be inside the tree it was given, and in a leaf of its own (the no-internal-process rule).
 */
const SELF_LEAF = 'supervisor';

/** The directory of the emperor's helpers (src/cgroup/helpers.ts): no vassal's, whose names end in `.<n>`. */
export const HELPERS_DIR = 'helpers';

/** The delegation files systemd hands over with Delegate=yes (systemd.resource-control(5)). */
const DELEGATED_FILES = ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control'];

/**
 * Run as root just before the emperor drops to uid/gid: makes this emperor's directory (emperor.<pid>, the name
 * CgroupTree.create() then finds: the drop keeps the pid), hands it to uid/gid as systemd's Delegate=yes would, and
 * moves this process into its leaf. Returns the reason when that is not possible (the emperor then runs without
 * cgroups, as before).
 */
export function delegateTree(uid: number, gid: number): string | undefined {
  const mount = findCgroup2Mount();
  const own = ownCgroupPath();
  if (!mount || own === undefined) return 'no cgroup v2 hierarchy';
  const parent = path.join(mount, own);
  sweepStale(parent);
  const base = path.join(parent, `emperor.${process.pid}`);
  const leaf = path.join(base, SELF_LEAF);
  try {
    fs.mkdirSync(leaf, { recursive: true });
    for (const dir of [base, leaf]) for (const f of DELEGATED_FILES) fs.chownSync(path.join(dir, f), uid, gid);
    fs.writeFileSync(path.join(leaf, 'cgroup.procs'), String(process.pid));
  } catch (e) {
    return `cannot delegate ${base} to uid ${uid}: ${(e as Error).message}`;
  }
  return undefined;
}

export class CgroupTree {
  private generation = 0;
  /** Ragnarok: exits leave their directories to destroy(), which handles all of them at once. */
  private tearingDown = false;

  private constructor(
    readonly base: string,
    /** The leaf this emperor itself runs in, in a delegated tree: never killed nor removed by it. */
    private readonly self?: string,
  ) {}

  /**
   * Makes this emperor's directory (emperor.<pid>) beside its own cgroup's processes, after sweeping empty
   * directories left by emperors that were SIGKILLed. Returns undefined, with the reason, where cgroup v2 is not
   * usable (no cgroup2 mount, read-only, no permission).
   */
  static create(): { tree?: CgroupTree; reason?: string } {
    const mount = findCgroup2Mount();
    if (!mount) return { reason: 'no cgroup2 hierarchy is mounted' };
    const own = ownCgroupPath();
    if (own === undefined) return { reason: 'this process is not in a cgroup v2 hierarchy' };
    const here = path.join(mount, own);
    // a tree delegated to this emperor before its privilege drop (delegateTree): it runs in the tree's own leaf
    if (here.endsWith(`/emperor.${process.pid}/${SELF_LEAF}`)) {
      const base = path.dirname(here);
      if (!fs.existsSync(path.join(base, 'cgroup.kill'))) return { reason: 'the kernel has no cgroup.kill (Linux < 5.14)' };
      return { tree: new CgroupTree(base, SELF_LEAF) };
    }
    sweepStale(here);
    const base = path.join(here, `emperor.${process.pid}`);
    try {
      fs.mkdirSync(base);
      // cgroup.kill exists since Linux 5.14; without it a stop cannot reach the whole tree through the cgroup
      if (!fs.existsSync(path.join(base, 'cgroup.kill'))) {
        fs.rmdirSync(base);
        return { reason: 'the kernel has no cgroup.kill (Linux < 5.14)' };
      }
    } catch (e) {
      return { reason: `cannot create ${base}: ${(e as Error).message}` };
    }
    return { tree: new CgroupTree(base) };
  }

  /** A fresh directory for one vassal instance: a respawn never waits for the old instance's cgroup to drain. */
  makeInstanceDir(vassal: string): string {
    const dir = path.join(this.base, `${encodeURIComponent(vassal).replace(/^\./, '%2E')}.${++this.generation}`);
    fs.mkdirSync(dir);
    return dir;
  }

  /** An instance's directory after its exit: what it left is killed and the directory removed (at Ragnarok, later). */
  release(dir: string): void {
    if (!this.tearingDown) drainAndRemove(dir);
  }

  /** Ragnarok has begun: instance directories are no longer removed one by one. */
  beginTeardown(): void {
    this.tearingDown = true;
  }

  /** The helpers' directory in this tree (made on first use; the caller copes with a failure). */
  helpersDir(): string {
    const dir = path.join(this.base, HELPERS_DIR);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** The vassals' directories: every child of the tree but the emperor's own leaf and its helpers' directory. */
  private vassalDirs(): string[] {
    return safeReaddir(this.base)
      .filter((d) => d !== this.self && d !== HELPERS_DIR)
      .map((d) => path.join(this.base, d));
  }

  /**
   * SIGKILLs every process of every vassal: one write to the tree's cgroup.kill, or, in a delegated tree whose leaf
   * holds the emperor itself, one per vassal directory. Returns false when a write failed.
   */
  killAll(): boolean {
    if (!this.self) return killCgroup(this.base);
    return this.vassalDirs().map(killCgroup).every(Boolean);
  }

  /**
   * Removes the whole tree; called last at Ragnarok, after every vassal is reaped: one cgroup.kill for whatever the
   * vassals left (a daemon that escaped its vassal's stop), then every directory once the tree is empty. The wait
   * is bounded and polled on timers: the loop never blocks on it.
   */
  async destroy(): Promise<void> {
    this.tearingDown = true;
    this.killAll();
    const populated = () => (this.self ? this.vassalDirs().some(isPopulated) : isPopulated(this.base));
    for (let waited = 0; waited < 2000 && populated(); waited += 5) await new Promise((r) => setTimeout(r, 5));
    for (const d of this.vassalDirs()) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* still draining: the next emperor's sweep removes it */
      }
    }
    try {
      fs.rmdirSync(this.base);
    } catch {
      /* a straggler still draining, or (delegated) this emperor in its leaf: the next emperor's sweep removes it */
    }
  }
}

/** SIGKILLs every process in the cgroup. Returns false when the directory is gone already. */
export function killCgroup(dir: string): boolean {
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    return true;
  } catch {
    return false;
  }
}

export function isPopulated(dir: string): boolean {
  try {
    return /populated 1/.test(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Kills what is left in a cgroup (an instance's, a helper's) and removes the directory, and any under it, once it is
 * empty. Processes killed by cgroup.kill leave the cgroup asynchronously, so the rmdir is retried on a short timer
 * instead of blocking.
 */
export function drainAndRemove(dir: string, done?: () => void): void {
  killCgroup(dir);
  let tries = 0;
  const attempt = () => {
    if (!removeDirs(dir) && ++tries < 200) {
      setTimeout(attempt, Math.min(5 * tries, 50)).unref();
      return;
    }
    done?.();
  };
  attempt();
}

function killAndRemove(dir: string): void {
  killCgroup(dir);
  for (let i = 0; i < 100 && isPopulated(dir); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  removeDirs(dir); // one still busy is left for the next sweep
}

/** rmdir of dir and every cgroup directory under it, the deepest first; false when one is still busy. */
export function removeDirs(dir: string): boolean {
  for (const child of safeReaddir(dir)) removeDirs(path.join(dir, child));
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function sweepStale(parent: string): void {
  for (const name of safeReaddir(parent)) {
    const m = /^emperor\.(\d+)$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const dir = path.join(parent, name);
    for (const child of safeReaddir(dir)) killAndRemove(path.join(dir, child));
    try {
      fs.rmdirSync(dir);
    } catch {
      /* not empty yet */
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
