// Tyrant mode end to end, with real users: each vassal runs as its file's owner (uid, gid, groups, no capability,
// no_new_privs), root-owned files are refused once, an owner change restarts (or refuses) the vassal, and a
// tenant's `uid = 0` gives it nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, childrenOf, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { gidOf, groupNameOf, supplementaryGroups, uidOf, userOf } from '../src/tables/passwd';
import { createGroup, createUser, procIdentity, type TestUser, vassalFile } from './helpers/users';

const SLEEPER = 'unprivileged-binary-patch-arg = exec sleep 3600';

/** The host pid of a native vassal's app: the child of its latest init (app-started gives the pid inside its pid namespace). */
async function appPid(emperor: EmperorProcess, vassal: string, count = 1): Promise<number> {
  await emperor.waitEvent('app-started', vassal, count);
  const init = emperor.events('spawned', vassal).at(-1)!.pid as number;
  return until(() => childrenOf(init)[0], `the app of ${vassal}`);
}

function assertRunsAs(pid: number, user: TestUser, groups: number[], what: string): void {
  const id = procIdentity(pid);
  assert.deepEqual(id.uid, [user.uid, user.uid, user.uid, user.uid], `${what}: uid`);
  assert.deepEqual(id.gid, [user.gid, user.gid, user.gid, user.gid], `${what}: gid`);
  assert.deepEqual(
    id.groups,
    [...groups].sort((a, b) => a - b),
    `${what}: supplementary groups`,
  );
  assert.equal(id.capEff, 0n, `${what}: CapEff`);
  assert.equal(id.capPrm, 0n, `${what}: CapPrm`);
  assert.equal(id.capAmb, 0n, `${what}: CapAmb`);
  assert.equal(id.noNewPrivs, 1, `${what}: NoNewPrivs`);
}

test('two tenants in one directory: each vassal runs as its owner; root-owned refused once; uid = 0 gives nothing', async (t) => {
  const extra = createGroup(t);
  const alice = createUser(t, { groups: [extra.name] });
  const bob = createUser(t);
  const dir = tmpdir('tyrant');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(dir, 'wsgi_app.py'),
    "import os\ndef application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    return [b'uid %d' % os.getuid()]\n",
  );
  vassalFile(dir, 'alice.ini', alice, [SLEEPER]);
  vassalFile(dir, 'bob.ini', bob, [SLEEPER]);
  vassalFile(dir, 'rootfile.ini', 0, [SLEEPER]);
  const sneaky = vassalFile(dir, 'sneaky.ini', alice, ['uid = 0', 'gid = 0', SLEEPER]);
  const asRoot = vassalFile(dir, 'asroot.ini', bob, [SLEEPER, 'exec-as-root = id']);
  // uWSGI started unprivileged handles its own uid/gid options: as a non-root process it cannot use them
  vassalFile(dir, 'py.ini', bob, ['plugins = python3', 'http-socket = 127.0.0.1:20601', 'wsgi-file = %dwsgi_app.py', 'uid = 0', 'gid = 0']);

  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant', '--emperor-freq', '1']);
  t.after(() => emperor.kill());

  assertRunsAs(await appPid(emperor, 'alice.ini'), alice, [alice.gid, extra.gid], 'alice.ini');
  assertRunsAs(await appPid(emperor, 'bob.ini'), bob, [bob.gid], 'bob.ini');

  await emperor.waitEvent('refused', 'rootfile.ini');
  const refusal = emperor.events('refused', 'rootfile.ini')[0];
  assert.match(refusal.msg, /rootfile\.ini is owned by uid 0 gid 0, and a tyrant never runs a vassal as root/);

  await emperor.waitEvent('setup-error', 'sneaky.ini');
  assert.match(String(emperor.events('setup-error', 'sneaky.ini')[0].error), new RegExp(`${sneaky}:2: uid: uid '0' in tyrant mode`));
  assert.equal(emperor.events('spawned', 'sneaky.ini').length, 0, 'nothing of sneaky.ini was started');
  await emperor.waitEvent('setup-error', 'asroot.ini');
  assert.match(
    String(emperor.events('setup-error', 'asroot.ini')[0].error),
    new RegExp(
      `${asRoot}:3: exec-as-root: runs as root, and a tyrant never runs a tenant's file as host root: add 'user' to --emperor-use-clone`,
    ),
  );
  assert.equal(emperor.events('spawned', 'asroot.ini').length, 0);

  const body = await until(() => httpGet(20601), 'the uWSGI vassal to answer');
  assert.equal(body, `uid ${bob.uid}`);
  const uwsgiPid = emperor.events('spawned', 'py.ini')[0].pid as number;
  assert.deepEqual(procIdentity(uwsgiPid).uid, [bob.uid, bob.uid, bob.uid, bob.uid], 'the uWSGI vassal runs as bob');
  assert.equal(procIdentity(uwsgiPid).capEff, 0n);

  // several rescans and a touch later the root-owned file is still refused by that one line
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(path.join(dir, 'rootfile.ini'), later, later);
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(emperor.events('refused', 'rootfile.ini').length, 1, 'one refusal line, not one per rescan');
  assert.equal(emperor.events('spawned', 'rootfile.ini').length, 0);
});

