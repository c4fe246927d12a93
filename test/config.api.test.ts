// The public API others code against: lookups, injections, printing, and where each option came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  formatConfigJson,
  formatShowConfig,
  getOption,
  getOptions,
  isTrue,
  isVassalFile,
  listSections,
  readEmperorConfig,
  vassalEnvironment,
} from '../src/config';
import { load, testHost } from './helpers/config-host';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-config-api-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('getOption gives the last value, getOptions all of them in order, each with file and line', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(
    path.join(dir, 'v.ini'),
    '[uwsgi]\nmaster = true\nhook-as-root = mount:proc none /proc\r\n\nmaster = false\nhook-as-root = exec:true\n',
  );
  const cfg = load('v.ini', { cwd: dir, env: {} });
  const file = path.join(dir, 'v.ini');
  assert.deepEqual(getOption(cfg, 'master'), { key: 'master', value: 'false', file, line: 5 });
  assert.deepEqual(
    getOptions(cfg, 'hook-as-root').map((o) => [o.value, o.line]),
    [
      ['mount:proc none /proc', 3],
      ['exec:true', 6],
    ],
  );
  assert.equal(getOption(cfg, 'nope'), undefined);
  assert.equal(cfg.file, file);
  assert.deepEqual(cfg.options[0], { key: 'ini', value: 'v.ini', file: '<command line>', line: 0 });
});

test('line numbers survive a "%" that joins two lines and options keep their own file', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'v.ini'), '[uwsgi]\na = x %\nb = y\nc = 1\nini = %dinc.ini\n');
  fs.writeFileSync(path.join(dir, 'inc.ini'), '[uwsgi]\n\ninc = %n\n');
  const cfg = load('v.ini', { cwd: dir, env: {} });
  assert.deepEqual(
    cfg.options.map((o) => [o.key, o.value, path.basename(o.file), o.line]),
    [
      ['ini', 'v.ini', '<command line>', 0],
      ['a', 'x b = y', 'v.ini', 2],
      ['c', '1', 'v.ini', 4],
      ['ini', `${dir}/inc.ini`, 'v.ini', 5],
      ['inc', 'inc', 'inc.ini', 3],
    ],
  );
});

test('emperor injections: UWSGI_* env first, then include-before, vassal-set, the file, vassals-include', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'app1.ini'), '[uwsgi]\nvassal_name = %n\n');
  fs.writeFileSync(path.join(dir, 'defaults.ini'), '[uwsgi]\nsocket = /tmp/sockets/%(vassal_name).sock\nwho = %n\n');
  fs.writeFileSync(path.join(dir, 'before.ini'), '[uwsgi]\nbefore = 1\n');
  const env = vassalEnvironment({ UWSGI_VASSAL_HARAKIRI: '30', UWSGI_RELOADS: '2', NOTIFY_SOCKET: '/x', PATH: '/bin' });
  assert.deepEqual(env, { PATH: '/bin', UWSGI_HARAKIRI: '30' });
  const cfg = load('app1.ini', { cwd: dir, env, set: ['processes=8'], includes: ['defaults.ini'], includesBefore: ['before.ini'] });
  assert.deepEqual(
    cfg.options.map((o) => `${o.key}=${o.value}@${path.basename(o.file)}`),
    [
      'harakiri=30@<env>',
      'include=before.ini@<command line>',
      'before=1@before.ini',
      'set=processes=8@<vassal-set>',
      'processes=8@<vassal-set>',
      'ini=app1.ini@<command line>',
      'vassal_name=app1@app1.ini',
      'include=defaults.ini@<command line>',
      'socket=/tmp/sockets/app1.sock@defaults.ini',
      'who=defaults@defaults.ini',
    ],
  );
  assert.equal(cfg.file, path.join(dir, 'app1.ini'));
});

test('if-not-reload is decided per start', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(
    path.join(dir, 'v.ini'),
    '[uwsgi]\nif-not-reload =\nexec-as-user = fuse-zip -r /a.zip /app\nendif =\nif-reload =\nreloaded = 1\nendif =\n',
  );
  const first = load('v.ini', { cwd: dir, env: {} });
  const again = load('v.ini', { cwd: dir, env: {}, isReload: true });
  assert.equal(getOptions(first, 'exec-as-user').length, 1);
  assert.equal(getOption(first, 'reloaded'), undefined);
  assert.equal(getOptions(again, 'exec-as-user').length, 0);
  assert.equal(getOption(again, 'reloaded')?.value, '1');
});

test('show-config and json printing', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'v.ini'), '[uwsgi]\nsocket = :1\nempty =\n');
  const cfg = load('v.ini', { cwd: dir, env: {} });
  assert.equal(
    formatShowConfig(cfg),
    ';uWSGI instance configuration\n[uwsgi]\nini = v.ini\nsocket = :1\nempty = \n;end of configuration\n',
  );
  const json = JSON.parse(formatConfigJson(cfg)) as { options: { key: string; file: string; line: number }[] };
  assert.deepEqual(json.options[1], { key: 'socket', value: ':1', file: path.join(dir, 'v.ini'), line: 2 });
  fs.writeFileSync(path.join(dir, 'emperor.yml'), 'uwsgi:\n  emperor: /etc/uwsgi/vassals\n');
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    assert.equal(getOption(readEmperorConfig('emperor.yml', testHost()), 'emperor')?.value, '/etc/uwsgi/vassals');
  } finally {
    process.chdir(cwd);
  }
});

