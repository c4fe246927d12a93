// Benchmark: our emperor beside `uwsgi --emperor` on the same N vassal files, at one or more sizes.
//   node dist/bench/scale.js [--vassals 1000,5000,10000] [--only ours|uwsgi] [--idle 20] [--settle 30] [--floor no]
// Every vassal file is `unprivileged-binary-patch-arg = exec scale-vassal NAME READY PREFIX`: for uWSGI a patched
// vassal (one process), for us a native vassal (the init and the program). scale-vassal (bench/scale-vassal.c, built
// here) listens on an abstract unix socket, appends its name and the time to READY once it serves, and speaks the
// emperor protocol (accepting, loyal; exits on a stop byte). Figures, per emperor and size:
//   bring-up   the N files written at once into the watched directory -> the first, the median, the last vassal
//              serving (times taken by the vassals themselves, CLOCK_REALTIME); 20 of them are then asked for "ok"
//   idle CPU   the emperor and its helper processes (our agent and config readers; not the vassals), every thread,
//              from /proc/PID/task/*/schedstat, over --idle seconds, --settle seconds after every vassal serves (our
//              idle config readers exit after 30 s, and V8 shrinks its heap after a burst)
//   RSS/vassal the emperor's RSS growth from its empty start, divided by N; ours after a full GC (the bench preloads
//              bench/helpers/gc-report.js: SIGUSR2 -> gc() -> memory figures in a file), uWSGI's as it is
//   Ragnarok   SIGINT -> the emperor has exited; then /proc is searched for any vassal left (an orphan)
//   floor      per size, N and 2N sleeping processes SIGKILLed by one cgroup.kill: the kernel's own share of a stop
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  ask,
  buildVassal,
  comm,
  cpuNs,
  killFloor,
  leftovers,
  pids,
  ppid,
  readyTimes,
  rssKb,
  sleep,
  VASSAL_COMMS,
  vassalFile,
} from './helpers/scale-kit';
import { option } from './helpers/args';

const SIZES = option('vassals', '1000').split(',').map(Number);
const ONLY = option('only', '');
const IDLE_S = Number(option('idle', '20'));
const SETTLE_S = Number(option('settle', '30'));
const NO_FLOOR = option('floor', 'yes') === 'no';
const CLI = path.resolve(__dirname, '../src/cli.js');
const GC_REPORT = path.resolve(__dirname, 'helpers/gc-report.js');
const nowMs = () => performance.timeOrigin + performance.now();

interface Impl {
  name: string;
  start(root: string, dir: string): ChildProcess;
  /** The emperor's RSS in bytes, after a GC where the emperor has one, and its JS heap where it has one. */
  memory(root: string, pid: number): Promise<{ rss: number; heap?: number }>;
}

const impls: Impl[] = [
  {
    name: 'ours',
    start: (root, dir) =>
      spawn(process.execPath, ['--expose-gc', '-r', GC_REPORT, CLI, '--emperor', dir], {
        stdio: ['ignore', fs.openSync(path.join(root, 'emperor.log'), 'w'), 'inherit'],
        env: {
          ...process.env,
          EMPEROR_LOG_LEVEL: 'warn',
          EMPEROR_LOG_FORMAT: 'json',
          EMPEROR_BENCH_MEMORY: path.join(root, 'memory.json'),
        },
      }),
    memory: async (root, pid) => {
      const file = path.join(root, 'memory.json');
      fs.rmSync(file, { force: true });
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; i < 600 && !fs.existsSync(file); i++) await sleep(50);
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { rss: number; heapUsed: number };
      return { rss: m.rss, heap: m.heapUsed };
    },
  },
  {
    name: 'uwsgi',
    start: (root, dir) => spawn('uwsgi', ['--emperor', dir, '--logto', path.join(root, 'emperor.log')], { stdio: 'ignore' }),
    memory: async (_root, pid) => ({ rss: rssKb(pid) * 1024 }),
  },
];

