// 2,000 spawn/exit cycles leave the Node process with the same fds and no zombies; so do failed setups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NativeError } from '../src/native';
import { openFdCount, setupFailure, start, zombieChildren } from './helpers/native-proc';
import { within } from './helpers/wait';

test('2,000 spawn/exit cycles of /bin/true leak no fd and leave no zombie', async () => {
  const warm = start({ file: '/bin/true', argv: ['true'], env: [] }); // loads the addon, opens libuv's epoll fds
  await warm.waitExit();
  const before = openFdCount();
  for (let i = 0; i < 2000; i++) {
    const run = start({ file: '/bin/true', argv: ['true'], env: [] });
    await within(run.child.started, 5000, `cycle ${i}: exec`);
    assert.deepEqual(await run.waitExit(), { code: 0, signal: null });
  }
  assert.equal(openFdCount(), before);
  assert.deepEqual(zombieChildren(process.pid), []);
});

test('failed setups (in the child, and in the parent) leak no fd either', async () => {
  const before = openFdCount();
  for (let i = 0; i < 200; i++) {
    const child = await setupFailure({ file: '/bin/true', argv: ['true'], env: [], cwd: '/nonexistent/dir' });
    assert.deepEqual([child.error.code, child.exit], ['ENOENT', { code: 127, signal: null }]);
    const parent = await setupFailure({ file: '/bin/true', argv: ['true'], env: [], namespaces: ['user'], uidMap: 'bad' });
    assert.deepEqual([parent.error.code, parent.exit], ['EINVAL', { code: null, signal: 'SIGKILL' }]);
  }
  assert.equal(openFdCount(), before);
  assert.deepEqual(zombieChildren(process.pid), []);
});

test('a spawn that fails before the clone (its cgroup directory unusable) throws at once and leaks no fd', async () => {
  const before = openFdCount();
  for (let i = 0; i < 200; i++) {
    assert.throws(
      () => start({ file: '/bin/true', argv: ['true'], env: [], cgroup: '/nonexistent/cgroup' }),
      (e: unknown) => e instanceof NativeError && e.code === 'ENOENT' && e.syscall === 'open' && e.step === 'cgroup',
    );
  }
  assert.equal(openFdCount(), before, 'its pipes and the pidfd of the parent closed on that path');
  assert.deepEqual(zombieChildren(process.pid), []);
});
