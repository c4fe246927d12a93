// spawn() basics: exec, exit reporting, kill through the pidfd, signal dispositions, fds/env/cwd, setup failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  capabilityNumber, parseMountFlags, resolveExecutable, signalNumber, spawn, type NativeError, type SpawnOptions,
} from '../src/native';
import { capture, helperScript, killIfAlive, procStatus, start, waitGone, zombieChildren } from './helpers/native-proc';
import { within } from './helpers/wait';

const SH = '/bin/sh';
const base = { env: { PATH: '/usr/bin:/bin' } };

function tmpdir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-spawn-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function spawnError(opts: SpawnOptions): NativeError {
  try {
    const child = spawn(opts, () => {});
    child.kill('SIGKILL');
  } catch (err) {
    return err as NativeError;
  }
  throw new Error('spawn did not throw');
}

test('runs the program with argv, env, cwd and the fd map, and reports its exit code', async (t) => {
  const dir = tmpdir(t);
  const { stdout, exit } = await capture({
    ...base, file: SH, argv: ['sh', '-c', 'echo "$0 $1 $FOO $(pwd)"; exit 3', 'a b', 'c'], env: ['FOO=bar'], cwd: dir,
  });
  assert.equal(stdout, `a b c bar ${fs.realpathSync(dir)}\n`);
  assert.deepEqual(exit, { code: 3, signal: null });
});

test('closes every fd outside the map, including fd 0 when the map says -1', async () => {
  const { stdout } = await capture({ ...base, file: SH, argv: ['sh', '-c', 'ls /proc/self/fd'] });
  // 0 (inherited stdin), 1 (the socket), 2, and 3 = the directory ls is reading: nothing leaked from Node.
  assert.deepEqual(stdout.trim().split('\n').map(Number).sort((a, b) => a - b), [0, 1, 2, 3]);
});

test('kill() goes through the pidfd; onExit reports the signal; kill after exit returns false', async () => {
  const run = start({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  assert.equal(run.child.alive, true);
  assert.equal(run.child.kill('SIGTERM'), true);
  assert.deepEqual(await run.waitExit(), { code: null, signal: 'SIGTERM' });
  assert.equal(run.child.alive, false);
  assert.equal(run.child.kill('SIGKILL'), false);
});

test('the child starts with default dispositions and an empty signal mask', async (t) => {
  // Node itself ignores SIGPIPE: the child must not inherit that.
  assert.notEqual(BigInt('0x' + procStatus(process.pid).SigIgn), 0n);
  const run = start({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  t.after(() => killIfAlive(run.child.pid));
  const st = procStatus(run.child.pid);
  assert.equal(st.SigIgn, '0000000000000000');
  assert.equal(st.SigBlk, '0000000000000000');
  run.child.kill('SIGKILL');
  await run.waitExit();
});

test('a new session by default, and none when setsid is false', async (t) => {
  const sid = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[3]);
  const a = start({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  const b = start({ ...base, file: '/bin/sleep', argv: ['sleep', '100'], setsid: false });
  t.after(() => { killIfAlive(a.child.pid); killIfAlive(b.child.pid); });
  assert.equal(sid(a.child.pid), a.child.pid);
  assert.equal(sid(b.child.pid), sid(process.pid));
  a.child.kill('SIGKILL');
  b.child.kill('SIGKILL');
  await Promise.all([a.waitExit(), b.waitExit()]);
});

test('setup failures come back as NativeErrors with code, errno, syscall, path and step', async (t) => {
  const dir = tmpdir(t);
  let e = spawnError({ ...base, file: path.join(dir, 'missing'), argv: ['x'] });
  assert.equal(e.code, 'ENOENT');
  assert.equal(e.errno, -os.constants.errno.ENOENT);
  assert.equal(e.syscall, 'execve');
  assert.equal(e.step, 'execve');
  assert.equal(e.path, path.join(dir, 'missing'));

  e = spawnError({ ...base, file: '/bin/true', argv: ['true'], cwd: path.join(dir, 'nowhere') });
  assert.deepEqual([e.code, e.syscall, e.step, e.path], ['ENOENT', 'chdir', 'chdir', path.join(dir, 'nowhere')]);

  const plain = path.join(dir, 'script');
  fs.writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  e = spawnError({ ...base, file: plain, argv: ['script'] });
  assert.deepEqual([e.code, e.step], ['EACCES', 'execve']);

  e = spawnError({ ...base, file: '/bin/true', argv: ['true'], fds: [0, 1, 2, 19999] });
  assert.deepEqual([e.code, e.syscall, e.step], ['EBADF', 'dup2', 'fd_map']);

  // In a user namespace only mapped ids exist: uid 1000 is not in "0 0 1".
  e = spawnError({ ...base, file: '/bin/true', argv: ['true'], namespaces: ['user'], uidMap: '0 0 1', gidMap: '0 0 1', uid: 1000 });
  assert.deepEqual([e.code, e.syscall, e.step], ['EINVAL', 'setresuid', 'setresuid']);
  e = spawnError({ ...base, file: '/bin/true', argv: ['true'], namespaces: ['user'], uidMap: '0 0 1', gidMap: '0 0 1', gid: 1000 });
  assert.deepEqual([e.code, e.step], ['EINVAL', 'setresgid']);

  // A bad map is refused by the kernel when the parent writes it.
  e = spawnError({ ...base, file: '/bin/true', argv: ['true'], namespaces: ['user'], uidMap: 'not a map' });
  assert.deepEqual([e.code, e.step, e.path?.endsWith('/uid_map')], ['EINVAL', 'uid_map', true]);
});

test('an unprivileged Node process gets EPERM from clone3 for a namespace, thrown with step clone3', () => {
  const r = spawnSync(process.execPath, [helperScript('native-spawner'), 'try',
    JSON.stringify({ file: '/bin/true', argv: ['true'], env: [], namespaces: ['net'] })], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.error ? String(r.error) : r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'EPERM', errno: -os.constants.errno.EPERM, syscall: 'clone3', step: 'clone3' } });
});

test('a failed spawn leaves no zombie behind', () => {
  for (let i = 0; i < 20; i++) spawnError({ ...base, file: '/nonexistent/x', argv: ['x'] });
  assert.deepEqual(zombieChildren(process.pid), []);
});

test('spawn refuses to run on a worker thread', async () => {
  const native = path.resolve(__dirname, '../src/native.js');
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     try { require(${JSON.stringify(native)}).spawn({ file: '/bin/true', argv: ['true'], env: [] }, () => {}); parentPort.postMessage('spawned'); }
     catch (e) { parentPort.postMessage(e.code); }`,
    { eval: true },
  );
  const msg = await within(new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); }), 10000, 'the worker\'s answer');
  await within(worker.terminate(), 10000, 'the worker to stop');
  assert.equal(msg, 'ERR_NOT_MAIN_THREAD');
});

test('a throwing onExit becomes an uncaughtException, and the loop goes on', () => {
  const native = path.resolve(__dirname, '../src/native.js');
  const script = `const n = require(${JSON.stringify(native)});
    process.on('uncaughtException', (e) => console.log('caught ' + e.message));
    n.spawn({ file: '/bin/true', argv: ['true'], env: [] }, () => {
      n.spawn({ file: '/bin/true', argv: ['true'], env: [] }, () => console.log('second exit'));
      throw new Error('from onExit');
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.stdout, 'caught from onExit\nsecond exit\n', r.stderr);
  assert.equal(r.status, 0);
});

test('option errors are TypeErrors naming the option', () => {
  assert.throws(() => spawn({ ...base, file: 'true', argv: ['true'] }, () => {}), /absolute path/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], hostname: 'x' }, () => {}), /needs the 'uts' namespace/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], namespaces: ['bogus' as 'pid'] }, () => {}), /'namespaces'/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], uid: -1 }, () => {}), /'uid'/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], capAmbient: [64] }, () => {}), /'capAmbient'/);
});

