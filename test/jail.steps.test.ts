// Jail steps: mounts, credentials, capabilities, sockets handed over as LISTEN_FDS, pivot_root, and each failure
// mode reported with its step, syscall and errno.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../src/config/errors';
import { INIT_EXIT_STEP_FAILED } from '../src/jail';
import { planOf, startInit, tmpdir, get } from './fixtures/vassal/harness';
import { until } from './helpers/wait';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const ROOT_DIR = path.resolve(__dirname, '../..');

test('a vassal mounts inside its own namespace, drops to nobody with a capability, and serves on an inherited socket', async (t) => {
  const dir = tmpdir(t, 'creds');
  fs.chmodSync(dir, 0o755);
  const mnt = path.join(dir, 'm');
  fs.mkdirSync(mnt);
  const file = path.join(dir, 'app.ini');
  const init = startInit(
    t,
    planOf(file, [
      `mount-as-root = tmpfs none ${mnt} nosuid,nodev size=1m`,
      `exec-as-root = printf mounted > ${mnt}/hello`, // exec- runs after mount- within a phase, as in uWSGI
      'http-socket = 127.0.0.1:20201',
      'uid = nobody',
      'gid = nogroup',
      'cap = net_bind_service',
      `unprivileged-binary-patch-arg = exec ${process.execPath} ${APP} ${mnt}`,
    ]),
  );
  await init.waitApp();
  await until(() => init.protocol.includes(5), 'ready');
  const who = JSON.parse((await get('http://127.0.0.1:20201/whoami')).body);
  assert.equal(who.uid, 65534);
  assert.equal(who.gid, 65534);
  assert.deepEqual(who.groups, [65534]);
  assert.equal(BigInt(`0x${who.capAmb}`), 1n << 10n); // net_bind_service, raised as ambient for the new uid
  assert.deepEqual(who.listen, { fds: '1', pid: String(who.pid), names: 'http-socket' });
  assert.equal((await get('http://127.0.0.1:20201/hello')).body, 'mounted');
  // The tmpfs exists only in the vassal's mount namespace.
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), false);
  await until(() => init.protocol.includes(17), 'loyal');
  init.link.stop(2000);
  assert.deepEqual(await init.waitExit(), { code: 0, signal: null });
});

test("as-user hooks run with the vassal user's identity", async (t) => {
  const dir = tmpdir(t, 'asuser');
  fs.chmodSync(dir, 0o755);
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      'uid = 65534',
      'gid = 65534',
      `hook-as-user = mkdir:${dir}/denied`,
      'unprivileged-binary-patch-arg = exec sleep 30',
    ]),
  );
  assert.deepEqual(await init.waitExit(), { code: INIT_EXIT_STEP_FAILED, signal: null });
  assert.deepEqual(
    [init.failed[0].step, init.failed[0].code, init.failed[0].syscall, init.failed[0].path],
    ['mkdir', 'EACCES', 'mkdir', `${dir}/denied`],
  );
});

test('http-socket on port 80 in a net namespace serves from an unprivileged uid', async (t) => {
  const dir = tmpdir(t, 'port80');
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      'exec-as-root = busybox ip link set lo up',
      'http-socket = 127.0.0.1:80',
      'uid = nobody',
      'gid = nogroup',
      `unprivileged-binary-patch-arg = exec ${process.execPath} ${APP} /`,
    ]),
    ['pid', 'mount', 'net'],
  );
  await init.waitApp();
  await until(() => init.protocol.includes(5), 'ready');
  const out = execFileSync('nsenter', ['-t', String(init.child.pid), '-n', 'busybox', 'wget', '-qO-', 'http://127.0.0.1:80/whoami'], {
    encoding: 'utf8',
    timeout: 30000,
  });
  const who = JSON.parse(out);
  assert.equal(who.uid, 65534);
  assert.equal(who.capEff, '0000000000000000');
  assert.equal(who.listen.fds, '1');
});

