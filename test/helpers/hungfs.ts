// A FUSE mount whose daemon answers INIT and then never answers anything (test/helpers/hungfs.c): every lookup,
// stat, open or chdir under it sleeps uninterruptibly until release() kills the daemon. Never stat the mount
// point from the test process itself: that would hang the test.
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

export interface HungMount {
  /** The mount point: anything below it (and it itself) hangs whoever touches it. */
  dir: string;
  daemonPid: number;
  /** Kills the daemon (which releases every task stuck on the mount), unmounts and removes the directory. */
  release(): Promise<void>;
}

/** Mounts a never-answering FUSE filesystem on a new directory under `parent` (default: a new temp dir). */
export async function mountHungFs(parent?: string): Promise<HungMount> {
  const base = parent ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hungfs-'));
  const dir = fs.mkdtempSync(path.join(base, 'mnt-'));
  const daemon = spawn(testBinary('hungfs'), [dir], { stdio: ['ignore', 'ignore', 'inherit'] });
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
      throw new Error(`hungfs did not mount ${dir} (exit ${daemon.exitCode})`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { dir, daemonPid: pid, release };
}