test('isTrue, isVassalFile', () => {
  for (const v of ['', 'true', '1', 'yes', 'on', 'anything']) assert.equal(isTrue(v), true, v);
  for (const v of ['false', 'FALSE', 'off', 'No', '0']) assert.equal(isTrue(v), false, v);
  for (const n of ['a.ini', 'a.xml', 'a.yml', 'a.yaml', 'a.js', 'a.json', '.hidden.ini']) assert.equal(isVassalFile(n), true, n);
  for (const n of ['app.skel', 'a.ini.socket', 'README', 'x'.repeat(251) + '.ini']) assert.equal(isVassalFile(n), false, n);
  assert.equal(isVassalFile('x'.repeat(250) + '.ini'), true);
  assert.equal(isVassalFile('a.conf', ['.conf']), true);
});

test("for an unprivileged vassal, includes, @() files and @(exec://) use its rights, not root's", (t) => {
  assert.equal(process.getuid?.(), 0, 'the suite runs as root');
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'secret.ini'), '[uwsgi]\nsecret = 1\n', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'v.ini'), '[uwsgi]\nwho = @(exec://id -u)\n\nini = secret.ini\n');
  fs.writeFileSync(path.join(dir, 'at.ini'), '[uwsgi]\nx = @(secret.ini)\n');
  const nobody = { uid: 65534, gid: 65534 };
  assert.throws(
    () => load('v.ini', { cwd: dir, env: {}, as: nobody }),
    (e: Error & { line?: number; code?: string }) => /secret\.ini: EACCES/.test(e.message) && e.line === 4 && e.code === 'EACCES',
  );
  assert.throws(() => load('at.ini', { cwd: dir, env: {}, as: nobody }), /@\(secret\.ini\): reading .*secret\.ini: EACCES/);
  fs.writeFileSync(path.join(dir, 'v.ini'), '[uwsgi]\nwho = @(exec://id -u)\nme = %u %U\n');
  const asNobody = load('v.ini', { cwd: dir, env: { PATH: '/usr/bin:/bin' }, as: nobody });
  assert.equal(getOption(asNobody, 'who')?.value, '65534');
  assert.equal(getOption(asNobody, 'me')?.value, '65534 nobody');
  assert.equal(getOption(load('secret.ini', { cwd: dir, env: {} }), 'secret')?.value, '1');
});

test('json and yaml options carry their own line', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'v.json'), '{\n  "uwsgi": {\n    "socket": [":1",\n      ":2"],\n    "master": true\n  }\n}\n');
  fs.writeFileSync(path.join(dir, 'v.yml'), '# comment\nuwsgi:\n  socket: :1\n  env:\n    - A=1\n    - B=2\n');
  const j = load('v.json', { cwd: dir, env: {} });
  assert.deepEqual(
    j.options.slice(1).map((o) => [o.key, o.value, o.line]),
    [
      ['socket', ':1', 3],
      ['socket', ':2', 4],
      ['master', '1', 5],
    ],
  );
  const y = load('v.yml', { cwd: dir, env: {} });
  assert.deepEqual(
    y.options.slice(1).map((o) => [o.key, o.value, o.line]),
    [
      ['socket', ':1', 3],
      ['env', 'A=1', 5],
      ['env', 'B=2', 6],
    ],
  );
});

test('xml options carry the line of their element, through magic variables that join lines', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(
    path.join(dir, 'v.xml'),
    '<?xml version="1.0"?>\n<uwsgi>\n  <socket>:1</socket>\n  <env\n    id="x">A=%n</env>\n  <![CDATA[\n  eval()]]>\n  <master/>\n</uwsgi>\n',
  );
  const x = load('v.xml', { cwd: dir, env: {} });
  assert.deepEqual(
    x.options.map((o) => [o.key, o.value, o.line]),
    [
      ['xml', 'v.xml', 0],
      ['socket', ':1', 3],
      ['env', 'A=v', 4],
      ['eval', '\n  eval()', 6],
      ['master', '1', 8],
    ],
  );
});

test('listSections: the default section and the named ones, per format, after magic substitution', (t) => {
  const dir = tempDir(t);
  const files: Record<string, string> = {
    'a.ini': 'x = before any section\n[uwsgi]\na = 1\n[app2]\n[%n-extra]\n[app2]\n',
    'b.ini': '[one]\n[two]\n',
    'c.yml': 'uwsgi:\n  a: 1\nother:\n  b: 2\nflow: {c: 3}\nscalar: 4\n',
    'd.json': '{"app": {"a": 1}, "uwsgi": {}, "list": [1], "app": {}}',
    'e.xml': '<uwsgi><a id="s1">1</a></uwsgi>',
    'f.xml': '<vassals><uwsgi id="one"/><other/><uwsgi/><uwsgi id="two"/><uwsgi id="one"/></vassals>',
    'g.xml': '<vassals><uwsgi id="only"/></vassals>',
  };
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const list = (name: string) => listSections(name, { host: testHost(), cwd: dir, env: {} });
  assert.deepEqual(list('a.ini'), { hasDefault: true, named: ['app2', 'a-extra'] });
  assert.deepEqual(list('b.ini'), { hasDefault: false, named: ['one', 'two'] });
  assert.deepEqual(list('c.yml'), { hasDefault: true, named: ['other'] });
  assert.deepEqual(list('d.json'), { hasDefault: true, named: ['app'] });
  assert.deepEqual(list('e.xml'), { hasDefault: true, named: [] });
  assert.deepEqual(list('f.xml'), { hasDefault: true, named: ['one', 'two'] });
  assert.deepEqual(list('g.xml'), { hasDefault: false, named: ['only'] });
  fs.writeFileSync(path.join(dir, 'bad.xml'), '<vassals>\n<uwsgi>\n</vassals>\n');
  assert.throws(
    () => list('bad.xml'),
    (e: unknown) => e instanceof ConfigError && e.line === 3 && e.file === path.join(dir, 'bad.xml'),
  );
});
