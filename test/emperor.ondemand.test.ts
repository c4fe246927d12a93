// End to end: on-demand vassals (--emperor-on-demand-extension/-directory/-exec). The emperor binds the socket and
// never accepts; the first connection waits in the backlog and wakes the vassal, which serves it on the inherited
// socket (a real uWSGI on fd 0, a native Node app on LISTEN_FDS); an idle vassal sends 22 and goes back to dormant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import type { VassalStats } from '../src/ops/stats-document';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { createUser } from './helpers/users';
import { get, idleApp } from './helpers/ondemand';
import { until } from './helpers/wait';

async function vassal(stats: string, id: string): Promise<VassalStats | undefined> {
  return (await fetchStats(stats)).vassals.find((v) => v.id === id);
}

async function dormant(emperor: EmperorProcess, stats: string, id: string, times: number): Promise<void> {
  await emperor.waitEvent('dormant', id, times);
  const v = (await vassal(stats, id))!;
  assert.equal(v.state, 'dormant');
  assert.equal(v.pid, -1);
  await until(() => emperor.vassalPids().length === 0, 'no process of the dormant vassal');
}

test('a real uWSGI vassal on demand (TCP, extension): dormant, woken by a connection it serves on fd 0, idle (22, byte 0), dormant, woken again', async (t) => {
  const dir = tmpdir('ondemand-uwsgi');
  const stats = '127.0.0.1:20561';
  fs.writeFileSync(
    path.join(dir, 'app.py'),
    "import os\ndef application(env, start):\n    start('200 OK', [])\n    return [b'uwsgi pid %d' % os.getpid()]\n",
  );
  fs.writeFileSync(
    path.join(dir, 'py.ini'),
    '[uwsgi]\nplugins = python3\nwsgi-file = %dapp.py\nmaster = true\nprocesses = 1\nprotocol = http\nidle = 2\ndie-on-idle = true\n',
  );
  fs.writeFileSync(path.join(dir, 'py.ini.socket'), '127.0.0.1:20560\nwhat follows the first control character is ignored\n');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-on-demand-extension', '.socket', '--emperor-stats', stats]);
  t.after(() => emperor.kill());

  await dormant(emperor, stats, 'py.ini', 1);
  assert.equal((await vassal(stats, 'py.ini'))!.on_demand, '127.0.0.1:20560');
  assert.equal(emperor.events('spawned', 'py.ini').length, 0, 'nothing runs before a connection');

  const first = await get({ port: 20560 });
  assert.match(first, /^uwsgi pid \d+$/);
  assert.match(emperor.output('py.ini'), /uwsgi socket 0 inherited INET address 127\.0\.0\.1:20560 fd 0/);
  await emperor.waitEvent('voluntary-shutdown', 'py.ini');
  await until(() => emperor.output('py.ini').includes('received message 0 from emperor'), 'uWSGI to get the stop byte after its 22');
  await dormant(emperor, stats, 'py.ini', 2);

  const second = await get({ port: 20560 });
  assert.match(second, /^uwsgi pid \d+$/);
  assert.notEqual(second, first, 'a new instance served');
  assert.equal(emperor.events('on-demand-wake', 'py.ini').length, 2);
  assert.equal((await vassal(stats, 'py.ini'))!.deaths, 0, 'going back to sleep is no death');
});

