// The parent-death signal holds: SIGKILL the Node process that spawned a vassal, and the vassal (and with a pid
// namespace its whole tree) is gone, also after a uid change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as cpSpawn } from 'node:child_process';
import { once } from 'node:events';
import type { SpawnOptions } from '../src/native';
import { helperScript, killIfAlive, procStat, procStatus, waitChildren, waitGone } from './helpers/native-proc';
import { within } from './helpers/wait';

/** Starts a Node process that spawns opts through the addon; returns it and the vassal's pid, once exec'd. */
async function holder(t: { after: (fn: () => Promise<void> | void) => void }, opts: SpawnOptions) {
  const proc = cpSpawn(process.execPath, [helperScript('native-spawner'), 'hold', JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => killIfAlive(proc.pid!));
  let out = '';
  proc.stdout.setEncoding('utf8');
  while (!out.includes('\n')) {
    const [chunk] = (await within(
      Promise.race([once(proc.stdout, 'data'), once(proc, 'exit')]),
      10000,
      'the spawner to print the pid',
    )) as [string];
    if (typeof chunk !== 'string') throw new Error('the spawner exited before printing a pid');
    out += chunk;
  }
  const vassal = Number(out.trim());
  t.after(() => killIfAlive(vassal));
  assert.equal(procStat(vassal)?.ppid, proc.pid);
  return { proc, vassal };
}

async function killHolder(proc: ReturnType<typeof cpSpawn>) {
  const exited = once(proc, 'exit');
  proc.kill('SIGKILL');
  await within(exited, 10000, `the spawner (pid ${proc.pid}) to die of SIGKILL`);
}

test('the vassal dies with the Node process that spawned it', async (t) => {
  const { proc, vassal } = await holder(t, { file: '/bin/sleep', argv: ['sleep', '100'], env: [] });
  assert.equal(await waitGone(vassal, 100), false, 'the vassal runs while its parent lives');
  await killHolder(proc);
  assert.equal(await waitGone(vassal), true);
});

test('with a pid namespace the whole tree goes, a background grandchild included', async (t) => {
  const { proc, vassal } = await holder(t, {
    file: '/bin/sh',
    argv: ['sh', '-c', 'sleep 100 & wait'],
    env: ['PATH=/usr/bin:/bin'],
    namespaces: ['pid', 'mount'],
  });
  const [grandchild] = await waitChildren(vassal, 1);
  t.after(() => killIfAlive(grandchild));
  await killHolder(proc);
  assert.equal(await waitGone(vassal), true);
  assert.equal(await waitGone(grandchild), true);
});

test('the death signal still holds after a uid change (armed after setresuid)', async (t) => {
  const { proc, vassal } = await holder(t, { file: '/bin/sleep', argv: ['sleep', '100'], env: [], uid: 65534, gid: 65534, groups: [] });
  assert.equal(procStatus(vassal).Uid.split('\t')[0], '65534');
  await killHolder(proc);
  assert.equal(await waitGone(vassal), true);
});

test('deathSignal 0 disables it: the vassal outlives its parent', async (t) => {
  const { proc, vassal } = await holder(t, { file: '/bin/sleep', argv: ['sleep', '100'], env: [], deathSignal: 0 });
  await killHolder(proc);
  assert.equal(await waitGone(vassal, 300), false);
  killIfAlive(vassal);
});
