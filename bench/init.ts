// Per-vassal cost of emperor-init and the FUSE recovery time.
//   node dist/bench/init.js [VASSALS=500]
// 1. RSS and PSS of N idle inits (each pid 1 of its own pid+mount namespace, running `sleep`), read from
//    /proc/PID/smaps_rollup while all N run (PSS shares the libc pages among them, as on a real host).
// 2. Start-to-app latency: spawn of the init until its app has started (an exec-only plan).
// 3. fuse-zip killed -> mountpoint-check fires -> a fresh init (what the emperor does) serves again.
// 4. The tutorial's fuse-zip vassal file dropped into a watched directory -> serving, through this project's emperor
//    (a Node app) and through the uWSGI Emperor (a python3 WSGI app), same mounts and checks.
import { execFileSync, spawn as spawnProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResolvedConfig } from '../src/config/types';
import { closeFd, socketpair, spawn, type Child } from '../src/native';
import { compilePlan, InitLink, initExecutable, type JailPlan } from '../src/jail';

interface Running {
  child: Child;
  link: InitLink;
  started: Promise<number>;
  exited: Promise<void>;
}

function cfg(file: string, lines: string[]): ResolvedConfig {
  const options = lines.map((l, i) => {
    const eq = l.indexOf('=');
    return { key: l.slice(0, eq).trim(), value: l.slice(eq + 1).trim(), file, line: i + 1 };
  });
  return { spec: file, file, options, warnings: [] };
}

function start(plan: JailPlan): Running {
  const [mine, theirs] = socketpair();
  const devnull = fs.openSync('/dev/null', 'r');
  let done!: () => void;
  const exited = new Promise<void>((r) => (done = r));
  const child = spawn(
    {
      file: initExecutable(),
      argv: ['emperor-init', plan.vassal],
      env: process.env,
      fds: [devnull, 1, 2, theirs],
      namespaces: ['pid', 'mount'],
    },
    () => done(),
  );
  closeFd(theirs);
  fs.closeSync(devnull);
  let appStarted!: (pid: number) => void;
  const started = new Promise<number>((r) => (appStarted = r));
  const link = InitLink.overSocket(new net.Socket({ fd: mine, readable: true, writable: true }), {
    onApp: (e) => 'pid' in e && appStarted(e.pid),
  });
  link.start(plan);
  return { child, link, started, exited };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function rollup(pid: number): { rss: number; pss: number } {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('Rss'), pss: kb('Pss') };
}

async function memory(n: number): Promise<void> {
  const plan = compilePlan(cfg('/bench/idle.ini', ['unprivileged-binary-patch-arg = exec sleep 3600']), {
    vassal: 'idle',
    firstRun: true,
    shell: '/bin/sh',
  });
  const all: Running[] = [];
  const latency: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const r = start(plan);
      all.push(r);
      await r.started;
      latency.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const m = all.map((r) => rollup(r.child.pid));
    const totalPss = m.reduce((a, x) => a + x.pss, 0);
    console.log(
      `${n} idle inits: RSS median ${median(m.map((x) => x.rss))} kB, PSS median ${median(m.map((x) => x.pss))} kB, PSS total ${(totalPss / 1024).toFixed(1)} MB (${(totalPss / n).toFixed(0)} kB per vassal)`,
    );
    console.log(`spawn -> app started (pid+mount ns, exec-only plan): median ${median(latency).toFixed(2)} ms over ${n}`);
  } finally {
    for (const r of all) r.child.kill('SIGKILL');
    await Promise.all(all.map((r) => r.exited));
  }
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** dir/app.zip holding index.html ("ok"), made by zip(1) (fuse-zip needs real file modes), and an empty dir/app. */
function zipApp(dir: string): void {
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src/index.html'), 'ok');
  execFileSync('zip', ['-q', '-r', path.join(dir, 'app.zip'), '.'], { cwd: path.join(dir, 'src') });
  fs.mkdirSync(path.join(dir, 'app'));
}