async function runOne(impl: Impl, n: number, vassal: string): Promise<Record<string, string>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `emperor-scale-${impl.name}-`));
  const dir = path.join(root, 'vassals');
  const ready = path.join(root, 'ready');
  const prefix = `${path.basename(root)}/`;
  fs.mkdirSync(dir);
  fs.writeFileSync(ready, '');
  const emperor = impl.start(root, dir);
  const out: Record<string, string> = {};
  try {
    await sleep(2000);
    const base = await impl.memory(root, emperor.pid!);
    const names = Array.from({ length: n }, (_, i) => `v${String(i).padStart(5, '0')}`);
    const t0 = nowMs();
    for (const name of names) fs.writeFileSync(path.join(dir, `${name}.ini`), vassalFile(vassal, name, ready, prefix));
    const written = nowMs() - t0;
    const deadline = performance.now() + 300_000;
    let times = readyTimes(ready);
    while (times.length < n && performance.now() < deadline && emperor.exitCode === null) {
      await sleep(100);
      times = readyTimes(ready);
    }
    times = times.map((t) => t - t0).sort((a, b) => a - b);
    const s = (ms: number) => (ms / 1000).toFixed(2);
    out['files written (s)'] = s(written);
    out['first serving (s)'] = times.length ? s(times[0]) : 'never';
    out['median serving (s)'] = times.length >= n / 2 ? s(times[Math.floor(n / 2)]) : 'never';
    out['all serving (s)'] = times.length === n ? s(times[n - 1]) : `${times.length}/${n} after 300 s`;
    const sample = Array.from({ length: 20 }, () => names[Math.floor(Math.random() * n)]);
    const answers = await Promise.all(sample.map((name) => ask(prefix, name)));
    out['sample answering'] = `${answers.filter((a) => a === 'ok').length}/20`;

    await sleep(SETTLE_S * 1000);
    const mem = await impl.memory(root, emperor.pid!);
    out['RSS growth per vassal (KB)'] = ((mem.rss - base.rss) / 1024 / n).toFixed(1);
    out['JS heap growth per vassal (KB)'] = mem.heap === undefined ? '-' : ((mem.heap - base.heap!) / 1024 / n).toFixed(1);
    const helpers = [emperor.pid!, ...pids().filter((p) => ppid(p) === emperor.pid && !VASSAL_COMMS.has(comm(p) ?? ''))];
    const c0 = helpers.reduce((a, p) => a + cpuNs(p), 0);
    const i0 = performance.now();
    await sleep(IDLE_S * 1000);
    const cpu = helpers.reduce((a, p) => a + cpuNs(p), 0) - c0;
    out['idle CPU (%)'] = ((cpu / 1e6 / (performance.now() - i0)) * 100).toFixed(3);

    const r0 = performance.now();
    const exited = new Promise<number>((res) => emperor.once('exit', () => res(performance.now())));
    emperor.kill('SIGINT');
    const tEnd = await Promise.race([exited, sleep(120_000).then(() => NaN)]);
    out['Ragnarok (s)'] = Number.isNaN(tEnd) ? '> 120' : ((tEnd - r0) / 1000).toFixed(2);
    out['orphans after Ragnarok'] = String(leftovers(root).length);
  } finally {
    if (emperor.exitCode === null) emperor.kill('SIGKILL');
    await sleep(500);
    for (const pid of leftovers(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  execFileSync('uwsgi', ['--version'], { stdio: 'ignore' });
  const { vassal, build } = buildVassal();
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  console.log(
    `load average before: ${load()}; nofile ${execFileSync('sh', ['-c', 'ulimit -n']).toString().trim()}, pid_max ${fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()}`,
  );
  const results: Record<string, Record<string, string>> = {};
  const floors: string[] = [];
  try {
    for (const n of SIZES) {
      // what ending the vassals' processes costs the kernel alone: one per uWSGI vassal, two per native one
      if (!NO_FLOOR)
        floors.push(`${n}: ${(await killFloor(n)).toFixed(2)} s for ${n} processes, ${(await killFloor(2 * n)).toFixed(2)} s for ${2 * n}`);
      for (const impl of impls) {
        if (ONLY && impl.name !== ONLY) continue;
        process.stderr.write(`${impl.name}, ${n} vassals...\n`);
        results[`${impl.name} ${n}`] = await runOne(impl, n, vassal);
      }
    }
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
  console.log(`load average after: ${load()}`);
  const cols = Object.keys(results);
  const rows = Object.keys(Object.values(results)[0] ?? {});
  console.log(`| figure | ${cols.join(' | ')} |`);
  console.log(`|---|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r} | ${cols.map((c) => results[c][r]).join(' | ')} |`);
  if (floors.length)
    console.log(
      `kernel floor for Ragnarok (sleeping processes SIGKILLed by one cgroup.kill, until the cgroup is empty):\n${floors.join('\n')}`,
    );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
