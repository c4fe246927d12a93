// Symlinked vassal files under a tyrant. The rule: by default the owner is the owner of the file the link points
// to (stat, as uWSGI), so a link runs the target's config as the target's owner, the user who wrote that config;
// with --emperor-tyrant-nofollow the owner is the link's own (lstat), so whoever planted the link is who it runs
// as. Either way, a root owner on the side that counts is refused, and the config is read with the owner's rights
// (a link to a file its owner cannot read is a broken config, not a way to read it).
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
 * alice plants evil.ini -> bob's own config in his directory, and peek.ini -> bob's private (0600) config; root
 * plants rootlink.ini -> alice's own config.
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

test("default (follow): a tenant's link to another's file runs as the target's owner; a root link to a tenant file runs as the tenant", async (t) => {
  const { alice, bob, dir } = setup(t, 'tyrantlink');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant']);
  t.after(() => emperor.kill());
  assert.equal(await runsAs(emperor, 'evil.ini'), bob.uid, "bob's config runs as bob, never as alice who linked it");
  assert.equal(await runsAs(emperor, 'rootlink.ini'), alice.uid, "alice's config runs as alice even through root's link");
  assert.equal(await runsAs(emperor, 'peek.ini'), bob.uid, "bob's private config runs as bob, who can read it");
  assert.equal(emperor.events('refused').length, 0);
});

test("--emperor-tyrant-nofollow: a link runs as the link's owner, and a root-owned link is refused", async (t) => {
  const { alice, bob, dir } = setup(t, 'tyrantnofollow');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-tyrant', '--emperor-tyrant-nofollow']);
  t.after(() => emperor.kill());
  assert.equal(await runsAs(emperor, 'evil.ini'), alice.uid, 'the link planted by alice runs as alice, not as bob');
  assert.notEqual(alice.uid, bob.uid);
  await emperor.waitEvent('refused', 'rootlink.ini');
  assert.match(emperor.events('refused', 'rootlink.ini')[0].msg, /owned by uid 0 gid 0/);
  assert.equal(emperor.events('spawned', 'rootlink.ini').length, 0);
  // the emperor reads the config with the owner's rights: alice's link does not leak bob's private file to her
  await emperor.waitEvent('setup-error', 'peek.ini');
  assert.match(String(emperor.events('setup-error', 'peek.ini')[0].error), /reading .*peek\.ini: EACCES/);
  assert.equal(emperor.events('spawned', 'peek.ini').length, 0);
});
