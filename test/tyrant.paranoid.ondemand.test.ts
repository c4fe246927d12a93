// The capability-limited emperor (uid 10000, only CAP_SETUID and CAP_SETGID) with on-demand vassals: it cannot
// signal its tenants' agents (no CAP_KILL), and needs not: a helper ends when its channel closes, and one that does
// not is killed through its cgroup. A tenant's socket sleeps, a connection wakes its vassal, an idle agent goes, a
// vassal without a socket file is an ordinary one, and Ragnarok leaves nothing; no EPERM anywhere in the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { epermLines, paranoidEmperor } from './helpers/paranoid';
import { get, idleApp } from './helpers/ondemand';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';
import { createUser, procIdentity, tenantDirs, vassalFile } from './helpers/users';

function argv0(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return '';
  }
}

test('paranoid emperor on demand: dormant, woken, idle agents gone, Ragnarok; nothing refused, nothing left', async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'paranoid-ondemand');
  const [port, statsPort] = await freePorts(2);
  const stats = `127.0.0.1:${statsPort}`;
  const app = idleApp(dir);
  // without CAP_SYS_ADMIN a native vassal gets its namespaces inside a user namespace of its own
  vassalFile(vassals, 'app.ini', alice, ['unshare = user', `unprivileged-binary-patch-arg = exec ${process.execPath} ${app}`]);
  const socketFile = path.join(vassals, 'app.ini.socket');
  fs.writeFileSync(socketFile, `127.0.0.1:${port}\n`);
  fs.chownSync(socketFile, alice.uid, alice.gid);
  // no socket file: an ordinary vassal, which an emperor that could not end its agents used to break
  vassalFile(vassals, 'plain.ini', bob, ['unshare = user', 'unprivileged-binary-patch-arg = exec sleep 3600']);

  const emperor = paranoidEmperor(t, dir, [
    '--emperor',
    vassals,
    '--emperor-tyrant',
    '--emperor-on-demand-extension',
    '.socket',
    '--emperor-stats',
    stats,
  ]);
  await emperor.waitEvent('dormant', 'app.ini');
  await emperor.waitEvent('app-started', 'plain.ini');
  assert.equal((await fetchStats(stats)).vassals.find((v) => v.id === 'app.ini')?.on_demand, `127.0.0.1:${port}`);

  // a connection wakes alice's vassal, which serves it on the socket the emperor's agent bound as alice
  assert.match(await get({ port }), /^pid \d+ uid 0 fds 1 on-demand$/, 'root of its own user namespace');
  const woken = (await fetchStats(stats)).vassals.find((v) => v.id === 'app.ini')!;
  assert.equal(procIdentity(woken.pid).uid[0], alice.uid, "the woken vassal's init runs as alice");
  await emperor.waitEvent('voluntary-shutdown', 'app.ini');
  await emperor.waitEvent('dormant', 'app.ini', 2);
  assert.match(await get({ port }), /fds 1 on-demand$/, 'woken again');

  // the agents that worked as alice and bob (the config reads, the on-demand sockets) are ended by their idle timeout
  const tenantAgents = () =>
    emperor.taggedPids().filter((p) => argv0(p) === 'emperor-agent' && [alice.uid, bob.uid].includes(procIdentity(p).uid[0]));
  assert.ok(tenantAgents().length > 0, "a tenant's agent works for the config reader");
  await until(() => tenantAgents().length === 0, "the tenants' idle agents gone", 45000);
  assert.equal(emperor.child.exitCode, null, 'the emperor runs on');

  process.kill(emperor.pid, 'SIGTERM');
  await emperor.waitEvent('buried');
  assert.equal((await emperor.waitExit()).code, 0);
  assert.deepEqual(emperor.taggedPids(), [], 'nothing of the emperor or its tenants is left');
  assert.deepEqual(epermLines(emperor), [], 'no EPERM anywhere in the log');
  for (const event of ['internal-error', 'kill-refused', 'reader-died', 'setup-error'])
    assert.deepEqual(emperor.events(event), [], `no ${event}`);
});
