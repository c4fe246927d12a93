// AgentHost reads through a real agent: only regular files, counted by the bytes actually read, and anything else
// refused by name without being opened or waited on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { expectHostError, openTmpdir, testPool } from './helpers/agents';

test('a regular file is read whole, up to its limit counted in bytes read', async (t) => {
  const dir = openTmpdir(t, 'agent-read');
  const host = testPool(t).host(null, 5000);
  fs.writeFileSync(path.join(dir, 'a.ini'), '[uwsgi]\nsocket = :3031\n');
  assert.equal(host.readFile(path.join(dir, 'a.ini'), 1000).toString(), '[uwsgi]\nsocket = :3031\n');
  fs.writeFileSync(path.join(dir, 'exact'), Buffer.alloc(4096, 'x'));
  assert.equal(host.readFile(path.join(dir, 'exact'), 4096).length, 4096);
  await expectHostError(
    () => host.readFile(path.join(dir, 'exact'), 4095),
    'EFBIG',
    new RegExp(`^reading ${dir}/exact: over the 4095-byte limit$`),
  );
  fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(3 << 20, 'y'));
  assert.equal(host.readFile(path.join(dir, 'big'), 4 << 20).length, 3 << 20);
  await expectHostError(() => host.readFile(path.join(dir, 'big'), 1 << 20), 'EFBIG');
});

test('a /proc file whose stat size is 0 is read by its bytes, and its limit applies to them', async (t) => {
  const host = testPool(t).host(null, 5000);
  assert.equal(fs.statSync('/proc/self/mountinfo').size, 0);
  const text = host.readFile('/proc/self/mountinfo', 1 << 20).toString();
  assert.match(text, / \/ \/ /, 'the agent read its own mountinfo');
  await expectHostError(() => host.readFile('/proc/self/mountinfo', 10), 'EFBIG');
});

test('FIFOs, devices, directories and sockets are refused by name, at once, never opened', async (t) => {
  const dir = openTmpdir(t, 'agent-types');
  const host = testPool(t).host(null, 5000);
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const started = Date.now();
  await expectHostError(
    () => host.readFile(fifo, 100),
    'ENOTREG',
    new RegExp(`^reading ${fifo}: it is a FIFO, not a regular file \\(not read\\)$`),
  );
  // with a writer holding it open (and data in it) it is refused the same way
  const writer = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  t.after(() => fs.closeSync(writer));
  fs.writeSync(writer, 'data\n');
  await expectHostError(() => host.readFile(fifo, 100), 'ENOTREG', /FIFO/);
  assert.ok(Date.now() - started < 1000, 'no FIFO was waited on');

  await expectHostError(() => host.readFile('/dev/zero', 1 << 20), 'ENOTREG', /: it is a character device, not a regular file/);
  fs.symlinkSync('/dev/zero', path.join(dir, 'zero.ini'));
  await expectHostError(() => host.readFile(path.join(dir, 'zero.ini'), 1 << 20), 'ENOTREG', /zero\.ini: it is a character device/);
  await expectHostError(() => host.readFile(dir, 100), 'EISDIR', /: it is a directory, not a regular file/);

  const block = path.join(dir, 'block');
  execFileSync('mknod', [block, 'b', '7', '250']); // a loop device that does not exist: opening it would fail differently
  await expectHostError(() => host.readFile(block, 100), 'ENOTREG', /: it is a block device/);

  const sockPath = path.join(dir, 'sock');
  const server = net.createServer().listen(sockPath);
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  await expectHostError(() => host.readFile(sockPath, 100), 'ENOTREG', /: it is a socket/);
});

test('stat, realpath, readdir and isExecutable answer as the kernel does', async (t) => {
  const dir = openTmpdir(t, 'agent-meta');
  const host = testPool(t).host(null, 5000);
  fs.writeFileSync(path.join(dir, 'a.ini'), 'x');
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('a.ini', path.join(dir, 'link.ini'));
  const st = host.stat(path.join(dir, 'a.ini'), true)!;
  const real = fs.statSync(path.join(dir, 'a.ini'), { bigint: true });
  assert.deepEqual(st, {
    type: 'file',
    mode: Number(real.mode),
    uid: 0,
    gid: 0,
    size: 1,
    mtimeMs: Number(real.mtimeNs / 1000000n) + Number(real.mtimeNs % 1000000n) / 1e6,
    ino: Number(real.ino),
  });
  assert.equal(host.stat(path.join(dir, 'link.ini'), false)!.type, 'symlink');
  assert.equal(host.stat(path.join(dir, 'link.ini'), true)!.type, 'file');
  assert.equal(host.stat(path.join(dir, 'missing'), true), null);
  assert.equal(host.stat(path.join(dir, 'a.ini', 'below-a-file'), true), null, 'ENOTDIR is nothing to see');
  assert.equal(host.realpath(path.join(dir, '.', 'link.ini')), path.join(dir, 'a.ini'));
  await expectHostError(
    () => host.realpath(path.join(dir, 'missing')),
    'ENOENT',
    /^looking at .*missing: ENOENT \(no such file or directory\)$/,
  );
  assert.deepEqual(host.readdir(dir).sort(), ['a.ini', 'link.ini', 'run.sh']);
  await expectHostError(() => host.readdir(path.join(dir, 'a.ini')), 'ENOTDIR', /^listing /);
  assert.equal(host.isExecutable(path.join(dir, 'run.sh')), true);
  assert.equal(host.isExecutable(path.join(dir, 'a.ini')), false);
  assert.equal(host.isExecutable(path.join(dir, 'missing')), false);
  await expectHostError(() => host.readFile('relative.ini', 10), 'EINVAL', /^reading relative\.ini: not an absolute path$/);
});

test('openConfig: lstat, realpath and read of one config file in one call, each part failing on its own', async (t) => {
  const dir = openTmpdir(t, 'agent-load');
  const host = testPool(t).host(null, 5000);
  fs.writeFileSync(path.join(dir, 'real.ini'), '[uwsgi]\na = 1\n');
  fs.symlinkSync('real.ini', path.join(dir, 'link.ini'));
  fs.symlinkSync('/dev/zero', path.join(dir, 'zero.ini'));
  const real = host.openConfig(path.join(dir, 'real.ini'), 1000);
  assert.deepEqual(
    [real.symlink, real.ino, real.real, String(real.bytes)],
    [false, fs.lstatSync(path.join(dir, 'real.ini')).ino, path.join(dir, 'real.ini'), '[uwsgi]\na = 1\n'],
  );
  const link = host.openConfig(path.join(dir, 'link.ini'), 1000);
  assert.deepEqual(
    [link.symlink, link.ino, link.real, String(link.bytes)],
    [true, fs.lstatSync(path.join(dir, 'link.ini')).ino, path.join(dir, 'real.ini'), '[uwsgi]\na = 1\n'],
  );
  const missing = host.openConfig(path.join(dir, 'nope.ini'), 1000);
  assert.equal(missing.ino, undefined);
  assert.equal((missing.real as { code?: string }).code, 'ENOENT');
  assert.equal((missing.bytes as { code?: string }).code, 'ENOENT');
  const zero = host.openConfig(path.join(dir, 'zero.ini'), 1000);
  assert.deepEqual([zero.symlink, zero.real], [true, '/dev/zero']);
  assert.match((zero.bytes as Error).message, /it is a character device, not a regular file \(not read\)/);
  const big = host.openConfig(path.join(dir, 'real.ini'), 5);
  assert.equal((big.bytes as { code?: string }).code, 'EFBIG');
});
