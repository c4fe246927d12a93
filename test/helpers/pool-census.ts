// Who runs which pool vassal, read from /proc and never from the emperors: each vassal's program carries its own
// marker (POOL_VASSAL=<run>-<i>) and its emperor's tag (EMPEROR_TEST_TAG) in its environment, and appends a line to
// its start log each time it starts, on whichever node. So a test counts live copies and host pids, and every start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EmperorProcess } from './emperor-process';
import { until } from './wait';

export interface Census {
  /** Per vassal number: how many live copies (its app, from its exec on). */
  count: number[];
  /** Per vassal number: how many of them have logged their start and become the sleep (after the shell's echo). */
  ready: number[];
  /** Per vassal number: the host pids of its live copies. */
  pids: number[][];
  /** Per emperor (by the index its tag maps to): how many vassal copies it runs. */
  byEmperor: number[];
  /** Per vassal number: the emperor running it (-1: none, or more than one). */
  runner: number[];
}

/** A pool vassal's config: a sleep with its marker, which logs each start (its host pid is in /proc, not here). */
export function poolVassal(run: string, i: number, startsDir: string): string {
  return `[uwsgi]\nenv = POOL_VASSAL=${run}-${i}\nunprivileged-binary-patch-arg = exec sh -c 'echo start >> ${startsDir}/${i}; exec sleep 600'\n`;
}

/** Per vassal number: how many times it started, on any node. */
export function starts(startsDir: string, vassals: number): number[] {
  return Array.from({ length: vassals }, (_, i) => {
    const f = path.join(startsDir, String(i));
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
  });
}

export function census(run: string, vassals: number, tags: Map<string, number>): Census {
  const count = new Array<number>(vassals).fill(0);
  const ready = new Array<number>(vassals).fill(0);
  const pids = Array.from({ length: vassals }, () => [] as number[]);
  const byEmperor = new Array<number>(tags.size).fill(0);
  const runner = new Array<number>(vassals).fill(-1);
  const marker = new RegExp(`POOL_VASSAL=${run}-(\\d+)\\0`);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // the app from its exec on (its shell, then the sleep it execs in place: one host pid), not its vassal's init
      const cmdline = fs.readFileSync(`/proc/${d}/cmdline`, 'latin1');
      if (cmdline.startsWith('emperor-init\0')) continue;
      const env = fs.readFileSync(`/proc/${d}/environ`, 'latin1');
      const m = marker.exec(env);
      if (!m || /\) Z /.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))) continue;
      const i = Number(m[1]);
      count[i]++;
      if (cmdline.startsWith('sleep\0')) ready[i]++;
      pids[i].push(Number(d));
      const e = tags.get(/EMPEROR_TEST_TAG=([^\0]+)/.exec(env)?.[1] ?? '');
      if (e !== undefined) byEmperor[e]++;
      runner[i] = count[i] === 1 && e !== undefined ? e : -1;
    } catch {
      /* exited meanwhile */
    }
  }
  return { count, ready, pids, byEmperor, runner };
}

/**
 * The census taken every 100 ms (one /proc scan at a time: on two busy cores a tighter loop would starve the
 * emperors) until stop(): `worst` is the most live copies of one vassal ever seen; onSample sees every census.
 */
export class CensusSampler {
  worst = 0;
  samples = 0;
  now: Census;
  private readonly timer: NodeJS.Timeout;

  constructor(
    run: string,
    vassals: number,
    tags: Map<string, number>,
    private readonly onSample?: (c: Census) => void,
  ) {
    this.now = census(run, vassals, tags);
    this.timer = setInterval(() => {
      this.now = census(run, vassals, tags);
      this.samples++;
      this.worst = Math.max(this.worst, ...this.now.count);
      this.onSample?.(this.now);
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * The census once pred holds; past timeoutMs, an error with the counts, the spread and what each of `emperors` said
   * about its pool and lease.
   */
  until(pred: (c: Census) => boolean, what: string, timeoutMs: number, emperors: EmperorProcess[] = []): Promise<Census> {
    return until(() => pred(this.now) && this.now, what, timeoutMs).catch((e: Error) => {
      const said = emperors.map(
        (emp, i) =>
          `node${i}: ${emp.logs
            .filter((l) => /pool|lease|node/.test(String(l.event)))
            .map((l) => l.event)
            .join(',')}`,
      );
      throw new Error(`${e.message}: counts ${this.now.count.join('')}, spread ${this.now.byEmperor.join('/')}\n${said.join('\n')}`);
    });
  }
}

/** Every vassal running exactly once, its start logged, emperor i running want[i] of them (-1: any number). */
export function spreadIs(want: number[]): (c: Census) => boolean {
  return (c) => c.count.every((n) => n === 1) && c.ready.every((n) => n === 1) && want.every((w, i) => w < 0 || c.byEmperor[i] === w);
}

/** The remote ports of a process's established TCP connections (on loopback: which etcd member it talks to). */
export function tcpPeerPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports: number[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st ... inode (field 9); state 01 is ESTABLISHED
    if (f.length > 9 && f[3] === '01' && inodes.has(f[9])) ports.push(parseInt(f[2].split(':')[1], 16));
  }
  return ports;
}
