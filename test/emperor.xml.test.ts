// XML vassal files end to end: a native vassal and a real uWSGI vassal (run as `uwsgi --xml FILE`, as uWSGI's emperor
// runs it) from .xml files, the emperor's own options from --xml, `emperor config` on an xml file, and a hostile
// xml vassal that is refused alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import type { VassalStats } from '../src/ops/stats-document';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const CLI = path.resolve(__dirname, '../src/cli.js');

function touch(file: string): void {
  const t = new Date(Date.now() + 2000);
  fs.utimesSync(file, t, t);
}

test('xml vassals: native and real uWSGI (--xml FILE) side by side, the emperor configured by --xml, a DTD refused alone', async (t) => {
  const dir = tmpdir('xml');
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  fs.writeFileSync(path.join(dir, 'index.html'), 'native from xml\n');
  fs.writeFileSync(
    path.join(dir, 'wsgi_app.py'),
    "def application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    return [b'uwsgi from xml']\n",
  );
  fs.writeFileSync(
    path.join(vassals, 'node.xml'),
    [
      '<uwsgi>',
      '  <http-socket>127.0.0.1:20760</http-socket>',
      '  <uid>nobody</uid>',
      '  <gid>nogroup</gid>',
      `  <unprivileged-binary-patch-arg>exec ${process.execPath} ${APP} ${dir}</unprivileged-binary-patch-arg>`,
      '</uwsgi>',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(vassals, 'py.xml'),
    [
      '<uwsgi>',
      '  <plugins>python3</plugins>',
      '  <http-socket>127.0.0.1:20761</http-socket>',
      '  <wsgi-file>%d../wsgi_app.py</wsgi-file>',
      '  <master/>',
      '  <processes>1</processes>',
      '  <uid>nobody</uid>',
      '  <gid>nogroup</gid>',
      '</uwsgi>',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(vassals, 'bomb.xml'),
    '<?xml version="1.0"?>\n<!DOCTYPE uwsgi [ <!ENTITY a "aaaaaaaaaa"> <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"> ]>\n<uwsgi><socket>&b;</socket></uwsgi>\n',
  );
  const stats = '127.0.0.1:20762';
  fs.writeFileSync(
    path.join(dir, 'emperor.xml'),
    `<uwsgi>\n  <emperor>${vassals}</emperor>\n  <emperor-stats>${stats}</emperor-stats>\n</uwsgi>\n`,
  );

  // `emperor config` prints what uWSGI's --show-config would
  const shown = execFileSync(process.execPath, [CLI, 'config', path.join(vassals, 'py.xml')], {
    encoding: 'utf8',
    cwd: vassals,
    timeout: 30000,
  });
  assert.match(
    shown,
    /^xml = .*py\.xml\nplugins = python3\nhttp-socket = 127\.0\.0\.1:20761\nwsgi-file = .*\/vassals\/\.\.\/wsgi_app\.py\nmaster = 1\n/m,
  );

  const emperor = new EmperorProcess(['--xml', path.join(dir, 'emperor.xml')]);
  t.after(() => emperor.kill());
  await until(async () => (await httpGet(20760, '127.0.0.1', '/index.html')) === 'native from xml\n', 'the native xml vassal serving');
  await until(async () => (await httpGet(20761)) === 'uwsgi from xml', 'the uWSGI xml vassal serving');

  const byId = async () => new Map<string, VassalStats>((await fetchStats(stats)).vassals.map((v) => [v.id, v]));
  let v = await byId();
  assert.equal(v.get('node.xml')?.native, 1);
  assert.equal(v.get('py.xml')?.native, 0);
  const master = v.get('py.xml')!.pid;
  assert.deepEqual(
    fs.readFileSync(`/proc/${master}/cmdline`, 'utf8').split('\0').slice(0, 3),
    ['uwsgi', '--xml', 'py.xml'],
    "uWSGI gets the file as uWSGI's emperor passes it",
  );
  assert.equal(v.get('bomb.xml')?.state, 'broken');
  assert.match(String(v.get('bomb.xml')?.setup_error), /bomb\.xml:2: a DTD \(<!DOCTYPE \.\.\.>\) is not accepted/);

  touch(path.join(vassals, 'py.xml'));
  await emperor.waitEvent('reload', 'py.xml');
  await until(async () => (await byId()).get('py.xml')?.accepting === 1, 'the reloaded uWSGI vassal accepting again');
  v = await byId();
  assert.equal(v.get('py.xml')?.pid, master, 'byte 1: uWSGI reloads in place');
  assert.equal(await httpGet(20761), 'uwsgi from xml');

  emperor.child.kill('SIGTERM');
  assert.equal((await emperor.waitExit()).code, 0);
  assert.deepEqual(emperor.vassalPids(), [], 'Ragnarok leaves nothing behind');
});
