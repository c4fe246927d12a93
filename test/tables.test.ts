// The shared tables (src/tables): config file types, clone flags and namespaces, passwd/group lookups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_FILE_TYPES, configFlagOf, formatOfName, isConfigExtension } from '../src/tables/formats';
import { CLONE_NEWUSER, NAMESPACE_WORDS, UNSHARE_WORDS, cloneFlagOf, namespaceOf } from '../src/tables/namespaces';
import { gidOf, groupNameOf, supplementaryGroups, uidOf, userOf } from '../src/tables/passwd';
import { FROM_VASSAL, TO_VASSAL } from '../src/tables/protocol';
import { createGroup, createUser } from './helpers/users';

test('config file types: uWSGI\'s six extensions, matched case-sensitively at the end of the name', () => {
  assert.deepEqual(CONFIG_FILE_TYPES.map((t) => t.extension).sort(), ['.ini', '.js', '.json', '.xml', '.yaml', '.yml']);
  const expected: Array<[string, string | undefined, string]> = [
    ['app.ini', 'ini', '--ini'], ['app.xml', 'xml', '--xml'], ['app.yml', 'yaml', '--yaml'], ['app.yaml', 'yaml', '--yaml'],
    ['app.js', 'json', '--json'], ['app.json', 'json', '--json'], ['.hidden.ini', 'ini', '--ini'],
    ['app.INI', undefined, '--config'], ['app.conf', undefined, '--config'], ['app.ini.socket', undefined, '--config'], ['app', undefined, '--config'],
  ];
  for (const [name, format, flag] of expected) {
    assert.equal(formatOfName(name), format, name);
    assert.equal(isConfigExtension(name), format !== undefined, name);
    assert.equal(configFlagOf(name), flag, name);
  }
  // a section vassal of a multi-section file is run as its file is
  assert.deepEqual(['app.ini:app2', 'a.xml:one', 'a.yml:s', 'a:b.json', 'app.conf:x'].map(configFlagOf), ['--ini', '--xml', '--yaml', '--json', '--config']);
});

test('clone flags: uWSGI\'s unshare words, the kernel values, and the namespaces spawn() creates', () => {
  assert.equal(cloneFlagOf('fs'), 0x00020000);
  assert.equal(cloneFlagOf('mnt'), cloneFlagOf('mount'));
  assert.equal(cloneFlagOf('user'), CLONE_NEWUSER);
  assert.equal(CLONE_NEWUSER, 0x10000000);
  assert.equal(cloneFlagOf('net'), 0x40000000);
  assert.equal(cloneFlagOf('io'), 0x80000000);
  assert.equal(cloneFlagOf('bogus'), undefined);
  assert.equal(namespaceOf('ns'), 'mount');
  assert.equal(namespaceOf('pid'), 'pid');
  assert.equal(namespaceOf('cgroup'), 'cgroup');
  // unshare(2) flags that are not namespaces: unshare knows them, spawn() has no namespace for them
  for (const w of ['files', 'sysvsem', 'io']) {
    assert.ok(UNSHARE_WORDS.includes(w) && !NAMESPACE_WORDS.includes(w), w);
    assert.equal(namespaceOf(w), undefined, w);
  }
  assert.deepEqual([...NAMESPACE_WORDS].sort(), ['cgroup', 'fs', 'ipc', 'mnt', 'mount', 'net', 'ns', 'pid', 'user', 'uts']);
});

test('passwd and group lookups read the files on every call', (t) => {
  assert.deepEqual(userOf(0), { name: 'root', gid: 0 });
  assert.equal(uidOf('root'), 0);
  assert.equal(uidOf('4242'), 4242, 'a number is taken as it is, known or not');
  assert.equal(uidOf('no-such-user-x1'), undefined);
  assert.equal(gidOf('nogroup'), 65534);
  assert.equal(groupNameOf(65534), 'nogroup');
  assert.equal(groupNameOf(4242424), undefined);

  // made after the first reads: a cache would miss them
  const extra = createGroup(t);
  const user = createUser(t, { groups: [extra.name] });
  assert.deepEqual(userOf(user.uid), { name: user.name, gid: user.gid });
  assert.equal(uidOf(user.name), user.uid);
  assert.equal(gidOf(extra.name), extra.gid);
  assert.equal(groupNameOf(extra.gid), extra.name);
  assert.deepEqual(supplementaryGroups(user.uid, user.gid).sort((a, b) => a - b), [user.gid, extra.gid].sort((a, b) => a - b));
  assert.deepEqual(supplementaryGroups(4242424, 77), [77], 'a uid without a passwd entry has its gid only');
});

test('protocol bytes as uWSGI sends them', () => {
  assert.deepEqual(TO_VASSAL, { stop: 0, reload: 1, gracefulStop: 2 });
  assert.deepEqual([FROM_VASSAL.spawned, FROM_VASSAL.accepting, FROM_VASSAL.loyal, FROM_VASSAL.voluntaryShutdown, FROM_VASSAL.heartbeat], [1, 5, 17, 22, 26]);
});
