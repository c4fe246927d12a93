// A tenant attacks her own native vassal's jail, under a tyrant emperor. Her vassal's user namespace keeps her
// groups, the negative ones included, and she cannot drop them there (setgroups denied, as for her own `unshare -r`):
// what her shell cannot read, her vassal cannot read. And her vassal's init is no process of hers to take
// descriptors from (pidfd_getfd), neither from her shell nor from her app, root of its own user namespace.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, childrenOf, comm, httpGet, tmpdir, vassalInit } from './helpers/emperor-process';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';
import { createGroup, createUser, procIdentity, vassalFile, type TestUser } from './helpers/users';

/** Takes fd FD of process PID through pidfd_getfd (438 on x86_64 and aarch64): prints 'took' or 'errno N'. */
const TAKE_FD = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(int(sys.argv[1]))
print('took' if libc.syscall(438, pidfd, int(sys.argv[2]), 0) >= 0 else 'errno %d' % ctypes.get_errno())
`;

interface Scene {
  dir: string;
  vassals: string;
  out: string;
  takeFd: string;
}

function scene(t: TestContext, tag: string): Scene {
  const dir = tmpdir(tag);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.chmodSync(out, 0o777);
  const takeFd = path.join(dir, 'take-fd.py');
  fs.writeFileSync(takeFd, TAKE_FD, { mode: 0o644 });
  return { dir, vassals, out, takeFd };
}

/** What `sh -c SCRIPT` prints, stdout and stderr together, run as user, whatever its status. */
function asUser(user: TestUser, script: string): string {
  const r = spawnSync('runuser', ['-u', user.name, '--', '/bin/sh', '-c', `exec 2>&1; ${script}`], { encoding: 'utf8', timeout: 10000 });
  if (r.error) throw r.error;
  return r.stdout;
}

/** Alice, a member of group blocked, and a file root:blocked 0604: readable by others, except that group. */
function blockedScene(t: TestContext, tag: string): { alice: TestUser; blocked: { gid: number }; s: Scene; secret: string } {
  const blocked = createGroup(t, 'blk');
  const alice = createUser(t, { groups: [blocked.name] });
  const s = scene(t, tag);
  const secret = path.join(s.dir, 'secret');
  fs.writeFileSync(secret, 'not for the blocked group\n');
  fs.chownSync(secret, 0, blocked.gid);
  fs.chmodSync(secret, 0o604);
  return { alice, blocked, s, secret };
}

function startTyrant(t: TestContext, vassals: string, extra: string[] = []): EmperorProcess {
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', ...extra]);
  t.after(() => emperor.kill());
  return emperor;
}

test("a negative group stays in her vassal's user namespace: it reads what her shell reads, no more, and cannot drop it", async (t) => {
  const { alice, blocked, s, secret } = blockedScene(t, 'negative-groups');
  const attempt = `cat ${secret}; echo status=$?`;
  const shell = asUser(alice, attempt);
  assert.match(shell, /Permission denied\nstatus=1\n$/, 'her shell cannot read it: the group bits deny her group');
  assert.equal(asUser(alice, `unshare -r sh -c '${attempt}'`), shell, 'nor can her own unprivileged user namespace');

  const attack = path.join(s.dir, 'attack.sh');
  fs.writeFileSync(
    attack,
    [
      `{ ${attempt}; } > ${s.out}/cat 2>&1`,
      `cat /proc/self/setgroups > ${s.out}/setgroups`,
      `/usr/bin/python3 -c 'import os\ntry:\n  os.setgroups([]); print("dropped")\nexcept OSError as e:\n  print("errno", e.errno)' > ${s.out}/drop 2>&1`,
      `touch ${s.out}/done`,
      'exec sleep 3600',
    ].join('\n') + '\n',
    { mode: 0o644 },
  );
  vassalFile(s.vassals, 'nosy.ini', alice, ['unshare = user', `unprivileged-binary-patch-arg = exec /bin/sh ${attack}`]);
  const emperor = startTyrant(t, s.vassals);
  await emperor.waitEvent('app-started', 'nosy.ini');
  await until(() => fs.existsSync(path.join(s.out, 'done')), 'the attack to run');
  const read = (f: string) => fs.readFileSync(path.join(s.out, f), 'utf8');
  assert.equal(read('cat'), shell, 'her vassal fails exactly as her shell does');
  assert.equal(read('setgroups'), 'deny\n', 'setgroups is denied in its user namespace');
  assert.equal(read('drop'), 'errno 1\n', 'so root of that namespace cannot drop the group (EPERM)');
  const init = vassalInit(emperor.events('spawned', 'nosy.ini')[0].pid as number);
  const app = await until(() => childrenOf(init)[0], 'the app');
  assert.deepEqual(
    procIdentity(app).groups,
    [alice.gid, blocked.gid].sort((a, b) => a - b),
    'the app keeps her groups',
  );
  assert.deepEqual(procIdentity(app).uid, [alice.uid, alice.uid, alice.uid, alice.uid], 'and is her on the host');
});

test("her uWSGI vassal in a user and pid namespace of its own keeps her groups too, and the emperor's protocol through it", async (t) => {
  const { alice, blocked, s, secret } = blockedScene(t, 'uwsgi-groups');
  fs.writeFileSync(
    path.join(s.vassals, 'app.py'),
    [
      'import os',
      'def application(env, start):',
      "    start('200 OK', [('Content-Type', 'text/plain')])",
      '    try:',
      `        open(${JSON.stringify(secret)}).read(); got = 'read'`,
      '    except OSError as e:',
      "        got = 'errno %d' % e.errno",
      "    return [('%s %s uid %d pid %d' % (got, open('/proc/self/setgroups').read().strip(), os.getuid(), os.getpid())).encode()]",
    ].join('\n') + '\n',
  );
  const [port] = await freePorts(1);
  vassalFile(s.vassals, 'py.ini', alice, ['plugins = python3', `http-socket = 127.0.0.1:${port}`, 'wsgi-file = %dapp.py', 'master = true']);
  const emperor = startTyrant(t, s.vassals, ['--emperor-use-clone', 'user,pid']);
  const answer = await until(() => httpGet(port), 'the uWSGI vassal to answer');
  assert.match(answer, /^errno 13 deny uid 0 pid \d+$/, 'EACCES as in her shell; setgroups denied; root of its namespace');
  const spawned = emperor.events('spawned', 'py.ini')[0].pid as number;
  const master = vassalInit(spawned);
  assert.notEqual(master, spawned, 'uWSGI is pid 1 of its namespace, emperor-init outside it');
  assert.equal(comm(master), 'uwsgi');
  assert.deepEqual(
    procIdentity(master).groups,
    [alice.gid, blocked.gid].sort((a, b) => a - b),
  );
  // the protocol goes straight to uWSGI (fd 3), and the exit back through emperor-init
  fs.rmSync(path.join(s.vassals, 'py.ini'));
  await emperor.waitEvent('exit', 'py.ini');
  const exit = emperor.events('exit', 'py.ini')[0];
  assert.deepEqual([exit.code, exit.signal], [0, null], 'stopped with the stop byte, exit status mirrored');
});

test("her vassal's init keeps its descriptors: pidfd_getfd and /proc/PID/fd are refused to her shell and to her app", async (t) => {
  const alice = createUser(t);
  const s = scene(t, 'init-fds');
  // without a user namespace the init runs as alice on the host; with one, the app is root of the vassal's namespace
  vassalFile(s.vassals, 'plain.ini', alice, ['unprivileged-binary-patch-arg = exec sleep 3600']);
  vassalFile(s.vassals, 'userns.ini', alice, [
    'unshare = user',
    `unprivileged-binary-patch-arg = /usr/bin/python3 ${s.takeFd} 1 3 > ${s.out}/from-app 2>&1; exec sleep 3600`,
  ]);
  const emperor = startTyrant(t, s.vassals);
  await emperor.waitEvent('app-started', 'plain.ini');
  await emperor.waitEvent('app-started', 'userns.ini');
  const takeFd = (pid: number, fd: number) => asUser(alice, `/usr/bin/python3 ${s.takeFd} ${pid} ${fd}`);

  const plainInit = vassalInit(emperor.events('spawned', 'plain.ini')[0].pid as number);
  assert.equal(procIdentity(plainInit).uid[0], alice.uid, 'the init runs as alice');
  const plainApp = await until(() => childrenOf(plainInit)[0], 'the app');
  assert.equal(takeFd(plainApp, 0), 'took\n', 'the attack itself works: her app is hers to take fds from');
  assert.equal(takeFd(plainInit, 3), 'errno 1\n', "the init's control socket is not (EPERM)");
  assert.match(asUser(alice, `ls /proc/${plainInit}/fd`), /Permission denied/);
  assert.doesNotMatch(asUser(alice, `ls /proc/${plainApp}/fd`), /Permission denied/);

  const usernsInit = vassalInit(emperor.events('spawned', 'userns.ini')[0].pid as number);
  assert.equal(takeFd(usernsInit, 3), 'errno 1\n', "from her shell: the init's memory is the host user namespace's");
  const fromApp = await until(
    () => fs.existsSync(path.join(s.out, 'from-app')) && fs.readFileSync(path.join(s.out, 'from-app'), 'utf8'),
    "the app's attempt",
  );
  assert.equal(fromApp, 'errno 1\n', 'from her app, root of the user namespace with CAP_SYS_PTRACE there: refused too');
});
