// Spawn-to-exit latency of /bin/true: the addon with and without a new pid+mount namespace, beside
// child_process.spawn and `unshare --fork --pid --mount /bin/true`. Prints medians (and p90) over RUNS runs.
// Then the cost of a spawn against the emperor's size: the same, with 0, 256 MB and 1 GB of touched memory in the
// process, and the time the main thread spends inside spawn() itself (the part that blocks the event loop).
// Usage: node dist/bench/spawn.js [runs]
import { spawn as cpSpawn } from 'node:child_process';
import { spawn, type SpawnOptions } from '../src/native';

const RUNS = Number(process.argv[2] ?? 500);

// spawn() returns before the exec: the time runs to the exit, and a failed setup (which settles `started` before
// the exit) fails the run.
function addonRun(opts: Omit<SpawnOptions, 'file' | 'argv' | 'env'>): () => Promise<void> {
  return () =>
    new Promise((resolve, reject) => {
      spawn({ file: '/bin/true', argv: ['true'], env: [], fds: [-1, -1, 2], ...opts }, () => resolve()).started.catch(reject);
    });
}

function cpRun(file: string, args: string[]): () => Promise<void> {
  return () =>
    new Promise((resolve, reject) => {
      const p = cpSpawn(file, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      p.once('error', reject);
      p.once('exit', () => resolve());
    });
}

async function measure(run: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 20; i++) await run(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

/** Milliseconds inside the spawn() call itself, each spawn run to its exit before the next. */
async function callTimes(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 20; i++) {
    await new Promise<void>((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      spawn({ file: '/bin/true', argv: ['true'], env: [], fds: [-1, -1, 2] }, () => resolve()).started.catch(reject);
      if (i >= 20) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  }
  return times.sort((a, b) => a - b);
}

async function bySize(): Promise<void> {
  const ballast: Buffer[] = [];
  console.log(`\nby emperor size: median ms over ${RUNS} runs (RSS as measured)`);
  console.log(`${'RSS'.padStart(8)} ${'spawn() call'.padStart(13)} ${'addon to exit'.padStart(14)} ${'child_process'.padStart(14)}`);
  for (const mb of [0, 256, 1024]) {
    while (ballast.length < mb / 64) ballast.push(Buffer.alloc(64 << 20, 1)); // touched: resident, not just mapped
    const call = await callTimes();
    const addon = await measure(addonRun({}));
    const cp = await measure(cpRun('/bin/true', []));
    const med = (t: number[]) => t[Math.floor(t.length / 2)].toFixed(3);
    const rss = `${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`;
    console.log(`${rss.padStart(8)} ${med(call).padStart(13)} ${med(addon).padStart(14)} ${med(cp).padStart(14)}`);
  }
}

async function main(): Promise<void> {
  const cases: Array<[string, () => Promise<void>]> = [
    ['addon spawn', addonRun({})],
    ['addon spawn, new pid+mount ns', addonRun({ namespaces: ['pid', 'mount'] })],
    ['child_process.spawn', cpRun('/bin/true', [])],
    ['unshare --fork --pid --mount (child_process)', cpRun('/usr/bin/unshare', ['--fork', '--pid', '--mount', '/bin/true'])],
  ];
  console.log(`spawn-to-exit of /bin/true, ${RUNS} runs each (ms)`);
  console.log(`${'case'.padEnd(46)} ${'median'.padStart(8)} ${'p90'.padStart(8)}`);
  for (const [name, run] of cases) {
    const t = await measure(run);
    const at = (q: number) => t[Math.min(t.length - 1, Math.floor(q * t.length))].toFixed(3);
    console.log(`${name.padEnd(46)} ${at(0.5).padStart(8)} ${at(0.9).padStart(8)}`);
  }
  await bySize();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
