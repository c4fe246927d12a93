// The paranoid emperor: its own config says uid = 10000, gid = 10000, cap = setgid,setuid. It runs as that uid
// holding exactly those two capabilities, still starts each tenant's vassal as its file's owner (with no
// capability left), explains what it cannot do unprivileged, and when it is SIGKILLed nothing of theirs is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, childrenOf, httpGet, vassalInit } from './helpers/emperor-process';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';
import { createUser, procIdentity, SETUID_SETGID, tenantDirs, vassalFile } from './helpers/users';
import { PARANOID_UID, paranoidEmperor } from './helpers/paranoid';

const uwsgiVassal = (port: number) => [
  'plugins = python3',
  `http-socket = 127.0.0.1:${port}`,
  'wsgi-file = %dwsgi_app.py',
  'processes = 1',
];

test('paranoid emperor: uid 10000 with exactly setuid+setgid, tenants as their owners, nothing left after SIGKILL', async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'paranoid');
  fs.writeFileSync(
    path.join(vassals, 'wsgi_app.py'),
    "import os\ndef application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    return [b'uid %d' % os.getuid()]\n",
  );
  const [alicePort, bobPort] = await freePorts(2);
  vassalFile(vassals, 'alice-py.ini', alice, uwsgiVassal(alicePort));
  vassalFile(vassals, 'bob-py.ini', bob, uwsgiVassal(bobPort));
  // a native vassal's init needs a pid namespace: without CAP_SYS_ADMIN only inside a user namespace of its own
  vassalFile(vassals, 'alice-native.ini', alice, ['unprivileged-binary-patch-arg = exec sleep 3600']);
  // what a tenant's @(exec://) runs as, written down by its own app: never with the emperor's capabilities
  const out = path.join(dir, 'out');
  fs.mkdirSync(out, { mode: 0o777 });
  fs.chmodSync(out, 0o777);
  vassalFile(vassals, 'bob-native.ini', bob, [
    'unshare = user',
    `unprivileged-binary-patch-arg = echo '@(exec://id -u) @(exec://grep -E "^Cap(Amb|Eff)" /proc/self/status | tr -s "\\t\\n" "  ")' > ${out}/bob && exec sleep 3600`,
  ]);
  const ini = path.join(dir, 'emperor.ini');
  fs.writeFileSync(
    ini,
    `[uwsgi]\nemperor = ${vassals}\nemperor-tyrant = true\nuid = ${PARANOID_UID}\ngid = ${PARANOID_UID}\ncap = setgid,setuid\n`,
  );

  const launcher = new EmperorProcess(['--ini', ini]);
  t.after(() => launcher.kill());
  await launcher.waitEvent('start');
  // the privilege drop re-execs the emperor in place: same pid, no root process left behind
  const emperorPid = launcher.pid;
  assert.deepEqual(
    childrenOf(launcher.pid).filter((p) => procIdentity(p).uid[0] === 0),
    [],
    'no root child waits for it',
  );
  const me = procIdentity(emperorPid);
  assert.deepEqual(me.uid, [PARANOID_UID, PARANOID_UID, PARANOID_UID, PARANOID_UID]);
  assert.deepEqual(me.gid, [PARANOID_UID, PARANOID_UID, PARANOID_UID, PARANOID_UID]);
  assert.equal(me.capEff, SETUID_SETGID, `CapEff ${me.capEff.toString(16)}`);
  assert.equal(me.capPrm, SETUID_SETGID);
  // what it cannot do for want of a capability is said once, at start, with what to do instead
  const limited = launcher.events('capability-limited');
  assert.equal(limited.length, 1);
  const notes = (limited[0].notes as string[]).join('\n');
  assert.match(notes, /native vassals .* user namespace of their own \(no CAP_SYS_ADMIN\): add 'user' to --emperor-use-clone/);
  assert.match(notes, new RegExp(`readable, .* by uid ${PARANOID_UID} \\(no CAP_DAC_OVERRIDE\\)`));
  assert.match(notes, /a uWSGI vassal reads its file by name, not the bytes whose owner was checked/);
  assert.doesNotMatch(notes, /CAP_KILL/, 'with its cgroup tree, nothing needs a signal');
  // the cgroup subtree was handed to it before the drop: it runs in its leaf, each vassal gets a cgroup of its own
  assert.equal(launcher.events('no-cgroup').length, 0, JSON.stringify(launcher.events('no-cgroup')));
  assert.equal(launcher.events('no-helper-cgroup').length, 0);
  assert.match(fs.readFileSync(`/proc/${emperorPid}/cgroup`, 'utf8'), new RegExp(`^0::.*/emperor\\.${emperorPid}/supervisor$`, 'm'));

  assert.equal(await until(() => httpGet(alicePort), "alice's uWSGI vassal"), `uid ${alice.uid}`);
  assert.equal(await until(() => httpGet(bobPort), "bob's uWSGI vassal"), `uid ${bob.uid}`);
  for (const [name, user] of [
    ['alice-py.ini', alice],
    ['bob-py.ini', bob],
  ] as const) {
    const id = procIdentity(launcher.events('spawned', name)[0].pid as number);
    assert.deepEqual(id.uid, [user.uid, user.uid, user.uid, user.uid], `${name}: uid`);
    assert.deepEqual(id.groups, [user.gid], `${name}: groups`);
    assert.equal(id.capEff | id.capPrm | id.capAmb, 0n, `${name}: the emperor's ambient capabilities do not leak into it`);
    const cgroup = launcher.events('spawned', name)[0].cgroup as string;
    assert.match(cgroup, new RegExp(`/emperor\\.${emperorPid}/${name.replace('.', '\\.')}\\.\\d+$`));
    assert.ok(
      fs
        .readFileSync(path.join(cgroup, 'cgroup.procs'), 'utf8')
        .split('\n')
        .includes(String(launcher.events('spawned', name)[0].pid)),
      `${name} runs in its cgroup`,
    );
  }

  await launcher.waitEvent('setup-error', 'alice-native.ini');
  assert.match(
    String(launcher.events('setup-error', 'alice-native.ini')[0].error),
    /needs CAP_SYS_ADMIN to create its [a-z,]*pid[a-z,]* namespaces .* add 'user' to --emperor-use-clone/,
  );
  await launcher.waitEvent('app-started', 'bob-native.ini');
  const bobInit = vassalInit(launcher.events('spawned', 'bob-native.ini')[0].pid as number);
  const bobApp = await until(() => childrenOf(bobInit)[0], "bob's native app");
  assert.deepEqual(procIdentity(bobApp).uid, [bob.uid, bob.uid, bob.uid, bob.uid], 'root of its user namespace is bob on the host');
  const seen = await until(
    () => fs.existsSync(path.join(out, 'bob')) && fs.readFileSync(path.join(out, 'bob'), 'utf8'),
    "bob's @(exec://) output",
  );
  assert.match(
    seen,
    new RegExp(`^${bob.uid} CapEff:\\s*0+ CapAmb:\\s*0+`),
    `@(exec://) in a tenant's file runs as the tenant, with no capability: ${seen}`,
  );

  // its helpers (the config readers, their agents working as the tenants) each run in a cgroup of its own, which is
  // how it ends one that its closed channel does not end: no signal it may not send
  const helpers = launcher.taggedPids().filter((p) => !launcher.vassalPids().includes(p));
  assert.ok(helpers.length >= 2, `a reader and an agent run (${helpers.join(',')})`);
  for (const p of helpers)
    assert.match(
      fs.readFileSync(`/proc/${p}/cgroup`, 'utf8'),
      new RegExp(`^0::.*/emperor\\.${emperorPid}/helpers/(reader|agent)\\.\\d+(/agent\\.\\d+)?$`, 'm'),
    );

  const tenants = launcher.vassalPids().filter((p) => p !== emperorPid);
  assert.ok(tenants.length >= 4, `the vassals run (${tenants.join(',')})`);
  process.kill(emperorPid, 'SIGKILL');
  await until(() => launcher.taggedPids().length === 0, 'nothing of the tenants left after the emperor is SIGKILLed');
  assert.equal((await launcher.waitExit()).signal, 'SIGKILL');
});