test('resolveExecutable searches PATH like execvp and throws ENOENT/execve', (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'noexec'), '', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'tool'), '', { mode: 0o755 });
  assert.equal(resolveExecutable('tool', `/nonexistent:${dir}`), path.join(dir, 'tool'));
  assert.equal(resolveExecutable('sh', '/bin'), '/bin/sh');
  const e = (() => { try { resolveExecutable('noexec', dir); } catch (err) { return err as NativeError; } return null; })();
  assert.deepEqual([e?.code, e?.errno, e?.syscall, e?.step, e?.path], ['ENOENT', -os.constants.errno.ENOENT, 'execve', 'execve', 'noexec']);
});

test('parseMountFlags knows uWSGI\'s words and names an unknown one', () => {
  assert.deepEqual(parseMountFlags('bind,rec,ro'), { mountFlags: 4096 | 16384 | 1, umountFlags: 0 });
  assert.deepEqual(parseMountFlags('recursive, private'), { mountFlags: 16384 | (1 << 18), umountFlags: 0 });
  assert.deepEqual(parseMountFlags('detach,force'), { mountFlags: 0, umountFlags: 3 });
  assert.deepEqual(parseMountFlags(''), { mountFlags: 0, umountFlags: 0 });
  assert.throws(() => parseMountFlags('bind,bogus'), /unknown mount flag 'bogus'/);
});

test('capabilityNumber and signalNumber', () => {
  assert.equal(capabilityNumber('net_bind_service'), 10);
  assert.equal(capabilityNumber('sys_admin'), 21);
  assert.equal(capabilityNumber('wake_alarm'), 35);
  assert.equal(capabilityNumber('7'), 7);
  assert.equal(capabilityNumber(12), 12);
  assert.throws(() => capabilityNumber('fly'), /unknown capability 'fly'/);
  assert.throws(() => capabilityNumber(99), /out of range/);
  assert.equal(signalNumber('SIGTERM'), 15);
  assert.throws(() => signalNumber('SIGNOPE' as NodeJS.Signals), /unknown signal/);
});

test('waitGone sees a killed child disappear', async () => {
  const run = start({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  assert.equal(await waitGone(run.child.pid, 50), false);
  run.child.kill('SIGKILL');
  await run.waitExit();
  assert.equal(await waitGone(run.child.pid, 1000), true);
});

test('unref() lets Node exit while the child runs (and the death signal then ends the child)', async () => {
  const native = path.resolve(__dirname, '../src/native.js');
  const script = `const c = require(${JSON.stringify(native)}).spawn({ file: '/bin/sleep', argv: ['sleep', '100'], env: [] }, () => {});
    c.unref(); console.log(c.pid);`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(r.stdout.trim());
  assert.ok(pid > 0);
  assert.equal(await waitGone(pid), true);
});
