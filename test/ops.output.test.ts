// A vassal's own output: both streams through pipes as log events (vassal, stream, pid), binary escaped, a long line
// cut with its count, `emperor logs` (the ring, then -f) through the control socket, size-capped files per vassal;
// and uWSGI's own logto still sends a uWSGI vassal's log where uWSGI sends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { LongCli, cli } from './helpers/cli';
import { until } from './helpers/wait';

const UWSGI_PORT = 20931;
const UWSGI_LOGTO_PORT = 20932;
const UWSGI_DAEMONIZE_PORT = 20933;

test('vassal output: both streams as log events, escaped and bounded; emperor logs -n and -f; rotated files', async (t) => {
  const dir = tmpdir('ops-output');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(vassals);
  fs.writeFileSync(
    path.join(dir, 'talk.sh'),
    [
      'echo hello-out',
      'echo hello-err >&2',
      "printf 'bin\\001\\377\\n'",
      "head -c 20000 /dev/zero | tr '\\0' a; echo",
      'i=0; while [ $i -lt 40 ]; do echo "filler $i 0123456789012345678901234567890123456789012345678901234567890123456789"; i=$((i+1)); done',
      // about 4 KiB a second: the log file rotates every second or so
      `PAD=${'p'.repeat(180)}`,
      'i=0; while :; do echo "$PAD tick $i"; i=$((i+1)); sleep 0.05; done',
    ].join('\n') + '\n',
  );
  fs.writeFileSync(path.join(vassals, 'talk.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec sh ${dir}/talk.sh\n`);
  const control = path.join(dir, 'control.sock');
  const emperor = new EmperorProcess([
    '--emperor',
    vassals,
    '--emperor-control',
    control,
    '--emperor-logs-dir',
    logs,
    '--emperor-logs-max-size',
    '4096',
    '--emperor-logs-keep',
    '2',
  ]);
  t.after(() => emperor.kill());
  await emperor.waitLog((l) => l.some((e) => e.event === 'output' && / tick \d+$/.test(e.msg)), 'the first tick');

  const init = emperor.events('spawned', 'talk.ini')[0].pid as number;
  const out = emperor.events('output', 'talk.ini');
  const byText = (m: string) => out.find((e) => e.msg === m);
  assert.deepEqual(
    { ...byText('hello-out'), time: 0 },
    { level: 30, time: 0, vassal: 'talk.ini', event: 'output', stream: 'stdout', pid: init, msg: 'hello-out' },
    'one event per line, with the writer pid',
  );
  assert.equal(byText('hello-err')?.stream, 'stderr');
  assert.ok(byText('bin\\x01\\xff'), `binary bytes escaped: ${JSON.stringify(out.slice(0, 4).map((e) => e.msg))}`);
  const long = out.find((e) => /^a+$/.test(e.msg));
  assert.equal(long?.msg.length, 16384, 'a long line is cut at 16 KiB');
  assert.equal(long?.truncated, 20000 - 16384, 'and says how much was cut');

  const recent = await cli(['logs', 'talk.ini', '-n', '500', '--control', control]);
  assert.equal(recent.code, 0, recent.stderr);
  assert.match(recent.stdout, /^talk\.ini stdout \| hello-out$/m);
  assert.match(recent.stdout, /^talk\.ini stderr \| hello-err$/m);
  assert.match(recent.stdout, /^talk\.ini stdout \| a{16384} \[3616 more bytes\]$/m);
  const last3 = await cli(['logs', 'talk.ini', '-n', '3', '--control', control]);
  assert.equal(last3.stdout.trim().split('\n').length, 3, last3.stdout);

  const follow = new LongCli(['logs', '-n', '0', '-f', '--control', control]);
  t.after(() => follow.stop());
  const seenTick = Number(/tick (\d+)\n$/.exec(recent.stdout)?.[1] ?? 0);
  await follow.waitFor(
    (s) => [...s.matchAll(/^talk\.ini stdout \| p+ tick (\d+)$/gm)].some((m) => Number(m[1]) > seenTick + 2),
    'newer ticks through -f',
  );
  assert.doesNotMatch(follow.stdout, /hello-out/, '-n 0: no old line');
  await follow.stop();

  const unknown = await cli(['logs', 'nope.ini', '--control', control]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no vassal named nope\.ini/);

  // past 4 KiB the file is rotated, two old ones kept
  const file = path.join(logs, 'talk.ini.log');
  await until(() => fs.existsSync(`${file}.2`), 'two rotations of talk.ini.log');
  assert.equal(fs.existsSync(`${file}.3`), false, 'no more than --emperor-logs-keep old files');
  const all = [`${file}.2`, `${file}.1`, file].map((f) => fs.readFileSync(f, 'utf8')).join('');
  assert.match(all, /Z stdout p+ tick \d+\n/);
  for (const f of [file, `${file}.1`]) assert.ok(fs.statSync(f).size < 4096 + 2048, `${f}: ${fs.statSync(f).size} bytes`);
});

test("uWSGI vassals: the banner is captured per vassal, and uWSGI's own logto and daemonize still write their files", async (t) => {
  const dir = tmpdir('ops-uwsgi');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'app.py'), "def application(env, start):\n    start('200 OK', [])\n    return [b'ok']\n");
  const logto = path.join(dir, 'own.log');
  const daemonize = path.join(dir, 'daemonize.log');
  for (const f of [logto, daemonize]) {
    fs.writeFileSync(f, '');
    fs.chownSync(f, 65534, 65534);
  }
  const base = ['plugins = python3', 'wsgi-file = %dapp.py', 'processes = 1', 'uid = nobody', 'gid = nogroup'];
  fs.writeFileSync(path.join(dir, 'plain.ini'), ['[uwsgi]', `http-socket = 127.0.0.1:${UWSGI_PORT}`, ...base].join('\n') + '\n');
  fs.writeFileSync(
    path.join(dir, 'logto.ini'),
    ['[uwsgi]', `http-socket = 127.0.0.1:${UWSGI_LOGTO_PORT}`, `logto = ${logto}`, ...base].join('\n') + '\n',
  );
  // under an emperor uWSGI does not fork away for daemonize: it logs to that file, as with logto
  fs.writeFileSync(
    path.join(dir, 'daemonize.ini'),
    ['[uwsgi]', `http-socket = 127.0.0.1:${UWSGI_DAEMONIZE_PORT}`, `daemonize = ${daemonize}`, ...base].join('\n') + '\n',
  );
  const emperor = new EmperorProcess(['--emperor', dir]);
  t.after(() => emperor.kill());
  assert.equal(await until(() => httpGet(UWSGI_PORT), 'the plain uWSGI vassal'), 'ok');
  assert.equal(await until(() => httpGet(UWSGI_LOGTO_PORT), 'the logto uWSGI vassal'), 'ok');
  assert.equal(await until(() => httpGet(UWSGI_DAEMONIZE_PORT), 'the daemonize uWSGI vassal'), 'ok');
  await until(() => /spawned uWSGI worker 1/.test(fs.readFileSync(logto, 'utf8')), "uWSGI's log in its logto file");
  await until(() => /spawned uWSGI worker 1/.test(fs.readFileSync(daemonize, 'utf8')), "uWSGI's log in its daemonize file");
  assert.equal(emperor.events('spawned', 'daemonize.ini').length, 1, 'the daemonize vassal did not fork away from the emperor');
  await emperor.waitLog(
    (l) => l.some((e) => e.event === 'output' && e.vassal === 'plain.ini' && /spawned uWSGI worker 1/.test(e.msg)),
    "the plain vassal's banner as output events",
  );
  const plain = emperor.events('output', 'plain.ini');
  assert.ok(
    plain.every((e) => e.pid === emperor.events('spawned', 'plain.ini')[0].pid),
    'tagged with the uWSGI pid',
  );
  for (const name of ['logto.ini', 'daemonize.ini']) {
    assert.equal(
      emperor.events('output', name).filter((e) => /spawned uWSGI worker/.test(e.msg)).length,
      0,
      `${name}: what uWSGI logs to its file is not captured`,
    );
  }
});

