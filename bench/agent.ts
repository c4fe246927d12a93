// What a config read and a monitor rescan cost through an agent: a small file read through AgentHost (the agent
// already running) beside readFileSync, starting an agent (spawn to first answer), and a stat of 1,000 vassal files
// through the emperor's AsyncAgent beside lstatSync of each in this process. Medians and p90 in ms.
// Usage: node dist/bench/agent.js [runs]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncAgent } from '../src/agent/async';
import { AgentPool } from '../src/agent/host';
import { AgentProcess } from '../src/agent/process';
import { encodeRequest, maxAnswer } from '../src/agent/agent-wire';
import { closeFd, exchange } from '../src/native';
import { detached } from '../src/detach';

const RUNS = Number(process.argv[2] ?? 1000);
const FILES = 1000;

async function measure(runs: number, run: () => unknown): Promise<string> {
  for (let i = 0; i < Math.min(50, runs); i++) await run(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(3);
  return `${at(0.5).padStart(8)} ${at(0.9).padStart(8)}`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-agent-bench-'));
  const pool = new AgentPool({ env: { PATH: '/usr/bin:/bin' } });
  const agent = new AsyncAgent({ budgetMs: 5000 });
  try {
    const small = path.join(dir, 'app.ini');
    fs.writeFileSync(small, '[uwsgi]\nsocket = /tmp/app.sock\nmodule = app:application\nprocesses = 4\n');
    const files = Array.from({ length: FILES }, (_, i) => path.join(dir, `app${i}.ini`));
    for (const f of files) fs.writeFileSync(f, 'x');
    const modes = { nofollow: false, tyrantNofollow: false };
    const readReq = encodeRequest({ op: 'read', path: small, limit: 1 << 20 });
    const readMax = maxAnswer({ op: 'read', path: small, limit: 1 << 20 });

    const rows: Array<[string, () => Promise<string>]> = [
      ['readFileSync of a small file', () => measure(RUNS, () => fs.readFileSync(small))],
      ['AgentHost.readFile of it (a host per call)', () => measure(RUNS, () => pool.host(null, 5000).readFile(small, 1 << 20))],
      [
        'agent start: spawn, READ, close',
        () =>
          measure(Math.min(RUNS, 300), () => {
            const a = AgentProcess.start(null, []);
            exchange(a.fd, readReq, 5000, readMax);
            closeFd(a.fd);
          }),
      ],
      [`lstatSync of ${FILES} files, in process`, () => measure(Math.min(RUNS, 200), () => files.forEach((f) => fs.lstatSync(f)))],
      [`AsyncAgent.statSources of ${FILES} files`, () => measure(Math.min(RUNS, 200), () => agent.statSources(files, modes))],
    ];
    console.log(`agent costs, ${RUNS} runs (fewer for the slow rows), ms`);
    console.log(`${'case'.padEnd(48)} ${'median'.padStart(8)} ${'p90'.padStart(8)}`);
    for (const [name, run] of rows) console.log(`${name.padEnd(48)} ${await run()}`);
  } finally {
    agent.close();
    detached(pool.close(), 'agent pool close');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
