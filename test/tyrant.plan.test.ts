// The tyrant's rules for a tenant's native vassal, on real config files: what its own uid/gid/cap options may
// say, which steps need a user namespace, and the spawn identity it gets.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load } from './helpers/config-host';
import { ConfigError } from '../src/config';
import { initNamespaceArgs, tyrantPlan, tyrantSpawnOptions, wantsUserNamespace, type Owner } from '../src/emperor/tyrant';
import { compilePlan, type JailPlan } from '../src/jail';
import { createGroup, createUser } from './helpers/users';

function planOf(t: TestContext, lines: string[]): { plan: JailPlan; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-tyrantplan-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'v.ini');
  fs.writeFileSync(file, ['[uwsgi]', ...lines].join('\n') + '\n');
  return { plan: compilePlan(load(file), { vassal: 'v.ini', firstRun: true, shell: '/bin/sh' }), file };
}

const APP = 'unprivileged-binary-patch-arg = exec sleep 60';
const OWNER: Owner = { uid: 4242, gid: 4343, groups: [4343, 4444] };

function refusal(fn: () => unknown, file: string, line: number, option: string, words: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.equal(e.line, line);
    assert.equal(e.option, option);
    assert.match(e.message, words);
    return true;
  });
}

test('uid/gid naming the owner are accepted and dropped; any other uid, gid or add-gid is refused at its line', (t) => {
  const user = createUser(t);
  const owner: Owner = { uid: user.uid, gid: user.gid, groups: [user.gid] };
  const ok = planOf(t, [`uid = ${user.name}`, `gid = ${user.gid}`, APP]);
  const out = tyrantPlan(ok.plan, owner, false);
  assert.ok(
    ok.plan.steps.some((s) => s.op === 'creds'),
    'the compiled plan has the creds step',
  );
  assert.deepEqual(
    out.steps.map((s) => s.op),
    ok.plan.steps.filter((s) => s.op !== 'creds').map((s) => s.op),
  );

  const root = planOf(t, ['uid = 0', APP]);
  refusal(() => tyrantPlan(root.plan, owner, false), root.file, 2, 'uid', /cannot choose another user/);
  refusal(() => tyrantPlan(root.plan, owner, true), root.file, 2, 'uid', /cannot choose another user/);
  const byName = planOf(t, ['uid = root', APP]);
  refusal(() => tyrantPlan(byName.plan, owner, false), byName.file, 2, 'uid', /uid 'root'/);
  const gid = planOf(t, [APP, 'gid = 0']);
  refusal(() => tyrantPlan(gid.plan, owner, false), gid.file, 3, 'gid', /gid '0'/);
  const other = createGroup(t);
  const addGid = planOf(t, [`add-gid = ${other.name}`, APP]);
  refusal(() => tyrantPlan(addGid.plan, owner, false), addGid.file, 2, 'add-gid', /no others/);
  assert.doesNotThrow(() => tyrantPlan(addGid.plan, { ...owner, groups: [user.gid, other.gid] }, false), 'a group the owner is in');
});

test('cap is refused: a tenant vassal holds no capability on the host', (t) => {
  const { plan, file } = planOf(t, [APP, 'cap = net_bind_service']);
  refusal(() => tyrantPlan(plan, OWNER, false), file, 3, 'cap', /no capabilities on the host/);
  refusal(() => tyrantPlan(plan, OWNER, true), file, 3, 'cap', /no capabilities on the host/);
});

test('as-root steps are refused without a user namespace, naming the fix, and kept with one', (t) => {
  const cases: Array<[string, string]> = [
    ['exec-as-root = mkdir -p /x', 'exec-as-root'],
    ['hook-pre-jail = mount:proc none /proc', 'hook-pre-jail'],
    ['exec-in-jail = true', 'exec-in-jail'],
    ['mount-asap = proc none /proc', 'mount-asap'],
    ['umount-as-root = /x', 'umount-as-root'],
    ['chroot = /srv', 'chroot'],
    ['pivot_root = /srv /srv/old', 'pivot_root'],
    ['unshare = fs', 'unshare'],
  ];
  for (const [line, option] of cases) {
    const { plan, file } = planOf(t, [line, APP]);
    refusal(
      () => tyrantPlan(plan, OWNER, false),
      file,
      2,
      option,
      /never runs a tenant's file as host root: add 'user' to --emperor-use-clone/,
    );
    assert.equal(tyrantPlan(plan, OWNER, true).steps.length, plan.steps.length, `${option} kept in a user namespace`);
  }
  const priv = planOf(t, ['privileged-binary-patch-arg = exec sleep 60']);
  refusal(() => tyrantPlan(priv.plan, OWNER, false), priv.file, 2, 'privileged-binary-patch-arg', /host root/);
  const user = planOf(t, ['exec-as-user = true', 'mountpoint-check = /tmp', APP]);
  assert.equal(tyrantPlan(user.plan, OWNER, false).steps.length, user.plan.steps.length, 'as-user work needs no namespace');
});

test("'user' in the vassal's unshare asks for the user namespace, and is dropped from its unshare step", (t) => {
  const { plan } = planOf(t, ['unshare = user,fs', APP]);
  assert.equal(wantsUserNamespace([], plan), true);
  assert.equal(wantsUserNamespace(['user'], planOf(t, [APP]).plan), true);
  assert.equal(wantsUserNamespace(['mount', 'pid'], planOf(t, ['unshare = fs', APP]).plan), false);
  const unshare = tyrantPlan(plan, OWNER, true).steps.find((s) => s.op === 'unshare');
  assert.equal(Number(unshare?.args[0]), 0x20000, 'only the mount namespace is left to unshare');
  const onlyUser = planOf(t, ['unshare = user', APP]);
  assert.equal(
    tyrantPlan(onlyUser.plan, OWNER, true).steps.some((s) => s.op === 'unshare'),
    false,
  );
});

test('spawn identity: owner ids + groups, always no_new_privs; with a user namespace emperor-init makes every namespace itself', () => {
  const ids = { uid: 4242, gid: 4343, groups: [4343, 4444], noNewPrivs: true };
  assert.deepEqual(tyrantSpawnOptions(OWNER, ['pid'], false), { namespaces: ['pid'], ...ids });
  assert.deepEqual(tyrantSpawnOptions(OWNER, ['pid', 'net'], true), { namespaces: [], ...ids }, 'the same groups, no namespace');
  assert.deepEqual(initNamespaceArgs(['pid', 'mount', 'net'], 'slave'), [
    `--userns=${0x10000000 | 0x20000000 | 0x40000000 | 0x00020000}`,
    '--propagation=slave',
  ]);
  assert.deepEqual(initNamespaceArgs([], 'private'), [`--userns=${0x10000000}`, '--propagation=private']);
});