test("a native vassal's output is relayed by its init: no fd of the emperor's, and a hook's output flows while it runs", async (t) => {
  const dir = tmpdir('ops-relay');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  const emperor = new EmperorProcess(['--emperor', vassals]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('start');
  const fds = () => fs.readdirSync(`/proc/${emperor.pid}/fd`).length;
  // a hook that writes 300 KB, more than a pipe holds: the init relays it while it waits for the hook to end
  fs.writeFileSync(path.join(dir, 'hook.sh'), 'i=0; while [ $i -lt 300 ]; do printf "hook %0994d\\n" $i; i=$((i+1)); done\n');
  fs.writeFileSync(
    path.join(vassals, 'hooked.ini'),
    `[uwsgi]\nexec-as-root = sh ${dir}/hook.sh\nunprivileged-binary-patch-arg = exec sleep 600\n`,
  );
  await emperor.waitEvent('app-started', 'hooked.ini', 1, 30000);
  const hookLines = emperor.events('output', 'hooked.ini').filter((e) => e.msg.startsWith('hook '));
  assert.equal(hookLines.length, 300, 'every line of the hook');
  assert.equal(hookLines[299].msg, `hook ${'299'.padStart(994, '0')}`);

  const before = fds();
  for (let i = 0; i < 10; i++)
    fs.writeFileSync(path.join(vassals, `s${i}.ini`), '[uwsgi]\nunprivileged-binary-patch-arg = exec sh -c "echo up; exec sleep 600"\n');
  await until(
    () => Array.from({ length: 10 }, (_, i) => `s${i}.ini`).every((v) => emperor.events('output', v).some((e) => e.msg === 'up')),
    'each vassal to say up',
  );
  const grown = fds() - before;
  // a pidfd and a control socket each, plus at most two config readers (2 fds each) started meanwhile
  assert.ok(grown <= 10 * 2 + 4, `the emperor holds ${grown} more fds for 10 native vassals`);
});