async function fuseRecovery(rounds: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-bench-init-'));
  const times: number[] = [];
  let current: Running | undefined;
  try {
    zipApp(dir);
    const app = path.resolve(__dirname, '../test/fixtures/vassal/http-app.js');
    const plan = compilePlan(
      cfg(path.join(dir, 'zip.ini'), [
        `exec-pre-jail = fuse-zip -r -o allow_other ${dir}/app.zip ${dir}/app`,
        `mountpoint-check = ${dir}/app`,
        'check-interval = 0.05',
        'http-socket = 127.0.0.1:20300',
        `unprivileged-binary-patch-arg = exec ${process.execPath} ${app} ${dir}/app`,
      ]),
      { vassal: 'zip', firstRun: true, shell: '/bin/sh' },
    );
    const serving = async (): Promise<void> => {
      for (;;) {
        try {
          if ((await get('http://127.0.0.1:20300/index.html')) === 'ok') return;
        } catch {
          /* not yet */
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    current = start(plan);
    await serving();
    for (let i = 0; i < rounds; i++) {
      const initPid = current.child.pid;
      const kids = fs.readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(' ').map(Number);
      const daemon = kids.find((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'fuse-zip');
      if (!daemon) throw new Error('no fuse-zip daemon under the init');
      const t0 = process.hrtime.bigint();
      process.kill(daemon, 'SIGKILL');
      await current.exited;
      current = start(plan);
      await serving();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(
      `fuse-zip killed -> serving again (check-interval 0.05 s, respawned at once): median ${median(times).toFixed(0)} ms over ${rounds}`,
    );
  } finally {
    if (current) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function serving(url: string, body: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if ((await get(url)) === body) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`${url} did not serve within ${timeoutMs} ms`);
}

/** Starts `cmd` watching dir/v, drops the vassal file in, and times until the page is served. */
async function fileToServing(label: string, cmd: string[], dir: string, vassal: string, port: number): Promise<number> {
  fs.mkdirSync(path.join(dir, 'v'));
  const emperor = spawnProcess(cmd[0], [...cmd.slice(1), path.join(dir, 'v')], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = process.hrtime.bigint();
    fs.writeFileSync(path.join(dir, 'v', 'zip.ini'), vassal);
    await serving(`http://127.0.0.1:${port}/index.html`, 'ok', 10000);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    const gone = new Promise((r) => emperor.on('exit', r));
    emperor.kill('SIGTERM');
    await gone;
    fs.rmSync(path.join(dir, 'v'), { recursive: true, force: true });
  }
}

async function creationToServing(rounds: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-bench-init-'));
  try {
    zipApp(dir);
    fs.writeFileSync(
      path.join(dir, 'app.py'),
      `def application(env, start):\n    start('200 OK', [])\n    return [open('${dir}/app' + env['PATH_INFO'], 'rb').read()]\n`,
    );
    const common = `exec-pre-jail = fuse-zip -r -o allow_other ${dir}/app.zip ${dir}/app\nmountpoint-check = ${dir}/app\nhttp-socket = 127.0.0.1:20301\nuid = nobody\ngid = nogroup\n`;
    const app = path.resolve(__dirname, '../test/fixtures/vassal/http-app.js');
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      ours.push(
        await fileToServing(
          'emperor',
          [process.execPath, path.resolve(__dirname, '../src/cli.js'), '--emperor-use-clone', 'fs,pid', '--emperor'],
          dir,
          `[uwsgi]\n${common}unprivileged-binary-patch-arg = exec ${process.execPath} ${app} ${dir}/app\n`,
          20301,
        ),
      );
      theirs.push(
        await fileToServing(
          'uwsgi',
          ['uwsgi', '--emperor-use-clone', 'fs,pid', '--emperor'],
          dir,
          `[uwsgi]\nplugin = python3\n${common}wsgi-file = ${dir}/app.py\n`,
          20301,
        ),
      );
    }
    console.log(
      `fuse-zip vassal file created -> serving: emperor (native vassal, Node app) median ${median(ours).toFixed(0)} ms, uWSGI Emperor (python3 app) median ${median(theirs).toFixed(0)} ms, over ${rounds}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 500);
  await memory(n);
  await fuseRecovery(10);
  await creationToServing(5);
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
