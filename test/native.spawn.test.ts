// spawn() basics: exec, exit reporting, kill through the pidfd, signal dispositions, fds/env/cwd, setup failures
// (reported through `started`, before the exit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { resolveExecutable } from '../src/executable';
import { capabilityNumber } from '../src/tables/capabilities';
import { parseMountFlags } from '../src/tables/mount-flags';
import { signalNumber } from '../src/tables/signals-errnos';
import { NativeError, spawn, type SpawnOptions } from '../src/native';
import {
  capture,
  helperScript,
  killIfAlive,
  procStat,
  procStatus,
  setupFailure,
  start,
  started,
  waitGone,
  zombieChildren,
} from './helpers/native-proc';
import { within } from './helpers/wait';

const SH = '/bin/sh';
const base = { env: { PATH: '/usr/bin:/bin' } };

function tmpdir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-spawn-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('runs the program with argv, env, cwd and the fd map, and reports its exit code', async (t) => {
  const dir = tmpdir(t);
  const { stdout, exit } = await capture({
    ...base,
    file: SH,
    argv: ['sh', '-c', 'echo "$0 $1 $FOO $(pwd)"; exit 3', 'a b', 'c'],
    env: ['FOO=bar'],
    cwd: dir,
  });
  assert.equal(stdout, `a b c bar ${fs.realpathSync(dir)}\n`);
  assert.deepEqual(exit, { code: 3, signal: null });
});

test('closes every fd outside the map, including fd 0 when the map says -1', async () => {
  const { stdout } = await capture({ ...base, file: SH, argv: ['sh', '-c', 'ls /proc/self/fd'] });
  // 0 (inherited stdin), 1 (the socket), 2, and 3 = the directory ls is reading: nothing leaked from Node.
  assert.deepEqual(
    stdout
      .trim()
      .split('\n')
      .map(Number)
      .sort((a, b) => a - b),
    [0, 1, 2, 3],
  );
});

