// What an operator uses works the same with the capability-limited emperor (uid 10000, CAP_SETUID and CAP_SETGID
// only) as with root: the control socket (status, logs, stop, start, reload; each tenant on its own vassals), the
// per-vassal log files, the Prometheus metrics, the stats, and the host limits (a start refused for want of
// descriptors waits on the backoff and comes back by itself). Nothing the kernel refuses it shows in its log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { cli } from './helpers/cli';
import { PARANOID_UID, epermLines, paranoidDir, paranoidEmperor } from './helpers/paranoid';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';
import { createUser, tenantDirs, vassalFile } from './helpers/users';

const talker = (word: string) => ['unshare = user', `unprivileged-binary-patch-arg = echo ${word}; exec sleep 1000`];

test('paranoid emperor: control socket, log files, metrics and stats, as with root', async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'paranoid-ops');
  const own = paranoidDir(dir, 'run');
  const logs = paranoidDir(dir, 'logs');
  const control = path.join(own, 'control.sock');
  const [metricsPort, statsPort] = await freePorts(2);
  const stats = `127.0.0.1:${statsPort}`;
  vassalFile(vassals, 'alice.ini', alice, talker('alice-says-hi'));
  vassalFile(vassals, 'bob.ini', bob, talker('bob-says-hi'));
  const emperor = paranoidEmperor(t, dir, [
    '--emperor',
    vassals,
    '--emperor-tyrant',
    '--emperor-control',
    control,
    '--emperor-logs-dir',
    logs,
    '--emperor-metrics',
    `127.0.0.1:${metricsPort}`,
    '--emperor-stats',
    stats,
  ]);
  await emperor.waitLog(
    (l) => ['alice-says-hi', 'bob-says-hi'].every((m) => l.some((e) => e.event === 'output' && e.msg === m)),
    'both vassals talking',
  );

  // the control socket: made by the emperor's uid, open to every tenant, each acting on its own vassals only
  const st = fs.statSync(control);
  assert.deepEqual([st.uid, st.mode & 0o777], [PARANOID_UID, 0o666]);
  const status = await cli(['status', '--control', control]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^alice\.ini +running/m);
  assert.match(status.stdout, /^bob\.ini +running/m);
  const asAlice = { uid: alice.uid, gid: alice.gid };
  const mine = await cli(['logs', '--control', control], asAlice);
  assert.equal(mine.code, 0, mine.stderr);
  assert.match(mine.stdout, /^alice\.ini stdout \| alice-says-hi$/m);
  assert.doesNotMatch(mine.stdout, /bob/);
  const refused = await cli(['stop', 'bob.ini', '--control', control], asAlice);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /permission denied: vassal bob\.ini/);
  assert.equal((await cli(['stop', 'alice.ini', '--control', control], asAlice)).code, 0);
  await emperor.waitEvent('exit', 'alice.ini');
  assert.equal((await cli(['start', 'alice.ini', '--control', control], asAlice)).code, 0);
  await emperor.waitEvent('app-started', 'alice.ini', 2);
  assert.equal((await cli(['reload', 'bob.ini', '--control', control])).code, 0);
  await emperor.waitEvent('reload', 'bob.ini');

  // the log files: written by the emperor's uid, one per vassal
  const aliceLog = path.join(logs, 'alice.ini.log');
  await until(() => fs.existsSync(aliceLog) && fs.readFileSync(aliceLog, 'utf8').includes('alice-says-hi'), "alice's log file");
  assert.equal(fs.statSync(aliceLog).uid, PARANOID_UID);
  assert.doesNotMatch(fs.readFileSync(aliceLog, 'utf8'), /bob-says-hi/);

  // the metrics and the stats: every vassal up, with its memory (its cgroup's, or its processes' as /proc says)
  const metrics = await until(async () => {
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(3000) })
      .then((r) => r.text())
      .catch(() => '');
    return /^emperor_vassal_memory_bytes\{vassal="bob\.ini"\} [1-9]/m.test(text) ? text : undefined;
  }, "bob's vassal sampled");
  for (const v of ['alice.ini', 'bob.ini']) assert.match(metrics, new RegExp(`^emperor_vassal_up\\{vassal="${v}"\\} 1$`, 'm'));
  const doc = await fetchStats(stats);
  assert.equal(doc.uid, PARANOID_UID);
  assert.deepEqual(doc.vassals.map((v) => [v.id, v.state]).sort(), [
    ['alice.ini', 'running'],
    ['bob.ini', 'running'],
  ]);

  process.kill(emperor.pid, 'SIGTERM');
  assert.equal((await emperor.waitExit()).code, 0);
  assert.deepEqual(emperor.taggedPids(), []);
  assert.deepEqual(epermLines(emperor), [], 'no EPERM anywhere in the log');
});

test('paranoid emperor out of descriptors: a new vassal waits on the backoff, the running one stays, and it starts once fds are free', async (t) => {
  const alice = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'paranoid-limits');
  const sleeper = ['unshare = user', 'unprivileged-binary-patch-arg = exec sleep 1000'];
  vassalFile(vassals, 'first.ini', alice, sleeper);
  const emperor = paranoidEmperor(t, dir, ['--emperor', vassals, '--emperor-tyrant']);
  await emperor.waitEvent('app-started', 'first.ini');
  const limits = emperor.events('limits')[0];
  assert.ok(limits && (limits.nofile as number) > 0, 'the limits line at start');
  const firstPid = emperor.events('spawned', 'first.ini')[0].pid;

  // root may not change another uid's limits without CAP_SYS_RESOURCE: the emperor's own uid may
  const hard = Number(/^Max open files\s+\d+\s+(\d+)/m.exec(fs.readFileSync(`/proc/${emperor.pid}/limits`, 'utf8'))![1]);
  const asEmperor = [
    '--reuid',
    String(PARANOID_UID),
    '--regid',
    String(PARANOID_UID),
    '--clear-groups',
    'prlimit',
    '--pid',
    String(emperor.pid),
  ];
  const open = fs.readdirSync(`/proc/${emperor.pid}/fd`).length;
  execFileSync('setpriv', [...asEmperor, `--nofile=${open + 1}:${hard}`]);
  vassalFile(vassals, 'second.ini', alice, sleeper);
  await emperor.waitEvent('limit-reached', undefined, 1, 30000);
  assert.equal(emperor.events('app-started', 'second.ini').length, 0);
  assert.equal(emperor.events('setup-error', 'second.ini').length, 0, 'not shown as a broken vassal');

  execFileSync('setpriv', [...asEmperor, `--nofile=${hard}:${hard}`]);
  await emperor.waitEvent('app-started', 'second.ini', 1, 60000);
  assert.equal(emperor.events('spawned', 'first.ini').length, 1, 'the running vassal was left alone');
  assert.equal(emperor.events('spawned', 'first.ini')[0].pid, firstPid);
  assert.deepEqual(epermLines(emperor), []);
});
