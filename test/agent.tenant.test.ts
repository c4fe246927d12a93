// A tenant's agent holds the tenant's real uid, gid and groups and no capability: the kernel decides what it may
// read (search permission on every directory, POSIX ACLs), never the file's mode bits alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentPids, expectHostError, openTmpdir, testPool } from './helpers/agents';
import { createGroup, createUser, procIdentity } from './helpers/users';

test('a world-readable file in a root 0700 directory is EACCES for a tenant (search permission), readable for root', async (t) => {
  const tenant = createUser(t);
  const dir = openTmpdir(t, 'agent-tenant');
  const pool = testPool(t);
  const priv = path.join(dir, 'private');
  fs.mkdirSync(priv, { mode: 0o700 });
  fs.writeFileSync(path.join(priv, 'secret.ini'), '[uwsgi]\n', { mode: 0o644 });
  const host = pool.host({ uid: tenant.uid, gid: tenant.gid, groups: [tenant.gid] }, 5000);
  await expectHostError(
    () => host.readFile(path.join(priv, 'secret.ini'), 100),
    'EACCES',
    new RegExp(`^reading ${priv}/secret\\.ini: EACCES \\(permission denied\\)$`),
  );
  assert.equal(host.stat(path.join(priv, 'secret.ini'), true), null, 'stat needs search permission too');
  await expectHostError(() => host.readdir(priv), 'EACCES');
  assert.equal(pool.host(null, 5000).readFile(path.join(priv, 'secret.ini'), 100).toString(), '[uwsgi]\n');

  const [agent] = agentPids().filter((pid) => procIdentity(pid).uid[0] === tenant.uid);
  const id = procIdentity(agent);
  assert.deepEqual([id.uid, id.gid, id.groups], [Array(4).fill(tenant.uid), Array(4).fill(tenant.gid), [tenant.gid]]);
  assert.deepEqual([id.capEff, id.capPrm, id.capAmb, id.noNewPrivs], [0n, 0n, 0n, 1]);
});

test('a file a tenant may read only through a POSIX ACL is readable by that tenant, not by another', async (t) => {
  const alice = createUser(t);
  const bob = createUser(t);
  const dir = openTmpdir(t, 'agent-acl');
  const pool = testPool(t);
  const file = path.join(dir, 'shared.ini');
  fs.writeFileSync(file, 'for alice\n', { mode: 0o600 });
  execFileSync('setfacl', ['-m', `u:${alice.name}:r`, file]);
  assert.equal(fs.statSync(file).mode & 0o077, 0o040, 'the mode bits show only the ACL mask: no "other" read');
  assert.equal(
    pool
      .host({ uid: alice.uid, gid: alice.gid, groups: [alice.gid] }, 5000)
      .readFile(file, 100)
      .toString(),
    'for alice\n',
  );
  await expectHostError(() => pool.host({ uid: bob.uid, gid: bob.gid, groups: [bob.gid] }, 5000).readFile(file, 100), 'EACCES');
});

test('supplementary groups count: a file of a group the tenant is in is readable', async (t) => {
  const team = createGroup(t);
  const tenant = createUser(t, { groups: [team.name] });
  const dir = openTmpdir(t, 'agent-groups');
  const pool = testPool(t);
  const file = path.join(dir, 'team.ini');
  fs.writeFileSync(file, 'team\n', { mode: 0o640 });
  fs.chownSync(file, 0, team.gid);
  await expectHostError(() => pool.host({ uid: tenant.uid, gid: tenant.gid, groups: [tenant.gid] }, 5000).readFile(file, 100), 'EACCES');
  const host = pool.host({ uid: tenant.uid, gid: tenant.gid, groups: [tenant.gid, team.gid] }, 5000);
  assert.equal(host.readFile(file, 100).toString(), 'team\n');
  assert.deepEqual(host.exec('id -G', dir, 100).toString().trim().split(' ').map(Number).sort(), [tenant.gid, team.gid].sort());
});

test("exec runs as the tenant, without capabilities, with the pool's environment, in cwd", async (t) => {
  const tenant = createUser(t);
  const dir = openTmpdir(t, 'agent-exec-tenant');
  const pool = testPool(t, { env: { PATH: '/usr/bin:/bin', MARK: 'from-the-pool' } });
  const host = pool.host({ uid: tenant.uid, gid: tenant.gid, groups: [tenant.gid] }, 5000);
  const out = host.exec('id -u; grep -E "^(CapEff|CapPrm|CapAmb|NoNewPrivs):" /proc/self/status; echo "$MARK"; pwd', dir, 1000).toString();
  assert.equal(
    out,
    `${tenant.uid}\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nfrom-the-pool\n${dir}\n`,
  );
  await expectHostError(() => host.exec('true', '/root', 100), 'EACCES', /^running 'true' in \/root: EACCES/);
});
