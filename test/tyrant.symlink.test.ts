// Symlinked vassal files under a tyrant (README "Whose file it is"). By default the owner is the owner of the file
// the link leads to, and a link on the way must be root's or that owner's (the rule of fs.protected_symlinks, in
// every directory): a tenant's link to another user's file is refused, never run as either of them, while root's
// link to a tenant's file runs as the tenant. With --emperor-tyrant-nofollow the owner is the link's own, and the
// file it leads to must be that owner's or root's. The file is read with the owner's rights either way.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, childrenOf, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { createUser, procIdentity, type TestUser } from './helpers/users';

interface Setup {
  alice: TestUser;
  bob: TestUser;
  dir: string;
}

/**
 * alice plants evil.ini -> bob's own config in his directory, peek.ini -> bob's private (0600) config, mine.ini ->
 * her own config and skel.ini -> a skeleton of root's; root plants rootlink.ini -> alice's own config.
 */
function setup(t: TestContext, prefix: string): Setup {
  const alice = createUser(t);
  const bob = createUser(t);
  const dir = tmpdir(prefix);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals, { mode: 0o755 });
  const own = (user: TestUser, name: string, mode = 0o644): string => {
    const home = path.join(dir, user.name);
    fs.mkdirSync(home, { mode: 0o755, recursive: true });
    const file = path.join(home, name);
    fs.writeFileSync(file, '[uwsgi]\nenv = SECRET=%n\nunprivileged-binary-patch-arg = exec sleep 3600\n', { mode });
    fs.chownSync(file, user.uid, user.gid);
    return file;
  };
  fs.symlinkSync(own(bob, 'bob.ini'), path.join(vassals, 'evil.ini'));
  fs.lchownSync(path.join(vassals, 'evil.ini'), alice.uid, alice.gid);
  fs.symlinkSync(own(bob, 'private.ini', 0o600), path.join(vassals, 'peek.ini'));
  fs.lchownSync(path.join(vassals, 'peek.ini'), alice.uid, alice.gid);
  fs.symlinkSync(own(alice, 'alice.ini'), path.join(vassals, 'rootlink.ini'));
  const alicesLink = (name: string, target: string) => {
    fs.symlinkSync(target, path.join(vassals, name));
    fs.lchownSync(path.join(vassals, name), alice.uid, alice.gid);
  };
  alicesLink('mine.ini', own(alice, 'mine.ini'));
  const skel = path.join(dir, 'app.skel');
  fs.writeFileSync(skel, '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 3600\n', { mode: 0o644 });
  alicesLink('skel.ini', skel);
  return { alice, bob, dir: vassals };
}

async function runsAs(emperor: EmperorProcess, vassal: string): Promise<number> {
  await emperor.waitEvent('app-started', vassal);
  const init = emperor.events('spawned', vassal)[0].pid as number;
  const app = await until(() => childrenOf(init)[0], `the app of ${vassal}`);
  const id = procIdentity(app);
  assert.equal(new Set([...id.uid, ...id.gid.map((g) => -g)]).size, 2, 'one uid and one gid in every slot');
  assert.equal(id.capEff, 0n);
  return id.uid[0];
}

async function refused(emperor: EmperorProcess, vassal: string, reason: RegExp): Promise<void> {
  await emperor.waitEvent('refused', vassal);
  assert.match(emperor.events('refused', vassal)[0].msg, reason);
  assert.equal(emperor.events('spawned', vassal).length, 0, `${vassal} never runs`);
}

test("default (follow): a tenant's link to another's file is refused; a root link to a tenant file and a tenant's link to her own run as the tenant", async (t) => {
  const { alice, bob, dir } = setup(t, 'tyrantlink');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant']);
  t.after(() => emperor.kill());
  assert.equal(await runsAs(emperor, 'rootlink.ini'), alice.uid, "alice's config runs as alice even through root's link");
  assert.equal(await runsAs(emperor, 'mine.ini'), alice.uid, "alice's link to her own config runs as alice");
  const protectedSymlinks = new RegExp(
    `the symlink ${dir}/evil\\.ini on its path is uid ${alice.uid} \\(${alice.name}\\)'s, neither root's nor the owner's \\(uid ${bob.uid}`,
  );
  await refused(emperor, 'evil.ini', protectedSymlinks);
  // read as bob (the owner the scan guessed), who may read it: refused all the same, and nothing of it shown
  await refused(emperor, 'peek.ini', /the symlink .*peek\.ini on its path is uid/);
  // a root-owned skeleton is nobody's a tyrant runs: the owner is the file's (root) by default
  await refused(emperor, 'skel.ini', /owned by uid 0 gid 0/);
  assert.equal(emperor.events('spawned').filter((e) => e.vassal !== 'rootlink.ini' && e.vassal !== 'mine.ini').length, 0);
});

test("--emperor-tyrant-nofollow: a link runs as the link's owner when it leads to her own or root's file; to another's, or root's own link, is refused", async (t) => {
  const { alice, bob, dir } = setup(t, 'tyrantnofollow');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant', '--emperor-tyrant-nofollow']);
  t.after(() => emperor.kill());
  assert.equal(await runsAs(emperor, 'mine.ini'), alice.uid, "alice's link to her own config runs as alice");
  assert.equal(await runsAs(emperor, 'skel.ini'), alice.uid, "alice's link to root's skeleton runs as alice");
  await refused(
    emperor,
    'evil.ini',
    new RegExp(`the symlink is uid ${alice.uid} \\(${alice.name}\\)'s and the file it points to \\(.*bob\\.ini\\) is uid ${bob.uid}`),
  );
  await refused(emperor, 'rootlink.ini', /owned by uid 0 gid 0/);
  // the emperor reads the config with the owner's rights: alice's link does not leak bob's private file to her
  await emperor.waitEvent('setup-error', 'peek.ini');
  assert.match(String(emperor.events('setup-error', 'peek.ini')[0].error), /reading .*peek\.ini: EACCES/);
  assert.equal(emperor.events('spawned', 'peek.ini').length, 0);
});
