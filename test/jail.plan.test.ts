// The plan compiler: uWSGI's phase order, what a reload leaves out, the privileged patch, and the readable form.
// unit: needs nothing but Node
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPlan } from '../src/jail';
import { plainCommand } from '../src/jail/compile';
import { planOf } from './fixtures/vassal/harness';

const EVERYTHING = [
  'unprivileged-binary-patch-arg = exec myapp', // 1
  'exec-as-user-atexit = fusermount -u /app', // 2
  'exec-as-user = echo as-user', // 3
  'cap = net_bind_service,10', // 4
  'uid = nobody', // 5
  'http-socket = :8080', // 6
  'exec-as-root = echo as-root', // 7
  'mount-as-root = proc none /proc', // 8
  'hook-as-root = !putenv:SECRET=x', // 9
  'pivot_root = /ns/root /ns/root/.old_root', // 10
  'chroot = /jail', // 11
  'exec-post-jail = echo post-jail', // 12
  'unshare = net,ipc', // 13
  'exec-in-jail = echo in-jail', // 14
  'exec-pre-jail = fuse-zip -r /a.zip /app', // 15
  'shared-socket = 127.0.0.1:80', // 16
  'umount-asap = /x rec,detach', // 17
  'env = A=1', // 18
  'mountpoint-check = /app', // 19
  'chdir = /app', // 20
  'socket = /run/app.sock', // 21
];

test("steps follow uWSGI's order whatever the order of the file", () => {
  const plan = planOf('/v/app.ini', EVERYTHING);
  assert.deepEqual(
    plan.steps.map((s) => `${s.origin.line}:${s.op}`),
    [
      '18:putenv',
      '17:umount',
      '16:listen',
      '15:exec',
      '14:exec',
      '13:unshare',
      '12:exec',
      '11:chroot',
      '10:pivot_root',
      '9:putenv',
      '8:mount',
      '7:exec',
      '6:listen',
      '21:listen',
      '20:chdir',
      '5:creds',
      '4:cap',
      '3:exec',
      '19:mountpoint-check',
      '1:app',
      '2:exec',
    ],
  );
  const byLine = new Map(plan.steps.map((s) => [s.origin.line, s]));
  assert.deepEqual(byLine.get(17)?.args, ['/x', '2', '1']); // detach = MNT_DETACH, rec handled by the init
  assert.deepEqual(byLine.get(8)?.args, ['proc', 'none', '/proc', '0', '']);
  assert.deepEqual(byLine.get(13)?.args, [String(0x40000000 | 0x08000000)]);
  assert.deepEqual(byLine.get(6)?.args, ['inet', '0.0.0.0', '8080', 'http-socket']);
  assert.deepEqual(byLine.get(21)?.args, ['unix', '/run/app.sock', '0', 'socket']);
  assert.deepEqual(byLine.get(5)?.args, ['nobody', '', '', '1']);
  assert.deepEqual(byLine.get(4)?.args, [String(1 << 10)]);
  assert.deepEqual(byLine.get(1)?.args, ['myapp'], 'a plain command is run without the shell');
  assert.equal(byLine.get(2)?.atexit, true);
  assert.equal(byLine.get(2)?.fatal, false);
  assert.equal(byLine.get(9)?.private, true);
});

test('a reload plan leaves out pre-jail, unshare, chroot, pivot_root and socket binding', () => {
  const plan = planOf('/v/app.ini', EVERYTHING, false);
  assert.deepEqual(
    plan.steps.map((s) => s.origin.line),
    [18, 17, 14, 9, 8, 7, 20, 5, 4, 3, 19, 1, 2],
  );
  assert.equal(plan.firstRun, false);
});

test('the privileged patch runs right after pre-jail, as root, as in uWSGI', () => {
  const plan = planOf('/v/p.ini', [
    'exec-pre-jail = echo pre',
    'uid = nobody',
    'exec-as-root = echo later',
    'privileged-binary-patch = /usr/bin/myapp',
  ]);
  assert.deepEqual(
    plan.steps.map((s) => `${s.origin.line}:${s.op}`),
    ['1:exec', '4:app'],
  );
  assert.deepEqual(plan.steps[1].args, ['/usr/bin/myapp', '--ini', '/v/p.ini']);
  // an --emperor-extra-extension file: uWSGI's emperor runs it with --config, and so does the patch
  assert.deepEqual(planOf('/v/p.conf', ['privileged-binary-patch = /usr/bin/myapp']).steps[0].args, [
    '/usr/bin/myapp',
    '--config',
    '/v/p.conf',
  ]);
});

test('formatPlan shows one step per line with file:line, hiding private hooks', () => {
  const text = formatPlan(planOf('/v/app.ini', EVERYTHING));
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 1 + 21);
  assert.match(lines[0], /jail plan of vassal app\.ini \(first run\)/);
  assert.match(text, /\/v\/app\.ini:15 {2}exec-pre-jail {2}exec \/bin\/sh -c 'fuse-zip -r \/a\.zip \/app'/);
  assert.match(text, /\/v\/app\.ini:9 {2}hook-as-root {2}putenv --- PRIVATE HOOK ---/);
  assert.doesNotMatch(text, /SECRET/);
  assert.match(text, /exec-as-user-atexit {2}exec .*\(at exit, non-fatal\)/);
});

test('a binary patch runs through /bin/sh unless it is a plain command, or the user chose a --binsh', () => {
  assert.deepEqual(plainCommand('exec /usr/bin/app --port=80 a,b @x %y'), ['/usr/bin/app', '--port=80', 'a,b', '@x', '%y']);
  assert.deepEqual(plainCommand('  app\targ '), ['app', 'arg']);
  for (const shellWork of [
    'app "quoted arg"',
    "app 'x'",
    'app $HOME',
    'app `id`',
    'app > log',
    'app | tee',
    'a; b',
    'a && b',
    'app *.py',
    'app ~/x',
    'A=1 app',
    'cd /x',
    'echo hi',
    'exec',
    '',
    'exec exec app',
    'app\nnext',
    'app #comment',
    'if true',
    '. ./env',
  ]) {
    assert.equal(plainCommand(shellWork), undefined, shellWork);
  }
  const viaShell = planOf('/v/app.ini', ['unprivileged-binary-patch-arg = exec myapp > /tmp/log']);
  assert.deepEqual(viaShell.steps.find((s) => s.op === 'app')?.args, ['/bin/sh', '-c', 'exec myapp > /tmp/log']);
  const ownShell = planOf('/v/app.ini', ['unprivileged-binary-patch-arg = exec myapp'], true, '/bin/bash');
  assert.deepEqual(ownShell.steps.find((s) => s.op === 'app')?.args, ['/bin/bash', '-c', 'exec myapp']);
});
