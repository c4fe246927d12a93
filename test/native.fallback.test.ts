// When clone3 is refused (old kernel, or a container's seccomp filter), spawn falls back to clone + pidfd_open and
// writes cgroup.procs itself. A real seccomp filter (installed by python3 through prctl, as Docker's profile does)
// refuses clone3 with ENOSYS to the Node process that spawns. (EPERM cannot be tried this way: glibc's
// pthread_create falls back from clone3 on ENOSYS only, so Node itself could not start.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SpawnOptions } from '../src/native';
import { cgroup2Mount, helperScript } from './helpers/native-proc';

// Installs "clone3 -> errno" (clone3 is syscall 435 on every architecture) and execs the rest of argv.
const NO_CLONE3 = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
err = int(sys.argv[1])
prog = [(0x20, 0, 0, 0), (0x15, 0, 1, 435), (0x06, 0, 0, 0x00050000 | err), (0x06, 0, 0, 0x7fff0000)]
buf = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in prog))
fprog = struct.pack('HxxxxxxQ', len(prog), ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0):
    sys.exit('seccomp: errno %d' % ctypes.get_errno())
os.execv(sys.argv[2], sys.argv[2:])
`;

function tryWithoutClone3(errno: number, opts: SpawnOptions): { stdout: string; result: Record<string, unknown> } {
  const r = spawnSync(
    '/usr/bin/python3',
    ['-c', NO_CLONE3, String(errno), process.execPath, helperScript('native-spawner'), 'try', JSON.stringify(opts)],
    { encoding: 'utf8', timeout: 20000 },
  );
  assert.equal(r.status, 0, r.error ? String(r.error) : r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  return { stdout: lines.slice(0, -1).join('\n'), result: JSON.parse(lines[lines.length - 1]) };
}

test('the seccomp filter really refuses clone3 (the fallback below is exercised)', () => {
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      NO_CLONE3 + '\n',
      String(os.constants.errno.ENOSYS),
      '/usr/bin/python3',
      '-c',
      'import ctypes; l = ctypes.CDLL(None, use_errno=True); print(l.syscall(435, None, 0), ctypes.get_errno())',
    ],
    { encoding: 'utf8', timeout: 20000 },
  );
  assert.equal(r.stdout.trim(), `-1 ${os.constants.errno.ENOSYS}`, r.error ? String(r.error) : r.stderr);
});

test('clone3 refused with ENOSYS: clone + pidfd_open, cgroup.procs written, exit watched', (t) => {
  const root = cgroup2Mount();
  assert.ok(root, 'a cgroup2 hierarchy is mounted');
  const name = `native-fallback-${randomUUID().slice(0, 8)}`;
  fs.mkdirSync(path.join(root, name));
  t.after(() => fs.rmdirSync(path.join(root, name)));
  const { stdout, result } = tryWithoutClone3(os.constants.errno.ENOSYS, {
    file: '/bin/sh',
    argv: ['sh', '-c', 'grep ^0:: /proc/self/cgroup; echo $$; exit 5'],
    env: [],
    namespaces: ['pid'],
    cgroup: path.join(root, name),
  });
  assert.equal(stdout.trim(), `0::/${name}\n1`);
  assert.deepEqual((result as { exit: unknown }).exit, { code: 5, signal: null });
});

test('clone3 refused: the fallback still writes the user namespace maps', () => {
  const { stdout, result } = tryWithoutClone3(os.constants.errno.ENOSYS, {
    file: '/bin/sh',
    argv: ['sh', '-c', 'cat /proc/self/uid_map; id -u'],
    env: ['PATH=/usr/bin:/bin'],
    namespaces: ['user'],
    uidMap: '0 100000 1000',
    gidMap: '0 100000 1000',
  });
  assert.equal(stdout.trim().split(/\s+/).join(' '), '0 100000 1000 0');
  assert.deepEqual((result as { exit: unknown }).exit, { code: 0, signal: null });
});

test('a setup failure on the fallback path is still reported with its step, through started, before the exit', () => {
  const { result } = tryWithoutClone3(os.constants.errno.ENOSYS, { file: '/bin/true', argv: ['true'], env: [], cwd: '/nonexistent' });
  assert.deepEqual(result.error, { code: 'ENOENT', errno: -os.constants.errno.ENOENT, syscall: 'chdir', step: 'chdir' });
  assert.deepEqual(result.exit, { code: 127, signal: null });
});

test('a parent step failing on the fallback path (uid_map): started rejects, the killed child exits', () => {
  const { result } = tryWithoutClone3(os.constants.errno.ENOSYS, {
    file: '/bin/true',
    argv: ['true'],
    env: [],
    namespaces: ['user'],
    uidMap: 'bad',
  });
  assert.deepEqual(result.error, { code: 'EINVAL', errno: -os.constants.errno.EINVAL, syscall: 'write', step: 'uid_map' });
  assert.deepEqual(result.exit, { code: null, signal: 'SIGKILL' });
});
