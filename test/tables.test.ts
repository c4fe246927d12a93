// The shared tables (src/tables): config file types, clone flags and namespaces, protocol bytes. The passwd and
// group lookups need real users: test/tyrant.users.test.ts.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_FILE_TYPES, configFlagOf, formatOfName, isConfigExtension } from '../src/tables/formats';
import { CLONE_NEWUSER, NAMESPACE_WORDS, UNSHARE_WORDS, cloneFlagOf, namespaceOf } from '../src/tables/namespaces';
import { FROM_VASSAL, TO_VASSAL } from '../src/tables/uwsgi-protocol';

test("config file types: uWSGI's six extensions, matched case-sensitively at the end of the name", () => {
  assert.deepEqual(CONFIG_FILE_TYPES.map((t) => t.extension).sort(), ['.ini', '.js', '.json', '.xml', '.yaml', '.yml']);
  const expected: Array<[string, string | undefined, string]> = [
    ['app.ini', 'ini', '--ini'],
    ['app.xml', 'xml', '--xml'],
    ['app.yml', 'yaml', '--yaml'],
    ['app.yaml', 'yaml', '--yaml'],
    ['app.js', 'json', '--json'],
    ['app.json', 'json', '--json'],
    ['.hidden.ini', 'ini', '--ini'],
    ['app.INI', undefined, '--config'],
    ['app.conf', undefined, '--config'],
    ['app.ini.socket', undefined, '--config'],
    ['app', undefined, '--config'],
  ];
  for (const [name, format, flag] of expected) {
    assert.equal(formatOfName(name), format, name);
    assert.equal(isConfigExtension(name), format !== undefined, name);
    assert.equal(configFlagOf(name), flag, name);
  }
  // a section vassal of a multi-section file is run as its file is
  assert.deepEqual(['app.ini:app2', 'a.xml:one', 'a.yml:s', 'a:b.json', 'app.conf:x'].map(configFlagOf), [
    '--ini',
    '--xml',
    '--yaml',
    '--json',
    '--config',
  ]);
});

test("clone flags: uWSGI's unshare words, the kernel values, and the namespaces spawn() creates", () => {
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

test('protocol bytes as uWSGI sends them', () => {
  assert.deepEqual(TO_VASSAL, { stop: 0, reload: 1, gracefulStop: 2 });
  assert.deepEqual(
    [FROM_VASSAL.spawned, FROM_VASSAL.accepting, FROM_VASSAL.loyal, FROM_VASSAL.voluntaryShutdown, FROM_VASSAL.heartbeat],
    [1, 5, 17, 22, 26],
  );
});
