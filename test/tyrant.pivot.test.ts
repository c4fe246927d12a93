// A tenant's vassal jails itself with as-root steps under a tyrant with `emperor-use-clone = user`: it bind-mounts
// its own tree, pivot_roots into it, mounts /proc and detaches the old root, all as root of its own user namespace
// only; on the host every process of it is the file's owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, childrenOf, tmpdir, vassalInit } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { createUser, procIdentity } from './helpers/users';

test("a tenant's vassal pivot_roots into its own busybox tree inside its user namespace", async (t) => {
  const alice = createUser(t);
  const dir = tmpdir('tyrantpivot');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  for (const d of ['bin', 'proc', 'old']) fs.mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(root, 'bin/sh'));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  const file = path.join(vassals, 'jail.ini');
  fs.writeFileSync(
    file,
    [
      '[uwsgi]',
      `hook-in-jail = mount:none ${root} ${root} bind`,
      `pivot_root = ${root} ${root}/old`,
      'hook-as-root = mount:proc none /proc',
      'hook-as-root = umount:/old rec,detach',
      'chdir = /',
      'unprivileged-binary-patch-arg = exec /bin/busybox sleep 3600',
    ].join('\n') + '\n',
    { mode: 0o644 },
  );
  fs.chownSync(file, alice.uid, alice.gid);

  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-tyrant', '--emperor-use-clone', 'user']);
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'jail.ini');
  assert.deepEqual(emperor.events('step-failed', 'jail.ini'), []);
  const init = vassalInit(emperor.events('spawned', 'jail.ini')[0].pid as number);
  const app = await until(() => childrenOf(init)[0], 'the app');
  const appRoot = `/proc/${app}/root`;
  assert.ok(fs.existsSync(`${appRoot}/bin/busybox`) && !fs.existsSync(`${appRoot}/etc`), 'the app lives in its own tree');
  assert.equal(fs.readFileSync(`${appRoot}/proc/1/comm`, 'utf8').trim(), 'emperor-init', "its /proc is its own pid namespace's");
  assert.deepEqual(fs.readdirSync(`/proc/${app}/root/old`), [], 'the old root is detached');
  for (const pid of [init, app])
    assert.deepEqual(procIdentity(pid).uid, [alice.uid, alice.uid, alice.uid, alice.uid], `pid ${pid} is alice on the host`);
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(root), false, 'no mount of it on the host');
});
