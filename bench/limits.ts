// Limits, designed in: our emperor meets a host limit and says it once; the vassals already running keep running,
// the emperor neither crashes nor spins, and once the limit is gone the waiting vassals start.
//   node dist/bench/limits.js [--vassals 300]
// Two scenarios, each on --vassals native vassals (bench/scale-vassal.c):
//   nofile  the emperor started with RLIMIT_NOFILE 400:400 and without CAP_SYS_RESOURCE (so it cannot raise it):
//           it runs out of fds (EMFILE) part way
//   pids    the emperor in a cgroup of its own with pids.max 300: clone fails with EAGAIN part way (the same error as
//           when pid_max is reached)
// Printed per scenario: vassals serving at the limit, 'limit-reached' lines (and the first), other error lines,
// whether the emperor still runs, its CPU over 10 s at the limit (a retry loop would show), and the vassals that
// start once half of the serving ones are removed (the limit lifted).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildVassal, cpuNs, leftovers, readyTimes, sleep, vassalFile } from './helpers/scale-kit';
import { option } from './helpers/args';

const N = Number(option('vassals', '300'));
const CLI = path.resolve(__dirname, '../src/cli.js');

interface Scenario {
  name: string;
  start(dir: string, log: number): ChildProcess;
  cleanup(): void;
}

function nofile(): Scenario {
  return {
    name: 'nofile 400 (EMFILE)',
    start: (dir, log) =>
      spawn('prlimit', ['--nofile=400:400', 'setpriv', '--bounding-set=-sys_resource', process.execPath, CLI, '--emperor', dir], {
        stdio: ['ignore', log, log],
        env: { ...process.env, EMPEROR_LOG_FORMAT: 'json' },
      }),
    cleanup: () => {},
  };
}

/** Where the pids controller is: cgroup v2 when it is enabled there, else its v1 hierarchy (hybrid hosts). */
function pidsRoot(): string {
  for (const v2 of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    try {
      if (fs.readFileSync(`${v2}/cgroup.subtree_control`, 'utf8').split(' ').includes('pids')) return v2;
    } catch {
      /* not a v2 root */
    }
  }
  return '/sys/fs/cgroup/pids';
}

function pidsMax(): Scenario {
  const cg = path.join(pidsRoot(), `emperor-limits.${process.pid}`);
  return {
    name: 'pids.max 300 (EAGAIN)',
    start: (dir, log) => {
      fs.mkdirSync(cg);
      fs.writeFileSync(path.join(cg, 'pids.max'), '300');
      // the emperor is moved in before it runs anything: a shell that moves itself, then execs it
      return spawn('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec "$0" "$@"`, process.execPath, CLI, '--emperor', dir], {
        stdio: ['ignore', log, log],
        env: { ...process.env, EMPEROR_LOG_FORMAT: 'json' },
      });
    },
    cleanup: () => {
      for (let i = 0; i < 100; i++) {
        try {
          for (const d of fs.readdirSync(cg, { withFileTypes: true }))
            if (d.isDirectory()) fs.rmSync(path.join(cg, d.name), { recursive: false, force: true });
          fs.rmdirSync(cg);
          return;
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
    },
  };
}

function lines(file: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function settled(ready: string): Promise<number> {
  let last = -1;
  for (let i = 0; i < 120; i++) {
    await sleep(1000);
    const n = readyTimes(ready).length;
    if (n === last) return n;
    last = n;
  }
  return last;
}

async function run(s: Scenario, vassal: string): Promise<Record<string, string>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-limits-'));
  const dir = path.join(root, 'vassals');
  const ready = path.join(root, 'ready');
  const logFile = path.join(root, 'emperor.log');
  fs.mkdirSync(dir);
  fs.writeFileSync(ready, '');
  const log = fs.openSync(logFile, 'w');
  const emperor = s.start(dir, log);
  const out: Record<string, string> = {};
  try {
    await sleep(2000);
    const names = Array.from({ length: N }, (_, i) => `v${i}`);
    for (const name of names) fs.writeFileSync(path.join(dir, `${name}.ini`), vassalFile(vassal, name, ready, `${path.basename(root)}/`));
    const serving = await settled(ready);
    out['vassals serving at the limit'] = `${serving}/${N}`;
    const c0 = cpuNs(emperor.pid!);
    await sleep(10_000);
    out['emperor CPU at the limit (%)'] = (((cpuNs(emperor.pid!) - c0) / 1e6 / 10_000) * 100).toFixed(2);
    const events = lines(logFile);
    out["'limit-reached' lines"] = String(events.filter((e) => e.event === 'limit-reached').length);
    out['first of them'] = String(events.find((e) => e.event === 'limit-reached')?.msg ?? '-');
    out['other error lines'] = String(events.filter((e) => Number(e.level) >= 50 && e.event !== 'limit-reached').length);
    out['emperor still running'] = emperor.exitCode === null ? 'yes' : `no (${emperor.exitCode})`;
    // lift the limit: half of those serving go away
    const up = new Set(
      fs
        .readFileSync(ready, 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[0]),
    );
    for (const name of [...up].filter(Boolean).slice(0, Math.floor(serving / 2))) fs.unlinkSync(path.join(dir, `${name}.ini`));
    fs.writeFileSync(ready, '');
    const before = serving - Math.floor(serving / 2);
    await sleep(45_000); // the shared backoff tops out at 30 s (plus jitter)
    out['vassals started once half are removed'] = String(await settled(ready));
    out['still serving from before'] = String(before);
    if (process.env.LIMITS_KEEP_LOG) fs.copyFileSync(logFile, `${process.env.LIMITS_KEEP_LOG}.${s.name.split(' ')[0]}`);
  } finally {
    if (emperor.exitCode === null) {
      emperor.kill('SIGINT');
      await Promise.race([new Promise((r) => emperor.once('exit', r)), sleep(30_000)]);
    }
    if (emperor.exitCode === null) emperor.kill('SIGKILL');
    for (const pid of leftovers(root)) process.kill(pid, 'SIGKILL');
    fs.closeSync(log);
    s.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const { vassal, build } = buildVassal();
  const results: Record<string, Record<string, string>> = {};
  try {
    for (const s of [nofile(), pidsMax()]) {
      process.stderr.write(`${s.name}...\n`);
      results[s.name] = await run(s, vassal);
    }
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
  const cols = Object.keys(results);
  console.log(`| ${N} vassals | ${cols.join(' | ')} |`);
  console.log(`|---|${cols.map(() => '---').join('|')}|`);
  for (const r of Object.keys(results[cols[0]])) console.log(`| ${r} | ${cols.map((c) => results[c][r]).join(' | ')} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
