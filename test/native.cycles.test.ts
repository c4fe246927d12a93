// 2,000 spawn/exit cycles leave the Node process with the same fds and no zombies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFdCount, start, zombieChildren } from './helpers/native-proc';

test('2,000 spawn/exit cycles of /bin/true leak no fd and leave no zombie', async () => {
  const warm = start({ file: '/bin/true', argv: ['true'], env: [] }); // loads the addon, opens libuv's epoll fds
  await warm.waitExit();
  const before = openFdCount();
  for (let i = 0; i < 2000; i++) {
    const run = start({ file: '/bin/true', argv: ['true'], env: [] });
    assert.deepEqual(await run.waitExit(), { code: 0, signal: null });
  }
  assert.equal(openFdCount(), before);
  assert.deepEqual(zombieChildren(process.pid), []);
});

test('failed spawns (setup errors) leak no fd either', () => {
  const before = openFdCount();
  for (let i = 0; i < 200; i++) {
    assert.throws(() => start({ file: '/bin/true', argv: ['true'], env: [], cwd: '/nonexistent/dir' }), { code: 'ENOENT' });
    assert.throws(() => start({ file: '/bin/true', argv: ['true'], env: [], namespaces: ['user'], uidMap: 'bad' }), { code: 'EINVAL' });
  }
  assert.equal(openFdCount(), before);
  assert.deepEqual(zombieChildren(process.pid), []);
});
