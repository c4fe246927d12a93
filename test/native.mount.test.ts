// mount()/umount() with uWSGI's flag words, in the test process's own mount namespace, errors shaped as NativeError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NativeError, closeFd, mount, umount } from '../src/native';

function mounted(dir: string): string | undefined {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === dir);
}

test('mount a tmpfs read-only with flag words, see it in mountinfo, umount with detach', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-mount-'));
  t.after(() => {
    if (mounted(dir)) umount(dir, 'detach');
    fs.rmdirSync(dir);
  });
  mount('native-test', dir, 'tmpfs', 'nosuid,nodev,ro', 'size=1m');
  const line = mounted(dir);
  assert.ok(line, 'the tmpfs is mounted');
  assert.match(line, / ro,nosuid,nodev/);
  assert.throws(() => fs.writeFileSync(path.join(dir, 'x'), 'x'), { code: 'EROFS' });
  mount(null, dir, null, 'remount,nosuid,nodev', 'size=1m');
  fs.writeFileSync(path.join(dir, 'x'), 'x');
  umount(dir, 'detach');
  assert.equal(mounted(dir), undefined);
});

test('errors are NativeErrors naming the syscall and the path; unknown words throw before any syscall', () => {
  const dir = path.join(os.tmpdir(), 'native-mount-missing-' + process.pid);
  const e = (() => {
    try {
      mount('none', dir, 'tmpfs', 0);
    } catch (err) {
      return err as NativeError;
    }
    return null;
  })();
  assert.ok(e instanceof NativeError);
  assert.deepEqual([e.code, e.errno, e.syscall, e.path], ['ENOENT', -os.constants.errno.ENOENT, 'mount', dir]);
  const u = (() => {
    try {
      umount(dir);
    } catch (err) {
      return err as NativeError;
    }
    return null;
  })();
  assert.ok(u instanceof NativeError);
  assert.deepEqual([u.code, u.syscall, u.path], ['ENOENT', 'umount2', dir]);
  const c = (() => {
    try {
      closeFd(1 << 20);
    } catch (err) {
      return err as NativeError;
    }
    return null;
  })();
  assert.ok(c instanceof NativeError);
  assert.deepEqual([c.code, c.syscall], ['EBADF', 'close']);
  assert.throws(() => mount('none', dir, 'tmpfs', 'bind,wobbly'), /unknown mount flag 'wobbly'/);
});
