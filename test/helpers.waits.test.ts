// The test helpers' waits end within their bound, and at once when what they wait on is already dead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { EmperorProcess } from './helpers/emperor-process';
import { capture, start, waitGone } from './helpers/native-proc';
import { until, within } from './helpers/wait';
import { planOf, startInit, tmpdir } from './fixtures/vassal/harness';

test('within and until reject with what was awaited', async () => {
  await assert.rejects(
    within(new Promise(() => {}), 50, 'a promise that never settles'),
    /timed out after 50 ms waiting for a promise that never settles/,
  );
  assert.equal(await within(Promise.resolve(7), 50, 'x'), 7);
  await assert.rejects(
    until(
      () => {
        throw new Error('not yet');
      },
      'a probe that throws',
      100,
    ),
    /timed out waiting for a probe that throws \(last error: not yet\)/,
  );
  await assert.rejects(
    until(() => new Promise<boolean>(() => {}), 'a probe that hangs', 100),
    /timed out waiting for a probe that hangs/,
  );
});

test('waitLog rejects as soon as the emperor has exited, with its exit status and stderr', async (t) => {
  const emperor = new EmperorProcess(['--no-such-option']);
  t.after(() => emperor.kill());
  const started = Date.now();
  await assert.rejects(
    emperor.waitLog(() => false, 'a log line that never comes', 60000),
    (e: Error) => {
      assert.match(e.message, /exited with code 2 before a log line that never comes/);
      assert.match(e.message, /stderr: .*no-such-option/s);
      return true;
    },
  );
  assert.ok(Date.now() - started < 10000, `took ${Date.now() - started} ms`);
  assert.equal((await emperor.waitExit()).code, 2);
});

test('capture() kills a child that never closes its stdout, and says what it printed', async () => {
  const run = capture({ file: '/bin/sh', argv: ['sh', '-c', 'echo started; exec sleep 100'], env: [] }, 300);
  await assert.rejects(run, /timed out after 300 ms waiting for sh -c .* to close its stdout; it printed "started\\n"/);
});

test('a started child that does not exit makes waitExit reject', async (t) => {
  const run = start({ file: '/bin/sleep', argv: ['sleep', '100'], env: [] });
  t.after(() => run.child.kill('SIGKILL'));
  await assert.rejects(run.waitExit(100), /timed out after 100 ms waiting for sleep 100 \(pid \d+\) to exit/);
  run.child.kill('SIGKILL');
  assert.equal(await waitGone(run.child.pid), true);
});

test('waitApp rejects when the init exits before its app starts, naming the failed step', async (t) => {
  const dir = tmpdir(t, 'noapp');
  const init = startInit(t, planOf(path.join(dir, 'a.ini'), ['exec-as-root = exit 7', 'unprivileged-binary-patch-arg = exec sleep 30']));
  await assert.rejects(init.waitApp(), /emperor-init exited \(code \d+\) before its app started; failed: exec-as-root \(line 1\)/);
});
