// On-demand vassals: the time from the first connection to a dormant vassal until its response, for a native vassal
// (a Node app) and a uWSGI vassal (python3), under this project's emperor and under the uWSGI Emperor, on the very
// same files (--emperor-on-demand-extension .socket).
//   node dist/bench/ondemand.js [ROUNDS=5]
// Each round waits until the vassal is dormant again (its app or uWSGI's idle = 1 + die-on-idle sent 22), then
// times one GET. The first round of our emperor includes starting its config reader process.
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';

const HELPER = path.resolve(__dirname, '../src/sdk/vassal.js');
const CLI = path.resolve(__dirname, '../src/cli.js');
const STATS = '127.0.0.1:20589';
const VASSALS = [
  { file: 'native.ini', port: 20581 },
  { file: 'py.ini', port: 20582 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 20000 }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (body += d))
        .on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer on port ${port} within 20 s`)));
    req.on('error', reject);
  });
}

function writeVassals(dir: string): void {
  // LISTEN_FDS under this emperor; fd 0 under uWSGI's, whose vassal execs the patch with the socket there
  fs.writeFileSync(
    path.join(dir, 'app.cjs'),
    `'use strict';
const vassal = require(${JSON.stringify(HELPER)});
let timer;
const idle = () => { clearTimeout(timer); timer = setTimeout(() => vassal.shutdown(), 1000); };
const server = require('http').createServer((req, res) => { idle(); res.end('native ' + process.pid); });
vassal.on('stop', () => process.exit(0));
server.listen({ fd: process.env.LISTEN_FDS ? 3 : 0 }, () => { vassal.ready(); idle(); });
`,
  );
  fs.writeFileSync(
    path.join(dir, 'app.py'),
    "import os\ndef application(env, start):\n    start('200 OK', [])\n    return [b'py %d' % os.getpid()]\n",
  );
  const v = path.join(dir, 'v');
  fs.mkdirSync(v);
  fs.writeFileSync(path.join(v, 'native.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${dir}/app.cjs\n`);
  fs.writeFileSync(
    path.join(v, 'py.ini'),
    `[uwsgi]\nplugins = python3\nwsgi-file = ${dir}/app.py\nmaster = true\nprocesses = 1\nprotocol = http\nidle = 1\ndie-on-idle = true\n`,
  );
  for (const { file, port } of VASSALS) fs.writeFileSync(path.join(v, `${file}.socket`), `127.0.0.1:${port}\n`);
}

/** Until the stats show the vassal waiting on its socket (no pid). */
async function dormant(file: string): Promise<void> {
  const end = Date.now() + 20000;
  while (Date.now() < end) {
    try {
      const v = (await fetchStats(STATS)).vassals.find((x: { id: string }) => x.id === file);
      if (v && v.pid <= 0) return;
    } catch {
      /* not up yet */
    }
    await sleep(50);
  }
  throw new Error(`${file} never went back to dormant`);
}

async function measure(label: string, cmd: string[], rounds: number): Promise<Record<string, number[]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-bench-ondemand-'));
  writeVassals(dir);
  const emperor: ChildProcess = spawnProcess(
    cmd[0],
    [...cmd.slice(1), '--emperor', path.join(dir, 'v'), '--emperor-on-demand-extension', '.socket', '--emperor-stats', STATS],
    { stdio: 'ignore' },
  );
  const out: Record<string, number[]> = {};
  try {
    for (const { file, port } of VASSALS) {
      out[file] = [];
      for (let i = 0; i < rounds; i++) {
        await dormant(file);
        const t0 = process.hrtime.bigint();
        await get(port);
        out[file].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
  } finally {
    const gone = new Promise((r) => emperor.on('exit', r));
    emperor.kill('SIGINT');
    await gone;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `${label}: ${VASSALS.map(({ file }) => `${file} median ${median(out[file]).toFixed(0)} ms (first ${out[file][0].toFixed(0)} ms)`).join(', ')}, over ${rounds}`,
  );
  return out;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  console.log('first connection to a dormant vassal -> response');
  await measure('emperor', [process.execPath, CLI], rounds);
  await measure('uWSGI Emperor', ['uwsgi'], rounds);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
