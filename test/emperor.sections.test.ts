// --emperor-multi-section end to end: one vassal per section ([uwsgi] is the file's own name, [app2] is
// "multi.ini:app2"), native and real uWSGI (run as `uwsgi --ini multi.ini:py`); an edit reloads only the sections
// whose resolved options changed, spawns the new ones and stops the ones that went; `emperor status` lists them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import type { VassalStats } from '../src/ops/stats-document';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const CLI = path.resolve(__dirname, '../src/cli.js');

const native = (name: string, value: string): string[] => [
  `[${name}]`,
  `env = VALUE=${value}`,
  'unprivileged-binary-patch-arg = exec sleep 1000',
];
const PY = [
  '[py]',
  'plugins = python3',
  'http-socket = 127.0.0.1:20771',
  'wsgi-file = %dwsgi_app.py',
  'master = true',
  'processes = 1',
  'uid = nobody',
  'gid = nogroup',
];

function write(file: string, sections: string[][]): void {
  // a new mtime each time, whatever the clock's resolution
  const mtime = fs.existsSync(file) ? fs.statSync(file).mtimeMs : Date.now();
  fs.writeFileSync(file, `${sections.map((s) => s.join('\n')).join('\n\n')}\n`);
  const t = new Date(mtime + 2000);
  fs.utimesSync(file, t, t);
}

test('multi-section files: each section a vassal, an edit touches only the sections it changes', async (t) => {
  const dir = tmpdir('sections');
  fs.writeFileSync(
    path.join(dir, 'wsgi_app.py'),
    "def application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    return [b'section py']\n",
  );
  const file = path.join(dir, 'multi.ini');
  write(file, [native('uwsgi', 'a'), native('app2', 'a'), native('app3', 'a'), PY]);
  fs.writeFileSync(
    path.join(dir, 'multi.xml'),
    '<vassals>\n  <uwsgi id="x">\n    <unprivileged-binary-patch-arg>exec sleep 1000</unprivileged-binary-patch-arg>\n  </uwsgi>\n</vassals>\n',
  );
  const stats = '127.0.0.1:20770';
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-multi-section', '--emperor-stats', stats]);
  t.after(() => emperor.kill());

  const vassals = async (): Promise<Map<string, VassalStats>> => new Map((await fetchStats(stats)).vassals.map((v) => [v.id, v]));
  const all = ['multi.ini', 'multi.ini:app2', 'multi.ini:app3', 'multi.ini:py', 'multi.xml:x'];
  await until(async () => {
    const v = await vassals();
    return all.every((n) => v.get(n)?.state === 'running') && v.size === all.length;
  }, 'one running vassal per section');
  await until(async () => (await httpGet(20771)) === 'section py', 'the uWSGI section serving');
  let v = await vassals();
  const pyPid = v.get('multi.ini:py')!.pid;
  assert.deepEqual(fs.readFileSync(`/proc/${pyPid}/cmdline`, 'utf8').split('\0').slice(0, 3), ['uwsgi', '--ini', 'multi.ini:py']);
  assert.deepEqual(
    all.map((n) => v.get(n)!.native),
    [1, 1, 1, 0, 1],
  );
  const status = execFileSync(process.execPath, [CLI, 'status', '--stats', stats], { encoding: 'utf8', timeout: 30000 });
  for (const n of all) assert.match(status, new RegExp(`^${n.replace(/\./g, '\\.')}\\s`, 'm'), `status lists ${n}`);

  // a touch that changes nothing reloads nothing
  fs.utimesSync(file, new Date(), new Date(fs.statSync(file).mtimeMs + 2000));
  await emperor.waitLog((l) => l.filter((e) => e.event === 'sections' && e.file === file).length >= 2, 'the touched file listed again');
  assert.deepEqual(emperor.events('reload'), []);

  // app2 changes, app3 goes, app4 comes; [uwsgi] and [py] stay as they were
  write(file, [native('uwsgi', 'a'), native('app2', 'b'), PY, native('app4', 'a')]);
  await emperor.waitEvent('reload', 'multi.ini:app2');
  await until(async () => {
    const x = await vassals();
    return !x.has('multi.ini:app3') && x.get('multi.ini:app4')?.state === 'running';
  }, 'app3 stopped and app4 running');
  v = await vassals();
  assert.deepEqual(
    ['multi.ini', 'multi.ini:app2', 'multi.ini:py', 'multi.ini:app4', 'multi.xml:x'].map((n) => v.get(n)!.respawns),
    [0, 1, 0, 0, 0],
  );
  assert.equal(emperor.events('reload').length, 1, 'only the changed section reloads');

  // an option of the uWSGI section changes: that uWSGI reloads in place (byte 1)
  write(file, [native('uwsgi', 'a'), native('app2', 'b'), [...PY, 'env = CHANGED=1'], native('app4', 'a')]);
  await emperor.waitEvent('reload', 'multi.ini:py');
  await until(async () => (await vassals()).get('multi.ini:py')?.accepting === 1, 'the uWSGI section accepting again');
  v = await vassals();
  assert.equal(v.get('multi.ini:py')!.pid, pyPid);
  assert.equal(await httpGet(20771), 'section py');
  assert.equal(emperor.events('reload').length, 2);

  fs.unlinkSync(file);
  await until(async () => [...(await vassals()).keys()].join() === 'multi.xml:x', 'every section of the removed file gone');
  fs.unlinkSync(path.join(dir, 'multi.xml'));
  await until(() => emperor.vassalPids().length === 0, 'no process of any section left');
});