test('kill() goes through the pidfd; onExit reports the signal; kill after exit returns false', async () => {
  const run = await started({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  assert.equal(run.child.alive, true);
  assert.equal(run.child.kill('SIGTERM'), true);
  assert.deepEqual(await run.waitExit(), { code: null, signal: 'SIGTERM' });
  assert.equal(run.child.alive, false);
  assert.equal(run.child.kill('SIGKILL'), false);
});

test('the child starts with default dispositions and an empty signal mask', async (t) => {
  // Node itself ignores SIGPIPE: the child must not inherit that.
  assert.notEqual(BigInt('0x' + procStatus(process.pid).SigIgn), 0n);
  const run = await started({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  t.after(() => killIfAlive(run.child.pid));
  const st = procStatus(run.child.pid);
  assert.equal(st.SigIgn, '0000000000000000');
  assert.equal(st.SigBlk, '0000000000000000');
  run.child.kill('SIGKILL');
  await run.waitExit();
});

test('a new session by default, and none when setsid is false', async (t) => {
  const sid = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[3]);
  const a = await started({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
  t.after(() => killIfAlive(a.child.pid));
  const b = await started({ ...base, file: '/bin/sleep', argv: ['sleep', '100'], setsid: false });
  t.after(() => killIfAlive(b.child.pid));
  assert.equal(sid(a.child.pid), a.child.pid);
  assert.equal(sid(b.child.pid), sid(process.pid));
  a.child.kill('SIGKILL');
  b.child.kill('SIGKILL');
  await Promise.all([a.waitExit(), b.waitExit()]);
});

test('setup failures arrive through started as NativeErrors with code, errno, syscall, path and step', async (t) => {
  const dir = tmpdir(t);
  let { error: e, exit } = await setupFailure({ ...base, file: path.join(dir, 'missing'), argv: ['x'] });
  assert.ok(e instanceof NativeError);
  assert.equal(e.code, 'ENOENT');
  assert.equal(e.errno, -os.constants.errno.ENOENT);
  assert.equal(e.syscall, 'execve');
  assert.equal(e.step, 'execve');
  assert.equal(e.path, path.join(dir, 'missing'));
  assert.deepEqual(exit, { code: 127, signal: null }, 'the child gave up with 127 after its report');

  ({ error: e, exit } = await setupFailure({ ...base, file: '/bin/true', argv: ['true'], cwd: path.join(dir, 'nowhere') }));
  assert.ok(e instanceof NativeError);
  assert.deepEqual(
    [e.code, e.errno, e.syscall, e.step, e.path],
    ['ENOENT', -os.constants.errno.ENOENT, 'chdir', 'chdir', path.join(dir, 'nowhere')],
  );
  assert.deepEqual(exit, { code: 127, signal: null });

  const plain = path.join(dir, 'script');
  fs.writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  ({ error: e } = await setupFailure({ ...base, file: plain, argv: ['script'] }));
  assert.deepEqual([e.code, e.step], ['EACCES', 'execve']);

  ({ error: e } = await setupFailure({ ...base, file: '/bin/true', argv: ['true'], fds: [0, 1, 2, 19999] }));
  assert.deepEqual([e.code, e.syscall, e.step], ['EBADF', 'dup2', 'fd_map']);

  // In a user namespace only mapped ids exist: uid 1000 is not in "0 0 1".
  ({ error: e } = await setupFailure({
    ...base,
    file: '/bin/true',
    argv: ['true'],
    namespaces: ['user'],
    uidMap: '0 0 1',
    gidMap: '0 0 1',
    uid: 1000,
  }));
  assert.deepEqual([e.code, e.syscall, e.step], ['EINVAL', 'setresuid', 'setresuid']);
  ({ error: e } = await setupFailure({
    ...base,
    file: '/bin/true',
    argv: ['true'],
    namespaces: ['user'],
    uidMap: '0 0 1',
    gidMap: '0 0 1',
    gid: 1000,
  }));
  assert.deepEqual([e.code, e.step], ['EINVAL', 'setresgid']);
});

test('a uid_map the kernel refuses (a step of the parent) rejects started, then the killed child exits', async () => {
  const { error: e, exit } = await setupFailure({ ...base, file: '/bin/true', argv: ['true'], namespaces: ['user'], uidMap: 'not a map' });
  assert.ok(e instanceof NativeError);
  assert.deepEqual(
    [e.code, e.errno, e.syscall, e.step, e.path?.endsWith('/uid_map')],
    ['EINVAL', -os.constants.errno.EINVAL, 'write', 'uid_map', true],
  );
  assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
});

test('a program that exits 127 on its own has started: its exit is not a setup failure', async () => {
  const run = start({ ...base, file: SH, argv: ['sh', '-c', 'exit 127'] });
  await within(run.child.started, 5000, 'sh to exec');
  assert.deepEqual(await run.waitExit(5000), { code: 127, signal: null });
});

test('started settles, and its reactions have run, before onExit', async () => {
  const cases: Array<[string, SpawnOptions, string]> = [
    ['exec', { ...base, file: '/bin/true', argv: ['true'] }, 'started'],
    ['a failed chdir', { ...base, file: '/bin/true', argv: ['true'], cwd: '/nonexistent/dir' }, 'failed'],
    ['a failed uid_map write', { ...base, file: '/bin/true', argv: ['true'], namespaces: ['user'], uidMap: 'bad' }, 'failed'],
  ];
  for (const blockLoop of [false, true]) {
    for (const [what, opts, outcome] of cases) {
      const events: string[] = [];
      let exited!: () => void;
      const exit = new Promise<void>((r) => (exited = r));
      const child = spawn(opts, () => {
        events.push('exit');
        exited();
      });
      const watched = (async () => {
        try {
          await child.started;
          events.push('started');
        } catch {
          events.push('failed');
        }
        await Promise.resolve();
        events.push('reaction after another await');
      })();
      watched.catch(assert.fail);
      if (blockLoop) {
        // the loop sees the report pipe and the pidfd ready at once: the outcome must still come first
        const deadline = Date.now() + 5000;
        while (procStat(child.pid)?.state !== 'Z') assert.ok(Date.now() < deadline, `pid ${child.pid} did not exit`);
      }
      await within(exit, 5000, `the exit after ${what}`);
      assert.deepEqual(events, [outcome, 'reaction after another await', 'exit'], `${what}${blockLoop ? ', loop blocked' : ''}`);
    }
  }
});

test('an unprivileged Node process gets EPERM from clone3 for a namespace, thrown at once with step clone3', () => {
  const r = spawnSync(
    process.execPath,
    [helperScript('native-spawner'), 'try', JSON.stringify({ file: '/bin/true', argv: ['true'], env: [], namespaces: ['net'] })],
    { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10000 },
  );
  assert.equal(r.status, 0, r.error ? String(r.error) : r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'EPERM', errno: -os.constants.errno.EPERM, syscall: 'clone3', step: 'clone3' } });
});

test('a failed spawn leaves no zombie behind', async () => {
  for (let i = 0; i < 20; i++) await setupFailure({ ...base, file: '/nonexistent/x', argv: ['x'] });
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
  const msg = await within(
    new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }),
    10000,
    "the worker's answer",
  );
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

test('a setup failure nobody awaits is no unhandled rejection', () => {
  const native = path.resolve(__dirname, '../src/native.js');
  const script = `require(${JSON.stringify(native)}).spawn({ file: '/bin/true', argv: ['true'], env: [], cwd: '/nonexistent/dir' },
    (e) => console.log('exit ' + e.code));`;
  const r = spawnSync(process.execPath, ['--unhandled-rejections=strict', '-e', script], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.stdout, 'exit 127\n', r.stderr);
  assert.equal(r.status, 0);
});

test('option errors are TypeErrors naming the option', () => {
  assert.throws(() => spawn({ ...base, file: 'true', argv: ['true'] }, () => {}), /absolute path/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], hostname: 'x' }, () => {}), /needs the 'uts' namespace/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], namespaces: ['bogus' as 'pid'] }, () => {}), /'namespaces'/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], uid: -1 }, () => {}), /'uid'/);
  assert.throws(() => spawn({ ...base, file: '/bin/true', argv: ['true'], capAmbient: [64] }, () => {}), /'capAmbient'/);
  assert.throws(
    () => spawn({ ...base, file: '/bin/true', argv: ['true'], mountPropagation: 'rshared' as 'shared' }, () => {}),
    /'mountPropagation'/,
  );
});

