// FUSE daemons of the tests (test/helpers/*.c), mounted by root on a new directory: hungfs answers INIT and then
// never answers anything (every lookup, stat, open or chdir under it sleeps uninterruptibly until release() kills
// the daemon: never stat the mount point from the test process itself), flipfs serves one file whose bytes change
// after its first open.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testBinary } from './cc';
import { killIfAlive, waitGone } from './native-proc';

export function isMounted(dir: string): boolean {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

export interface TestMount {
  /** The mount point (hungfs: anything below it, and it itself, hangs whoever touches it). */
  dir: string;
  daemonPid: number;
  /** Kills the daemon (which releases every task stuck on the mount), unmounts and removes the directory. */
  release(): Promise<void>;
}

/** Runs test/helpers/NAME.c on a new directory under `parent` (default: a new temp dir) until it has mounted there. */
async function mountTestFs(name: string, args: string[], parent?: string): Promise<TestMount> {
  const base = parent ?? fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const dir = fs.mkdtempSync(path.join(base, 'mnt-'));
  const daemon = spawn(testBinary(name), [dir, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const pid = daemon.pid!;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    killIfAlive(pid);
    await waitGone(pid, 5000);
    if (isMounted(dir)) execFileSync('umount', ['-l', dir], { timeout: 5000 });
    fs.rmdirSync(dir);
    if (!parent) fs.rmdirSync(base);
  };
  const deadline = Date.now() + 5000;
  while (!isMounted(dir)) {
    if (daemon.exitCode !== null || Date.now() > deadline) {
      await release();
      throw new Error(`${name} did not mount ${dir} (exit ${daemon.exitCode})`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { dir, daemonPid: pid, release };
}

/** Mounts a never-answering FUSE filesystem on a new directory under `parent` (default: a new temp dir). */
export function mountHungFs(parent?: string): Promise<TestMount> {
  return mountTestFs('hungfs', [], parent);
}

export interface FlipFs {
  /** Whose the file says it is; `then`: whose it says it is from its first open on. */
  owner: { uid: number; gid: number };
  then?: { uid: number; gid: number };
  /** The bytes of its first open, and of every later one. */
  first: string;
  second: string;
  /** Whose daemon it looks like (the mount's user_id); default root. */
  daemonUid?: number;
}

/** Mounts flipfs under `parent` (`<dir>/vassal.ini`, as FlipFs says), by root, for every user (allow_other). */
export function mountFlipFs(parent: string, f: FlipFs): Promise<TestMount> {
  const texts = [f.first, f.second].map((text) => {
    const file = fs.mkdtempSync(path.join(parent, 'flipfs-text-'));
    fs.writeFileSync(path.join(file, 'text'), text);
    return path.join(file, 'text');
  });
  const ids = (k: 'uid' | 'gid') => [f.owner[k], ...(f.then ? [f.then[k]] : [])].join(',');
  return mountTestFs('flipfs', [ids('uid'), ids('gid'), ...texts, String(f.daemonUid ?? 0)], parent);
}