test('a native app on demand (unix socket, directory): LISTEN_FDS from fd 3, dormant again when idle, an edit while dormant only updates it, removal unlinks the socket', async (t) => {
  const dir = tmpdir('ondemand-native');
  const sockets = tmpdir('ondemand-sockets');
  const stats = '127.0.0.1:20562';
  const file = path.join(dir, 'node.ini');
  fs.writeFileSync(file, `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${idleApp(dir)}\n`);
  const socketPath = path.join(sockets, 'node.socket');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-on-demand-directory', sockets, '--emperor-stats', stats]);
  t.after(() => emperor.kill());

  await dormant(emperor, stats, 'node.ini', 1);
  assert.equal((await vassal(stats, 'node.ini'))!.on_demand, socketPath);
  const st = fs.statSync(socketPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o666, "uWSGI's mode outside tyrant mode");

  const first = await get({ socketPath });
  assert.match(first, /^pid \d+ uid 0 fds 1 on-demand$/);
  await emperor.waitEvent('voluntary-shutdown', 'node.ini');
  await dormant(emperor, stats, 'node.ini', 2);
  assert.equal(emperor.events('protocol-fallback', 'node.ini').length, 0, 'the app exited on the stop byte');

  const before = (await vassal(stats, 'node.ini'))!.last_mod;
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(file, later, later);
  await until(async () => (await vassal(stats, 'node.ini'))!.last_mod > before, 'the edit to be seen');
  assert.equal((await vassal(stats, 'node.ini'))!.state, 'dormant', 'an edit does not wake it');
  assert.equal(emperor.events('spawned', 'node.ini').length, 1);

  assert.match(await get({ socketPath }), /^pid \d+ uid 0 fds 1 on-demand$/);
  assert.equal(emperor.events('spawned', 'node.ini').length, 2);
  await dormant(emperor, stats, 'node.ini', 3);

  fs.unlinkSync(file);
  await until(async () => (await vassal(stats, 'node.ini')) === undefined, 'the vassal to be gone');
  assert.equal(fs.existsSync(socketPath), false, 'the socket file is removed with the vassal');
});

test('tyrant mode: the on-demand command runs as the owner, the socket is made by the owner (0660, its own); where the owner cannot bind, the vassal is broken', async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const dir = tmpdir('ondemand-tyrant');
  const sockets = tmpdir('ondemand-alice');
  fs.chownSync(sockets, alice.uid, alice.gid);
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(sockets, { recursive: true, force: true });
  });
  const stats = '127.0.0.1:20563';
  const app = idleApp(dir);
  for (const [name, owner] of [
    ['alice.ini', alice],
    ['bob.ini', bob],
  ] as const) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${app}\n`);
    fs.chownSync(file, owner.uid, owner.gid);
  }
  // the name says who ran the command; the vassal name comes last, quoted
  const exec = `sh -c 'echo ${sockets}/$(id -u)-$1.sock' on-demand`;
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant', '--emperor-on-demand-exec', exec, '--emperor-stats', stats]);
  t.after(() => emperor.kill());

  await emperor.waitEvent('dormant', 'alice.ini');
  const socketPath = path.join(sockets, `${alice.uid}-alice.ini.sock`);
  assert.equal((await vassal(stats, 'alice.ini'))!.on_demand, socketPath);
  const st = fs.statSync(socketPath);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [alice.uid, alice.gid, 0o660], "the owner's socket");

  assert.match(await get({ socketPath }), new RegExp(`^pid \\d+ uid ${alice.uid} fds 1 on-demand$`));
  await emperor.waitEvent('voluntary-shutdown', 'alice.ini');
  await emperor.waitEvent('dormant', 'alice.ini', 2);

  const bobs = await until(async () => {
    const v = await vassal(stats, 'bob.ini');
    return v?.state === 'broken' ? v : undefined;
  }, "bob's vassal to be broken: his socket would be in alice's directory");
  assert.match(bobs.setup_error ?? '', new RegExp(`binding ${sockets}/${bob.uid}-bob.ini.sock: EACCES`));
  assert.equal(fs.existsSync(path.join(sockets, `${bob.uid}-bob.ini.sock`)), false);
});

test('a socket name that is not an address breaks the vassal with a clear error, and an empty one leaves it an ordinary vassal', async (t) => {
  const dir = tmpdir('ondemand-bad');
  const stats = '127.0.0.1:20564';
  const sleeper = '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 600\n';
  fs.writeFileSync(path.join(dir, 'bad.ini'), sleeper);
  fs.writeFileSync(path.join(dir, 'bad.ini.sock'), 'example.com:80');
  fs.writeFileSync(path.join(dir, 'plain.ini'), sleeper);
  fs.writeFileSync(path.join(dir, 'plain.ini.sock'), '\n');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-on-demand-ext', '.sock', '--emperor-stats', stats]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'plain.ini');
  assert.equal((await vassal(stats, 'plain.ini'))!.on_demand, '');
  const bad = await until(async () => {
    const v = await vassal(stats, 'bad.ini');
    return v?.state === 'broken' ? v : undefined;
  }, 'bad.ini to be broken');
  assert.match(bad.setup_error ?? '', /socket name 'example.com:80': 'example.com' is not a numeric IPv4 address/);
});
