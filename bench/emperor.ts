// Benchmark: our emperor beside `uwsgi --emperor` on the same vassal files, one run.
//   node dist/bench/emperor.js [--vassals 1000] [--rounds 10] [--only ours|uwsgi]
// Each vassal is a binary-patch vassal whose program records its pid in a marker file and sleeps, so both emperors
// run the very same program: creation/touch/removal/kill -9 latencies are measured from the file operation to the
// marker (or to the process being gone), bring-up to the last of N markers, memory and idle CPU from /proc.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { option } from './helpers/args';

const VASSALS = Number(option('vassals', '1000'));
const ROUNDS = Number(option('rounds', '5'));
const ONLY = option('only', '');
const CLI = path.resolve(__dirname, '../src/cli.js');
const CLK_TCK = 100;

interface Impl {
  name: string;
  start(dir: string): ChildProcess;
}

const impls: Impl[] = [
  {
    name: 'ours',
    start: (dir) =>
      spawn(process.execPath, [CLI, '--emperor', dir], {
        stdio: 'ignore',
        env: { ...process.env, EMPEROR_LOG_LEVEL: 'warn', EMPEROR_LOG_FORMAT: 'json' },
      }),
  },
  {
    name: 'uwsgi',
    start: (dir) => spawn('uwsgi', ['--emperor', dir, '--logto', '/dev/null'], { stdio: 'ignore' }),
  },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

class Bench {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-bench-'));
  readonly vassals = path.join(this.root, 'vassals');
  readonly marks = path.join(this.root, 'marks');
  readonly script = path.join(this.root, 'mark.sh');
  private watchers = new Map<string, () => void>();
  private watcher: fs.FSWatcher;

  constructor() {
    fs.mkdirSync(this.vassals);
    fs.mkdirSync(this.marks);
    // the marker is renamed into place, so a reader never sees a half-written pid; the pid is read from the host's
    // /proc (a native vassal is in its own pid namespace, where $$ is a small number that means nothing outside)
    fs.writeFileSync(
      this.script,
      `#!/bin/sh\nread -r pid rest < /proc/self/stat\necho $pid > "$1.tmp" && mv "$1.tmp" "$1"\nexec sleep 100000\n`,
      { mode: 0o755 },
    );
    this.watcher = fs.watch(this.marks, (_e, f) => {
      if (f && !f.endsWith('.tmp')) this.watchers.get(f)?.();
    });
  }

  writeVassal(name: string): void {
    fs.writeFileSync(
      path.join(this.vassals, `${name}.ini`),
      `[uwsgi]\nunprivileged-binary-patch-arg = exec ${this.script} ${this.marks}/${name}\n`,
    );
  }

  markPid(name: string): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.marks, name), 'utf8')) || undefined;
    } catch {
      return undefined;
    }
  }

  /** Resolves with the time a new marker (another pid than `old`) appeared, or NaN after timeoutMs. */
  nextMark(name: string, old: number | undefined, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const check = () => {
        const pid = this.markPid(name);
        if (pid && pid !== old) {
          done(performance.now());
        }
      };
      const timer = setTimeout(() => done(NaN), timeoutMs);
      const done = (t: number) => {
        clearTimeout(timer);
        this.watchers.delete(name);
        resolve(t);
      };
      this.watchers.set(name, check);
      check();
    });
  }

  async gone(pid: number, timeoutMs: number): Promise<number> {
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      if (!alive(pid)) return performance.now();
      await sleep(1);
    }
    return NaN;
  }

  close(): void {
    this.watcher.close();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function runImpl(impl: Impl): Promise<Record<string, number | string>> {
  const b = new Bench();
  const emperor = impl.start(b.vassals);
  const out: Record<string, number | string> = {};
  try {
    await sleep(1500);
    out.baseline_rss_kb = rssKb(emperor.pid!);
    const spawnMs: number[] = [],
      touchMs: number[] = [],
      killMs: number[] = [],
      removeMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const name = `lat${r}`;
      let t0 = performance.now();
      b.writeVassal(name);
      spawnMs.push((await b.nextMark(name, undefined, 10000)) - t0);
      const pid1 = b.markPid(name);
      await sleep(300);
      const when = new Date(Date.now() + 2000 * (r + 1));
      t0 = performance.now();
      fs.utimesSync(path.join(b.vassals, `${name}.ini`), when, when);
      touchMs.push((await b.nextMark(name, pid1, 5000)) - t0);
      const pid2 = b.markPid(name)!;
      await sleep(300);
      t0 = performance.now();
      process.kill(pid2, 'SIGKILL');
      killMs.push((await b.nextMark(name, pid2, 10000)) - t0);
      const pid3 = b.markPid(name)!;
      await sleep(300);
      t0 = performance.now();
      fs.unlinkSync(path.join(b.vassals, `${name}.ini`));
      removeMs.push((await b.gone(pid3, 40000)) - t0);
    }
    const fmt = (xs: number[]) =>
      xs.some(Number.isNaN) ? `${xs.filter(Number.isNaN).length}/${xs.length} never` : `${median(xs).toFixed(1)}`;
    out.spawn_ms = fmt(spawnMs);
    out.reload_ms = fmt(touchMs);
    out.respawn_after_kill_ms = fmt(killMs);
    out.stop_ms = fmt(removeMs);

    const t0 = performance.now();
    for (let i = 0; i < VASSALS; i++) b.writeVassal(`v${i}`);
    const ups = await Promise.all(Array.from({ length: VASSALS }, (_, i) => b.nextMark(`v${i}`, undefined, 120000)));
    out.bringup_s = ((Math.max(...ups) - t0) / 1000).toFixed(2);
    out.bringup_per_vassal_ms = ((Math.max(...ups) - t0) / VASSALS).toFixed(2);
    await sleep(3000);
    out.rss_kb = rssKb(emperor.pid!);
    out.rss_per_vassal_kb = ((Number(out.rss_kb) - Number(out.baseline_rss_kb)) / VASSALS).toFixed(1);
    const c0 = cpuTicks(emperor.pid!);
    await sleep(10000);
    out.idle_cpu_pct = (((cpuTicks(emperor.pid!) - c0) / CLK_TCK / 10) * 100).toFixed(2);

    const r0 = performance.now();
    const exited = new Promise<number>((res) => emperor.on('exit', () => res(performance.now())));
    emperor.kill('SIGINT');
    const timeout = sleep(45000).then(() => NaN);
    const tEnd = await Promise.race([exited, timeout]);
    out.ragnarok_s = Number.isNaN(tEnd) ? '> 45' : ((tEnd - r0) / 1000).toFixed(2);
  } finally {
    if (emperor.exitCode === null) emperor.kill('SIGKILL');
    // whatever the emperor left (uWSGI leaves binary-patched programs when it is killed): end it by pid
    for (let i = 0; i < VASSALS; i++) {
      const pid = b.markPid(`v${i}`);
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    b.close();
  }
  return out;
}

async function main(): Promise<void> {
  try {
    execFileSync('uwsgi', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('uwsgi is not installed: sh scripts/install-deps.sh');
  }
  const results: Record<string, Record<string, number | string>> = {};
  for (const impl of impls) {
    if (ONLY && impl.name !== ONLY) continue;
    process.stderr.write(`running ${impl.name} with ${VASSALS} vassals...\n`);
    results[impl.name] = await runImpl(impl);
  }
  const keys = Object.keys(Object.values(results)[0] ?? {});
  console.log(`| figure (${VASSALS} vassals, ${ROUNDS} rounds, medians) | ${Object.keys(results).join(' | ')} |`);
  console.log(
    `|---|${Object.keys(results)
      .map(() => '---')
      .join('|')}|`,
  );
  for (const k of keys)
    console.log(
      `| ${k} | ${Object.values(results)
        .map((r) => r[k])
        .join(' | ')} |`,
    );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