test('an unknown option key is a TypeError naming it, and no child is made: a renamed key never falls back to a default', () => {
  const children = () => fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
  const before = children();
  for (const key of ['setupTimeOut', 'death_signal', 'gids']) {
    const opts = { ...base, file: '/bin/true', argv: ['true'], [key]: 1 } as SpawnOptions;
    assert.throws(
      () => spawn(opts, () => assert.fail('no child')),
      (e: unknown) => e instanceof TypeError && e.message === `spawn: unknown option '${key}'`,
    );
  }
  assert.equal(children(), before);
});

test('resolveExecutable searches PATH like execvp and throws ENOENT/execve', (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'noexec'), '', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'tool'), '', { mode: 0o755 });
  assert.equal(resolveExecutable('tool', `/nonexistent:${dir}`), path.join(dir, 'tool'));
  assert.equal(resolveExecutable('sh', '/bin'), '/bin/sh');
  const e = (() => {
    try {
      resolveExecutable('noexec', dir);
    } catch (err) {
      return err as NativeError;
    }
    return null;
  })();
  assert.ok(e instanceof NativeError);
  assert.deepEqual([e?.code, e?.errno, e?.syscall, e?.step, e?.path], ['ENOENT', -os.constants.errno.ENOENT, 'execve', 'execve', 'noexec']);
});

test("parseMountFlags knows uWSGI's words and names an unknown one", () => {
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
  const run = await started({ ...base, file: '/bin/sleep', argv: ['sleep', '100'] });
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
