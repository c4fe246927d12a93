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

/**
 * Mounts flipfs under `parent`: its one file, `<dir>/vassal.ini`, says it is owner's and serves `first` to its first
 * open and `second` to every later one. Mounted by root for every user (allow_other), as if the daemon were
 * `daemonUid`'s (its user_id; default root).
 */
export function mountFlipFs(
  parent: string,
  owner: { uid: number; gid: number },
  first: string,
  second: string,
  daemonUid = 0,
): Promise<TestMount> {
  const texts = [first, second].map((text, i) => {
    const file = path.join(parent, `flipfs-${i}.txt`);
    fs.writeFileSync(file, text);
    return file;
  });
  return mountTestFs('flipfs', [String(owner.uid), String(owner.gid), ...texts, String(daemonUid)], parent);
}
