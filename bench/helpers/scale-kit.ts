// What bench/scale.ts and bench/limits.ts share: the vassal program they build, and the /proc readings they take.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findCgroup2Mount, ownCgroupPath } from '../../src/cgroup/tree';

const SOURCE = path.resolve(__dirname, '../../../bench/scale-vassal.c');
/** The processes of a vassal (the init, the shell of a binary patch, the program), never an emperor's helpers. */
export const VASSAL_COMMS = new Set(['scale-vassal', 'emperor-init', 'sh']);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds bench/scale-vassal.c into a fresh directory (removed by the caller). */
export function buildVassal(): { vassal: string; build: string } {
  const build = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-scale-bin-'));
  const vassal = path.join(build, 'scale-vassal');
  execFileSync('cc', ['-O2', '-o', vassal, SOURCE]);
  return { vassal, build };
}

/** The same file for both emperors: a patched vassal for uWSGI, a native one for us. */
export function vassalFile(vassal: string, name: string, ready: string, prefix: string): string {
  return `[uwsgi]\nunprivileged-binary-patch-arg = exec ${vassal} ${name} ${ready} ${prefix}\n`;
}

export function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

export function comm(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function ppid(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return -1;
  }
}

export function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Nanoseconds on CPU of every thread of pid (0 when it is gone). */
export function cpuNs(pid: number): number {
  let sum = 0;
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        sum += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* a thread that just ended */
      }
    }
  } catch {
    /* gone */
  }
  return sum;
}

/** The processes whose command line names `root`: what is left of a run's vassals. */
export function leftovers(root: string): number[] {
  return pids().filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(root) && VASSAL_COMMS.has(comm(pid) ?? '');
    } catch {
      return false;
    }
  });
}

export function ask(prefix: string, name: string): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = net.connect({ path: `\0${prefix}${name}` });
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (d) => (data += d));
    s.on('close', () => resolve(data.trim()));
    s.on('error', () => resolve('error'));
  });
}

/** When each vassal first served (ms since the epoch), once per name: a vassal started again adds a line. */
export function readyTimes(file: string): number[] {
  const first = new Map<string, number>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const [name, t] = line.split(' ');
    if (name && !first.has(name)) first.set(name, Number(t) * 1000);
  }
  return [...first.values()];
}

/**
 * The kernel's own cost of ending `count` small processes on this machine: that many `sleep`s in a cgroup of their
 * own, one write to its cgroup.kill, seconds until the cgroup is empty. What no supervisor's stop can beat.
 */
export async function killFloor(count: number): Promise<number> {
  const mount = findCgroup2Mount();
  const own = ownCgroupPath();
  if (!mount || own === undefined) return NaN;
  const dir = path.join(mount, own, `bench-floor-${process.pid}`);
  fs.mkdirSync(dir);
  try {
    const procs = () => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length;
    const sh = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs; i=0; while [ $i -lt ${count} ]; do sleep 600 & i=$((i+1)); done; wait`], {
      stdio: 'ignore',
    });
    for (let waited = 0; procs() < count + 1 && waited < 300_000; waited += 200) await sleep(200);
    await sleep(1000);
    const t0 = performance.now();
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    while (/populated 1/.test(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8'))) await sleep(2);
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((r) => (sh.exitCode !== null || sh.signalCode !== null ? r(null) : sh.once('exit', r)));
    return seconds;
  } finally {
    fs.rmdirSync(dir);
  }
}