test('pivot_root into a busybox rootfs with /proc remounted, /dev bound and the old root detached', async (t) => {
  const dir = tmpdir(t, 'pivot');
  const root = path.join(dir, 'root');
  execFileSync(path.join(ROOT_DIR, 'scripts/make-rootfs.sh'), [root], { timeout: 30000 });
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      `hook-pre-jail = mount:none ${root} ${root} bind`,
      `pivot_root = ${root} ${root}/.old_root`,
      'hook-as-root = mount:proc none /proc nosuid,nodev,noexec',
      'hook-as-root = mount:none /.old_root/dev /dev bind,rec',
      'hook-as-root = umount:/.old_root rec,detach',
      'uid = nobody',
      'gid = nogroup',
      'unprivileged-binary-patch-arg = { id -u; ls /; cat /proc/1/comm; ls /.old_root | wc -l; test -c /dev/null && echo dev; } > /tmp/out',
    ]),
  );
  assert.deepEqual(await init.waitExit(), { code: 0, signal: null });
  const out = fs.readFileSync(path.join(root, 'tmp/out'), 'utf8').split('\n');
  assert.equal(out[0], '65534'); // 'nobody' resolved from the jail's own /etc/passwd
  assert.ok(out.includes('bin') && out.includes('etc') && !out.includes('usr'), out.join(' '));
  assert.ok(out.includes('emperor-init'), "the new /proc shows the vassal's pid namespace");
  assert.ok(out.includes('0'), 'the old root is detached');
  assert.ok(out.includes('dev'));
});

test('each failure mode names its step, syscall and errno', async (t) => {
  const dir = tmpdir(t, 'failures');
  const file = path.join(dir, 'a.ini');
  const cases: Array<[string, string[], string[]]> = [
    ['mount of a missing source', [`mount-as-root = none ${dir}/missing ${dir} bind`], ['mount', 'ENOENT', 'mount', dir]],
    // Inside a fresh tmpfs, so the kernel's answer is "not a mount point" (EINVAL) rather than "on the root mount".
    [
      'pivot_root onto a non-mountpoint',
      [`mount-pre-jail = tmpfs none ${dir}`, `exec-pre-jail = mkdir -p ${dir}/sub/old`, `pivot_root = ${dir}/sub ${dir}/sub/old`],
      ['pivot_root', 'EINVAL', 'pivot_root', `${dir}/sub`],
    ],
    ['an unknown user', ['uid = no-such-user-h3'], ['creds', 'ENOENT', 'getpwnam', 'no-such-user-h3']],
    ['a socket on an address of no interface here', ['socket = 192.0.2.1:8080'], ['listen', 'EADDRNOTAVAIL', 'bind', '192.0.2.1:8080']],
    ['a hook command that fails', ['exec-pre-jail = false'], ['exec', undefined as never, 'exec', 'false']],
    [
      'a callret: call that returns non-zero',
      ['hook-pre-jail = callret:chdir /no-such-dir-c5'],
      ['call', 'ENOENT', 'chdir', '/no-such-dir-c5'],
    ],
  ];
  for (const [what, lines, expected] of cases) {
    const init = startInit(t, planOf(file, [...lines, 'unprivileged-binary-patch-arg = exec sleep 30']));
    assert.deepEqual(await init.waitExit(), { code: INIT_EXIT_STEP_FAILED, signal: null }, what);
    assert.equal(init.failed.length, 1, what);
    const f = init.failed[0];
    assert.deepEqual([f.step, f.code, f.syscall, f.path], expected, what);
    assert.deepEqual([f.origin.file, f.origin.line], [file, lines.length], what);
    assert.deepEqual(init.apps, [], what);
  }
});