test('paranoid emperor: SIGTERM is Ragnarok as usual: it buries its vassals and exits 0', async (t) => {
  const alice = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'paranoidterm');
  vassalFile(vassals, 'app.ini', alice, ['unshare = user', 'unprivileged-binary-patch-arg = exec sleep 3600']);
  const launcher = paranoidEmperor(t, dir, ['--emperor', vassals, '--emperor-tyrant']);
  await launcher.waitEvent('app-started', 'app.ini');
  launcher.child.kill('SIGTERM');
  await launcher.waitEvent('buried');
  assert.equal((await launcher.waitExit()).code, 0);
  assert.deepEqual(launcher.taggedPids(), []);
});

// Once seen in the whole suite: two tagged pids alive after the emperor had said "buried" and exited 0. They were
// alice's agent, which the config reader had started: the emperor SIGKILLed its reader and exited at once, and the
// agent died later, of the reader's death. Now the emperor closes its readers, each closes its agents and exits once
// they have, and what does not end that way (a read in flight, a command its agent runs, a daemon such a command left)
// is killed through the helpers' cgroups, before "buried". Without that, this test fails every time: the commands
// below survive the emperor.
test('paranoid emperor: once it says buried, nothing it started is left: no reader, agent, command or daemon of theirs', async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const { dir, vassals } = tenantDirs(t, 'paranoidburied');
  const sleeper = ['unshare = user', 'unprivileged-binary-patch-arg = exec sleep 3600'];
  vassalFile(vassals, 'app.ini', alice, sleeper);
  // a command that leaves a daemon of its own session behind, out of its agent's process group (it waits until the
  // daemon has left the group, which its agent kills once the command is done)
  const daemonize = path.join(dir, 'daemonize.sh');
  fs.writeFileSync(
    daemonize,
    'setsid sleep 601 > /dev/null 2>&1 < /dev/null &\np=$!\nwhile [ "$(cut -d" " -f6 /proc/$p/stat)" != "$p" ]; do sleep 0.05; done\n',
    { mode: 0o755 },
  );
  vassalFile(vassals, 'daemon.ini', alice, [`env = D=@(exec://sh ${daemonize})`, ...sleeper]);
  // a read still in flight at Ragnarok: its agent runs the command, its reader waits for the agent
  vassalFile(vassals, 'slow.ini', bob, ['env = S=@(exec://sleep 602)', ...sleeper]);
  const launcher = paranoidEmperor(t, dir, ['--emperor', vassals, '--emperor-tyrant', '--emperor-config-timeout', '120']);
  await launcher.waitEvent('app-started', 'app.ini');
  await launcher.waitEvent('app-started', 'daemon.ini');
  const running = (arg: string) => launcher.taggedPids().filter((p) => cmdline(p) === `sleep ${arg}`);
  await until(() => running('601').length > 0 && running('602').length > 0, "the daemon and bob's command running");
  const helpers = launcher.taggedPids().filter((p) => ['emperor-reader', 'emperor-agent'].includes(cmdline(p).split(' ')[0]));
  assert.ok(helpers.length >= 3, `a reader and the agents of alice and bob run (${helpers.join(',')})`);

  launcher.child.kill('SIGTERM');
  await launcher.waitEvent('buried');
  assert.equal((await launcher.waitExit()).code, 0);
  assert.deepEqual(
    launcher.taggedPids().map((p) => `${p} ${cmdline(p)}`),
    [],
    'nothing tagged is left',
  );
  assert.deepEqual(launcher.events('helpers-stuck'), []);
});

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}
