// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// A child stuck before exec in a FUSE request that its daemon read and never answers sleeps uninterruptibly: not
// even SIGKILL ends it. It must not freeze the emperor: spawn() returns at once, `started` rejects with ETIMEDOUT
// after setupTimeout while the loop keeps turning, and the exit is reported whenever the kernel lets the child die.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { NativeError, spawn, type ExitInfo } from '../src/native';
import { mountHungFs } from './helpers/hungfs';
import { killIfAlive, openFdCount, procStat, start, zombieChildren } from './helpers/native-proc';
import { within, loopLag } from './helpers/wait';

const SETUP_TIMEOUT = 300;

/** Polls (bounded) until /proc/PID/stat shows `state`. */
async function untilState(pid: number, state: string, what: string): Promise<void> {
  await within(
    (async () => {
      while (procStat(pid)?.state !== state) await new Promise((r) => setTimeout(r, 10));
    })(),
    5000,
    what,
  );
}

test('a child hung in a FUSE request: started rejects with ETIMEDOUT on time, the loop never stops, the exit comes on release', async (t) => {
  const hung = await mountHungFs();
  t.after(() => hung.release());
  const warm = start({ file: '/bin/true', argv: ['true'], env: [] }); // loads the addon, opens libuv's epoll fds
  await warm.waitExit(5000);
  const fdsBefore = openFdCount();

  const maxGap = loopLag(t);

  let exitInfo: ExitInfo | undefined;
  let exited!: () => void;
  const exit = new Promise<void>((r) => (exited = r));
  const t0 = performance.now();
  // cwd below the mount: the child's chdir sends a LOOKUP that hungfs reads and never answers
  const child = spawn(
    { file: '/bin/true', argv: ['true'], env: [], cwd: path.join(hung.dir, 'sub'), setupTimeout: SETUP_TIMEOUT },
    (info) => {
      exitInfo = info;
      exited();
    },
  );
  const returnedAfter = performance.now() - t0;
  t.after(() => killIfAlive(child.pid));
  assert.ok(returnedAfter < 100, `spawn() returned after ${returnedAfter.toFixed(1)} ms`);

  const err = await within(
    child.started.then(
      () => new Error('started resolved'),
      (e: unknown) => e,
    ),
    5000,
    'started to reject',
  );
  const rejectedAfter = performance.now() - t0;
  assert.ok(err instanceof NativeError, String(err));
  assert.deepEqual([err.code, err.errno, err.syscall, err.step], ['ETIMEDOUT', -os.constants.errno.ETIMEDOUT, 'spawn', 'setup_timeout']);
  assert.ok(rejectedAfter <= SETUP_TIMEOUT + 100, `started rejected ${rejectedAfter.toFixed(1)} ms after the call`);

  // SIGKILLed, and still there: asleep in the request, uninterruptibly, until the daemon goes
  await untilState(child.pid, 'D', `pid ${child.pid} in state D after the SIGKILL`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(procStat(child.pid)?.state, 'D');
  assert.equal(child.alive, true);
  assert.equal(exitInfo, undefined);

  await hung.release();
  await within(exit, 5000, 'the exit once the mount is released');
  assert.ok(maxGap() < 100, `the loop stalled for ${maxGap().toFixed(1)} ms`);
  assert.deepEqual(exitInfo, { code: null, signal: 'SIGKILL' });
  assert.equal(child.alive, false);
  assert.deepEqual(
    zombieChildren(process.pid).filter((pid) => pid !== hung.daemonPid),
    [],
  );
  assert.equal(openFdCount(), fdsBefore, 'every fd of the spawn closed');
});