test('call: and callret: run their libc call in the init, in phase order; only callret: fails on non-zero', async (t) => {
  const dir = tmpdir(t, 'calls');
  const root = path.join(dir, 'root');
  execFileSync(path.join(ROOT_DIR, 'scripts/make-rootfs.sh'), [root], { timeout: 30000 });
  fs.mkdirSync(path.join(root, 'gone-dir'));
  fs.writeFileSync(path.join(root, 'gone-file'), 'x');
  fs.mkdirSync(path.join(root, 'mnt'));
  const plan = planOf(path.join(dir, 'a.ini'), [
    'hook-pre-jail = callret:chdir /',
    'hook-pre-jail = call:chdir /no-such-dir-c6',
    `mount-pre-jail = tmpfs none ${root}/mnt`,
    `hook-as-root = callret:umount ${root}/mnt`,
    'hook-as-root = callret:putenv CALLED=a value with spaces',
    'hook-as-root = callret:putenv GONE=1',
    'hook-as-root = callret:unsetenv GONE',
    `hook-as-root = callret:chroot ${root}`,
    'hook-as-root = callret:chdir /tmp',
    'hook-as-root = callret:unlink /gone-file',
    'hook-as-root = callret:rmdir /gone-dir',
    'unprivileged-binary-patch-arg = { echo "$CALLED|${GONE-unset}|$(pwd)"; ls /; } > /tmp/out 2>&1; echo x > /mnt/probe',
  ]);
  const init = startInit(t, plan);
  const exit = await init.waitExit();
  assert.deepEqual(init.failed, []);
  assert.deepEqual(exit, { code: 0, signal: null });
  const soft = init.steps.find((s) => s.origin.line === 2);
  assert.deepEqual(
    [soft?.ok, soft?.code, soft?.syscall, soft?.path],
    [true, 'ENOENT', 'chdir', '/no-such-dir-c6'],
    'call: reports the failure but goes on',
  );
  assert.match(String(soft?.message), /chdir\(\/no-such-dir-c6\) returned -1/);
  const [line1, ...rest] = fs.readFileSync(path.join(root, 'tmp/out'), 'utf8').trim().split('\n');
  assert.equal(line1, 'a value with spaces|unset|/tmp', 'putenv and unsetenv reach the app, chroot and chdir its root and cwd');
  assert.ok(rest.includes('bin') && !rest.includes('gone-file') && !rest.includes('gone-dir'), rest.join(' '));
  // written below the tmpfs had it still been mounted, and then invisible here
  assert.ok(fs.existsSync(path.join(root, 'mnt/probe')), 'the tmpfs was unmounted');
});

test('the compiler refuses what a native init cannot do, naming file, line and option', () => {
  const bad: Array<[string, RegExp]> = [
    [
      'hook-as-root = call:uwsgi_foo',
      /call:uwsgi_foo: a native vassal can call chdir, chroot, putenv, unsetenv, unlink, rmdir, umount \(uWSGI's dlsym/,
    ],
    ['hook-as-root = callret:chdir', /callret:chdir needs its string argument/],
    ['hook-as-root = callintret:sleep 1', /with an int \(dlsym\).*call:\/callret: take chdir/],
    ['mount-as-root = tmpfs none /x bogusflag', /unknown mount flag 'bogusflag'/],
    ['hook-as-root = nocolon', /invalid hook syntax/],
    ['unshare = fs,bogus', /unknown namespace 'bogus'/],
    ['cap = not_a_cap', /unknown capability/],
    ['exec-post-app = echo never', /inside a uWSGI master or worker/],
  ];
  for (const [line, re] of bad) {
    assert.throws(
      () => planOf('/v/a.ini', ['unprivileged-binary-patch = /bin/true', line]),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.file, '/v/a.ini');
        assert.equal(e.line, 2);
        assert.equal(e.option, line.split(' = ')[0]);
        assert.match(e.message, re);
        return true;
      },
    );
  }
});

test('sockets arrive in plan order from fd 3, named in LISTEN_FDNAMES, with the emperor fd after them', async (t) => {
  const dir = tmpdir(t, 'fds');
  const out = path.join(dir, 'out');
  const sock = path.join(dir, 'app.sock');
  const init = startInit(
    t,
    planOf(path.join(dir, 'a.ini'), [
      `socket = ${sock}`,
      'shared-socket = 127.0.0.1:20202',
      `unprivileged-binary-patch-arg = echo "$LISTEN_FDS $LISTEN_FDNAMES $UWSGI_EMPEROR_FD $LISTEN_PID $$" > ${out}; ls /proc/self/fd > ${out}.fds; ` +
        `readlink /proc/self/fd/3 /proc/self/fd/4 /proc/self/fd/5 >> ${out}.fds`,
    ]),
  );
  assert.deepEqual(await init.waitExit(), { code: 0, signal: null });
  const [fds, names, emperorFd, listenPid, pid] = fs.readFileSync(out, 'utf8').trim().split(' ');
  assert.deepEqual([fds, names, emperorFd], ['2', 'shared-socket:socket', '5']); // shared sockets are bound first
  assert.equal(listenPid, pid);
  const lines = fs.readFileSync(`${out}.fds`, 'utf8').trim().split('\n');
  // 0-2, the two sockets, the emperor fd, and ls's own directory fd: nothing of the init's leaks.
  assert.deepEqual(lines.filter((l) => /^\d+$/.test(l)).map(Number), [0, 1, 2, 3, 4, 5, 6]);
  assert.ok(
    lines.slice(-3).every((l) => l.startsWith('socket:')),
    lines.join(' '),
  );
  assert.equal(fs.statSync(sock).isSocket(), true);
});