test("a file whose owner changes while running is stopped, restarted as the new owner, and refused once it is root's", async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const dir = tmpdir('tyrantown');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = vassalFile(dir, 'app.ini', alice, [SLEEPER]);
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant', '--emperor-freq', '1']);
  t.after(() => emperor.kill());

  const first = await appPid(emperor, 'app.ini');
  assertRunsAs(first, alice, [alice.gid], 'before the chown');

  fs.chownSync(file, bob.uid, bob.gid);
  await emperor.waitEvent('owner-changed', 'app.ini');
  const second = await appPid(emperor, 'app.ini', 2);
  assert.notEqual(second, first);
  await until(() => !fs.existsSync(`/proc/${first}`), "alice's app to be gone");
  assertRunsAs(second, bob, [bob.gid], 'after the chown');

  fs.chownSync(file, 0, 0);
  await emperor.waitEvent('refused', 'app.ini');
  await until(() => !fs.existsSync(`/proc/${second}`), "bob's app to be stopped");
  assert.equal(emperor.events('app-started', 'app.ini').length, 2, 'not started as root');
  await until(() => emperor.vassalPids().length === 0, 'no process of the vassal left');
});

test('passwd and group lookups read the files on every call', (t) => {
  assert.deepEqual({ ...userOf(0), shell: undefined }, { name: 'root', gid: 0, home: '/root', shell: undefined });
  assert.equal(uidOf('root'), 0);
  assert.equal(uidOf('4242'), 4242, 'a number is taken as it is, known or not');
  assert.equal(uidOf('no-such-user-x1'), undefined);
  assert.equal(gidOf('nogroup'), 65534);
  assert.equal(groupNameOf(65534), 'nogroup');
  assert.equal(groupNameOf(4242424), undefined);

  // made after the first reads: a cache would miss them
  const extra = createGroup(t);
  const user = createUser(t, { groups: [extra.name] });
  assert.deepEqual(userOf(user.uid), { name: user.name, gid: user.gid, home: '/nonexistent', shell: '/usr/sbin/nologin' });
  assert.equal(uidOf(user.name), user.uid);
  assert.equal(gidOf(extra.name), extra.gid);
  assert.equal(groupNameOf(extra.gid), extra.name);
  assert.deepEqual(
    supplementaryGroups(user.uid, user.gid).sort((a, b) => a - b),
    [user.gid, extra.gid].sort((a, b) => a - b),
  );
  assert.deepEqual(supplementaryGroups(4242424, 77), [77], 'a uid without a passwd entry has its gid only');
});
