// Spawn-to-exit latency of /bin/true: the addon with and without a new pid+mount namespace, beside
// child_process.spawn and `unshare --fork --pid --mount /bin/true`. Prints medians (and p90) over RUNS runs.
// Usage: node dist/bench/spawn.js [runs]
import { spawn as cpSpawn } from 'node:child_process';
import { spawn, type SpawnOptions } from '../src/native';

const RUNS = Number(process.argv[2] ?? 500);

// spawn() returns before the exec: the time runs to the exit, and a failed setup (which settles `started` before
// the exit) fails the run.
function addonRun(opts: Omit<SpawnOptions, 'file' | 'argv' | 'env'>): () => Promise<void> {
  return () => new Promise((resolve, reject) => {
    spawn({ file: '/bin/true', argv: ['true'], env: [], fds: [-1, -1, 2], ...opts }, () => resolve()).started.catch(reject);
  });
}

function cpRun(file: string, args: string[]): () => Promise<void> {
  return () => new Promise((resolve, reject) => {
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
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
