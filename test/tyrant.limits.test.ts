// A host limit is not a broken config: a tenant at its process limit (RLIMIT_NPROC, which a tyrant's vassals and
// agents inherit from the emperor) cannot exec an agent or a vassal (EAGAIN). Each of those starts waits on the
// limit-reached backoff and comes back by itself once the tenant has room again; the vassals that run are left alone.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import type { VassalStats } from '../src/ops/stats-document';
import { EmperorProcess } from './helpers/emperor-process';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';
import { createUser, tenantDirs, type TestUser, vassalFile } from './helpers/users';

/** Room under the process limit for what the test runs as each user: a vassal (init and app) and an agent, twice over. */
const ROOM = 8;
const SLEEPER = ['unprivileged-binary-patch-arg = exec sleep 3600'];

/** The tasks (threads) uid has now: what RLIMIT_NPROC counts. */
function tasksOf(uid: number): number {
  let n = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = fs.readFileSync(`/proc/${d}/status`, 'utf8');
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid) n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
    } catch {
      /* exited meanwhile */
    }
  }
  return n;
}

/**
 * Processes of user's own until it is over nproc (an execve after a change to that uid fails with EAGAIN once the
 * uid has more tasks than its limit), ended (by pid) after the test or by release().
 */
function fillUp(t: TestContext, user: TestUser, nproc: number): { release(): Promise<void> } {
  const sleepers: ChildProcess[] = [];
  for (let n = tasksOf(user.uid); n <= nproc; n++)
    sleepers.push(spawn('sleep', ['600'], { uid: user.uid, gid: user.gid, stdio: 'ignore' }));
  const release = async () => {
    await Promise.all(
      sleepers.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  };
  t.after(release);
  return { release };
}

test('a tenant at its process limit: its agent and its vassal cannot exec; both wait on the backoff and start once it has room', async (t) => {
  const bob = createUser(t);
  const carol = createUser(t);
  const { vassals } = tenantDirs(t, 'tyrantlimits');
  const [port] = await freePorts(1);
  const stats = `127.0.0.1:${port}`;
  vassalFile(vassals, 'first.ini', bob, SLEEPER);
  // a fresh user may have a recycled uid whose earlier processes still run: the limit counts them too
  const nproc = Math.max(tasksOf(bob.uid), tasksOf(carol.uid)) + ROOM;
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-stats', stats], {
    wrap: ['prlimit', `--nproc=${nproc}`, '--'],
  });
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'first.ini');
  const firstPid = emperor.events('spawned', 'first.ini')[0].pid;

  // bob's config reads go to the agent that read first.ini (still alive): the vassal's own exec is what fails
  const bobFull = fillUp(t, bob, nproc);
  vassalFile(vassals, 'second.ini', bob, SLEEPER);
  // carol has no agent yet: the one started to read her file cannot exec
  const carolFull = fillUp(t, carol, nproc);
  vassalFile(vassals, 'carol.ini', carol, SLEEPER);

  const waiting = await until(
    async () => {
      const doc = await fetchStats(stats).catch(() => undefined);
      const of = (id: string) => doc?.vassals.find((v) => v.id === id);
      const [second, c] = [of('second.ini'), of('carol.ini')];
      return second?.state === 'throttled' && c?.state === 'throttled' ? { second, carol: c } : undefined;
    },
    "bob's second vassal and carol's vassal waiting on the backoff",
    30000,
  );
  assert.match(String(waiting.second.setup_error), /EAGAIN/, `second.ini: ${waiting.second.setup_error}`);
  assert.match(
    String(waiting.carol.setup_error),
    /the agent .* exited before it ran \(its exec refused/,
    `carol.ini: ${waiting.carol.setup_error}`,
  );
  assert.equal(emperor.events('limit-reached').length, 1, 'one line for the episode');
  assert.equal(emperor.events('app-started', 'second.ini').length + emperor.events('app-started', 'carol.ini').length, 0);
  assert.equal(emperor.events('setup-error', 'second.ini').length, 0, 'not shown as a broken config');

  await bobFull.release();
  await carolFull.release();
  await emperor.waitEvent('app-started', 'second.ini', 1, 60000);
  await emperor.waitEvent('app-started', 'carol.ini', 1, 60000);
  const doc = await fetchStats(stats);
  assert.equal(doc.vassals.find((v) => v.id === 'first.ini')?.pid, firstPid, 'the running vassal was left alone');
  for (const id of ['second.ini', 'carol.ini']) assert.equal(doc.vassals.find((v) => v.id === id)?.state, 'running', id);
});

test('on demand: a tenant at its process limit has no agent to bind its socket; it waits on the backoff, then sleeps on it', async (t) => {
  const dave = createUser(t);
  const { vassals } = tenantDirs(t, 'tyrantlimitsod');
  const [port, statsPort] = await freePorts(2);
  const stats = `127.0.0.1:${statsPort}`;
  const nproc = tasksOf(dave.uid) + ROOM;
  const emperor = new EmperorProcess(
    ['--emperor', vassals, '--emperor-tyrant', '--emperor-on-demand-extension', '.socket', '--emperor-stats', stats],
    { wrap: ['prlimit', `--nproc=${nproc}`, '--'] },
  );
  t.after(() => emperor.kill());
  await emperor.waitEvent('start');
  const full = fillUp(t, dave, nproc);
  const socketFile = path.join(vassals, 'dave.ini.socket');
  fs.writeFileSync(socketFile, `127.0.0.1:${port}\n`);
  fs.chownSync(socketFile, dave.uid, dave.gid);
  vassalFile(vassals, 'dave.ini', dave, SLEEPER);
  let last: unknown;
  const waiting = await until(
    async () => {
      last = (await fetchStats(stats).catch(() => undefined))?.vassals.find((v) => v.id === 'dave.ini');
      return (last as { state?: string } | undefined)?.state === 'throttled' ? (last as VassalStats) : undefined;
    },
    "dave's vassal waiting on the backoff",
    30000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; dave's tasks: ${tasksOf(dave.uid)} (limit ${nproc}); the vassal: ${JSON.stringify(last)}`);
  });
  assert.match(String(waiting.setup_error), /^on-demand socket: .*cannot start an agent \(uid \d+\): EAGAIN: .*execve/);
  assert.equal(emperor.events('setup-error', 'dave.ini').length, 0, 'not shown as a broken vassal');
  await full.release();
  await emperor.waitEvent('dormant', 'dave.ini', 1, 60000);
  const doc = await fetchStats(stats);
  assert.equal(doc.vassals.find((v) => v.id === 'dave.ini')?.on_demand, `127.0.0.1:${port}`);
});
