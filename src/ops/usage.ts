// CPU and memory of each vassal, for `emperor status` and the metrics: from its cgroup's cpu.stat and memory.current
// where those controllers exist, otherwise the sum over its processes' /proc/PID/stat (the processes listed in its
// cgroup.procs, or without cgroup v2 its instance's process tree). Only kernel files are read, never a path a vassal
// controls, and in batches between which the loop runs: a sample of thousands of vassals is never one long stall.
import * as fs from 'node:fs';

/** What one vassal's instance is, for the sampler. */
export interface UsageTarget {
  /** The instance's top process (the uWSGI master or the init), -1 when none runs. */
  pid: number;
  cgroup?: string;
}

export interface Usage {
  /** CPU time of every instance the vassal had so far, never decreasing. */
  cpuSeconds: number;
  /** Share of one CPU between the last two samples, in percent. */
  cpuPercent: number;
  memoryBytes: number;
}

interface State extends Usage {
  pid: number;
  /** CPU seconds of the instances before the current one. */
  base: number;
  /** CPU seconds of the current instance at the last sample. */
  current: number;
  at: number;
}

/** /proc times are in USER_HZ, which Linux fixes at 100 for user space. */
const USER_HZ = 100;
/** Vassals sampled between two turns of the loop (a few ms of /proc reads). */
const BATCH = 50;

export class UsageSampler {
  private readonly states = new WeakMap<object, State>();
  private sampledAt = 0;
  private running?: Promise<void>;
  private readonly pageSize = pageSize();

  /** The last sample of `key`; undefined before its first. */
  get(key: object): Usage | undefined {
    const s = this.states.get(key);
    return s && { cpuSeconds: s.cpuSeconds, cpuPercent: s.cpuPercent, memoryBytes: s.memoryBytes };
  }

  /** Samples every target unless the last sample is younger than maxAgeMs; concurrent callers share one sample. */
  refresh(targets: () => Array<[object, UsageTarget]>, maxAgeMs = 0): Promise<void> {
    if (this.running) return this.running;
    if (Date.now() - this.sampledAt < maxAgeMs) return Promise.resolve();
    // never inside the caller's turn of the loop (a stats answer, a scrape): the first batch comes after it
    this.running = new Promise((r) => setImmediate(r))
      .then(() => this.sampleAll(targets()))
      .finally(() => {
        this.running = undefined;
        this.sampledAt = Date.now();
      });
    return this.running;
  }

  private async sampleAll(targets: Array<[object, UsageTarget]>): Promise<void> {
    for (let i = 0; i < targets.length; i += BATCH) {
      if (i) await new Promise((r) => setImmediate(r));
      for (const [key, t] of targets.slice(i, i + BATCH)) this.sampleOne(key, t);
    }
  }

  private sampleOne(key: object, t: UsageTarget): void {
    const now = performance.now();
    let s = this.states.get(key);
    if (!s) {
      s = { pid: t.pid, base: 0, current: 0, at: now, cpuSeconds: 0, cpuPercent: 0, memoryBytes: 0 };
      this.states.set(key, s);
    }
    if (s.pid !== t.pid) {
      // a new instance (or none): what the old one used stays counted
      s.base += s.current;
      s.current = 0;
      s.pid = t.pid;
    }
    const m = t.pid > 0 ? this.measure(t) : { cpu: 0, memory: 0 };
    const before = s.cpuSeconds;
    s.current = Math.max(s.current, m.cpu);
    s.cpuSeconds = s.base + s.current;
    s.cpuPercent = now > s.at ? (100 * (s.cpuSeconds - before) * 1000) / (now - s.at) : 0;
    s.memoryBytes = m.memory;
    s.at = now;
  }

  private measure(t: UsageTarget): { cpu: number; memory: number } {
    if (t.cgroup) {
      const controllers = fromControllers(t.cgroup);
      if (controllers) return controllers;
    }
    let cpu = 0;
    let memory = 0;
    for (const pid of t.cgroup ? cgroupPids(t.cgroup) : processTree(t.pid)) {
      const f = procStat(pid);
      if (!f) continue;
      // utime, stime, and the children this process reaped (an init's apps that came and went)
      cpu += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / USER_HZ;
      memory += Number(f[21]) * this.pageSize;
    }
    return { cpu, memory };
  }
}

/** cpu.stat usage_usec and memory.current, where the cpu and memory controllers are enabled for the cgroup. */
function fromControllers(cgroup: string): { cpu: number; memory: number } | undefined {
  const memory = readKernelFile(`${cgroup}/memory.current`);
  const cpuStat = memory === undefined ? undefined : readKernelFile(`${cgroup}/cpu.stat`);
  const usec = cpuStat && /^usage_usec (\d+)$/m.exec(cpuStat);
  if (memory === undefined || !usec) return undefined;
  return { cpu: Number(usec[1]) / 1e6, memory: Number(memory) };
}

function cgroupPids(cgroup: string): number[] {
  return (readKernelFile(`${cgroup}/cgroup.procs`) ?? '').split('\n').filter(Boolean).map(Number);
}

/** pid and its descendants, through /proc/PID/task/TID/children. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 10000; i++) {
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      for (const c of (readKernelFile(`/proc/${out[i]}/task/${tid}/children`) ?? '').split(' ')) if (c.trim()) out.push(Number(c));
    }
  }
  return out;
}

/** The fields of /proc/PID/stat after the command name (index 0 is field 3, the state). */
function procStat(pid: number): string[] | undefined {
  const text = readKernelFile(`/proc/${pid}/stat`);
  if (!text) return undefined;
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function readKernelFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** The kernel's page size: this process's resident size as /proc/self/status says it (kB) over its page count. */
function pageSize(): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readKernelFile('/proc/self/status') ?? '')?.[1]);
  const pages = Number((readKernelFile('/proc/self/statm') ?? '').split(' ')[1]);
  if (!(kb > 0 && pages > 0)) return 4096;
  // the two reads are a moment apart: round to the nearest power of two
  return 2 ** Math.round(Math.log2((kb * 1024) / pages));
}
