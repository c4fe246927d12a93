// End to end: a native vassal's Node app speaking the emperor protocol through the `emperor/vassal` helper, relayed
// by its init both ways: readiness, loyalty, heartbeats (and what a missed one does), voluntary shutdown, the
// reload and stop bytes the app acts on (or, past the mercy, the init's own fallback); and a real uWSGI vassal
// getting the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const HELPER = path.resolve(__dirname, '../src/sdk/vassal.js');

function app(dir: string, name: string, body: string): string {
  const file = path.join(dir, `${name}.js`);
  fs.writeFileSync(file, `'use strict';\nconst vassal = require(${JSON.stringify(HELPER)});\n${body}\nsetInterval(() => {}, 1 << 30);\n`);
  return file;
}

test('the helper speaks the protocol: ready, loyal, heartbeats; a vassal that stops its heartbeats is reloaded', async (t) => {
  const dir = tmpdir('protocol');
  const stats = '127.0.0.1:20540';
  const loyalApp = app(dir, 'loyal', 'vassal.ready(); setTimeout(() => vassal.loyal(), 200);');
  // beats five times, then falls silent (as a hung app would)
  const beatApp = app(
    dir,
    'beat',
    'vassal.ready(); let n = 0; const t = setInterval(() => { vassal.heartbeat(); if (++n === 5) clearInterval(t); }, 100);',
  );
  fs.writeFileSync(path.join(dir, 'loyal.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${loyalApp}\n`);
  fs.writeFileSync(path.join(dir, 'beat.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${beatApp}\n`);
  const emperor = new EmperorProcess([
    '--emperor',
    dir,
    '--emperor-stats',
    stats,
    '--emperor-loyal-after',
    '3600',
    '--emperor-required-heartbeat',
    '1',
  ]);
  t.after(() => emperor.kill());

  await until(async () => {
    const v = (await fetchStats(stats)).vassals.find((x) => x.id === 'loyal.ini');
    return v?.ready === 1 && v.accepting === 1 && v.loyal === 1;
  }, 'loyal.ini ready, accepting and loyal through the protocol');
  assert.equal(emperor.events('loyal', 'loyal.ini')[0].how, 'protocol');

  await emperor.waitEvent('heartbeat-missed', 'beat.ini');
  await emperor.waitEvent('reload', 'beat.ini');
  await emperor.waitEvent('app-started', 'beat.ini', 2);
  const beat = (await fetchStats(stats)).vassals.find((x) => x.id === 'beat.ini')!;
  assert.equal(beat.respawns, 1, 'a missed heartbeat is a graceful reload, not a death');
  assert.equal(beat.deaths, 0);
  assert.equal(emperor.events('heartbeat-missed', 'loyal.ini').length, 0, 'a vassal that never beat is never expected to');
});

test('a vassal asking to be stopped (byte 22) gets the stop byte, exits on it, and, its file still being there, is started again', async (t) => {
  const dir = tmpdir('voluntary');
  const once = path.join(dir, 'asked');
  const stopped = path.join(dir, 'stopped');
  // the first instance asks to be stopped; the next one finds the marker and stays
  const quitter = app(
    dir,
    'quit',
    `const fs = require('fs');
vassal.on('stop', (graceful) => { fs.writeFileSync(${JSON.stringify(stopped)}, 'graceful=' + graceful); process.exit(0); });
vassal.ready();
if (!fs.existsSync(${JSON.stringify(once)})) { fs.writeFileSync(${JSON.stringify(once)}, ''); vassal.shutdown(); }`,
  );
  fs.writeFileSync(path.join(dir, 'quit.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${quitter}\n`);
  const emperor = new EmperorProcess(['--emperor', dir]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('voluntary-shutdown', 'quit.ini');
  await emperor.waitEvent('spawned', 'quit.ini', 2);
  await emperor.waitEvent('app-started', 'quit.ini', 2);
  assert.equal(fs.readFileSync(stopped, 'utf8'), 'graceful=false', 'the app got byte 0 and acted on it');
  assert.equal(emperor.events('protocol-fallback', 'quit.ini').length, 0, 'the app exited on its own: no SIGTERM was needed');
  assert.equal(emperor.events('throttled', 'quit.ini').length, 0, 'a requested stop is not a crash');
});

test('an app that speaks the protocol decides: byte 1 reloads it in place (kept, same pid), byte 2 stops it gracefully', async (t) => {
  const dir = tmpdir('both-ways');
  const stopped = path.join(dir, 'stopped');
  const port = 20543;
  const server = app(
    dir,
    'inplace',
    `const fs = require('fs');
let generation = 0;
const server = require('http').createServer((req, res) => res.end('pid ' + process.pid + ' generation ' + generation));
vassal.on('reload', async () => { await new Promise((r) => setTimeout(r, 100)); generation++; });
vassal.on('stop', (graceful) => { fs.writeFileSync(${JSON.stringify(stopped)}, 'graceful=' + graceful); server.close(); process.exit(0); });
server.listen(${port}, '127.0.0.1', () => vassal.ready());`,
  );
  const file = path.join(dir, 'inplace.ini');
  fs.writeFileSync(file, `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${server}\n`);
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-graceful-shutdown']);
  t.after(() => emperor.kill());

  const first = await until(async () => (await httpGet(port))?.match(/pid (\d+) generation 0/)?.[1], 'the app serving');
  const later = new Date(Date.now() + 2000);
  fs.utimesSync(file, later, later);
  await emperor.waitEvent('reloaded-in-place', 'inplace.ini');
  assert.equal(await httpGet(port), `pid ${first} generation 1`, 'the same process, reloaded by its own handler');
  assert.equal(emperor.events('app-started', 'inplace.ini').length, 1, 'the init did not restart the app');

  fs.unlinkSync(file);
  await emperor.waitEvent('exit', 'inplace.ini');
  assert.equal(fs.readFileSync(stopped, 'utf8'), 'graceful=true', 'byte 2 under --emperor-graceful-shutdown');
  assert.equal(emperor.events('protocol-fallback', 'inplace.ini').length, 0);
});

test('an app that speaks the protocol but ignores the bytes gets the init fallback after the mercy: restart, then SIGTERM', async (t) => {
  const dir = tmpdir('deaf');
  const file = path.join(dir, 'deaf.ini');
  // says spawned and accepting, then never reads its UWSGI_EMPEROR_FD
  fs.writeFileSync(file, `[uwsgi]\nunprivileged-binary-patch-arg = printf '\\001\\005' >&$UWSGI_EMPEROR_FD; exec sleep 600\n`);
  const stats = '127.0.0.1:20545';
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats]);
  t.after(() => emperor.kill());
  // the init relays only to an app that has spoken: each instance's bytes must have come through first
  const spoken = () =>
    until(async () => (await fetchStats(stats)).vassals.find((x) => x.id === 'deaf.ini')?.ready === 1, 'the app to say it is ready');
  await spoken();
  const later = new Date(Date.now() + 2000);
  fs.utimesSync(file, later, later);
  await emperor.waitEvent('protocol-fallback', 'deaf.ini', 1, 10000);
  assert.equal(emperor.events('protocol-fallback', 'deaf.ini')[0].byte, 1);
  await emperor.waitEvent('app-started', 'deaf.ini', 2);
  await spoken();
  fs.unlinkSync(file);
  await emperor.waitEvent('protocol-fallback', 'deaf.ini', 2, 10000);
  assert.equal(emperor.events('protocol-fallback', 'deaf.ini')[1].byte, 0);
  await emperor.waitEvent('exit', 'deaf.ini', 1, 10000);
  assert.equal(emperor.events('exit', 'deaf.ini')[0].signal, null, 'the init ended it, with the app status');
});

test('a real uWSGI vassal gets byte 1 on a touch and byte 2 on removal under --emperor-graceful-shutdown', async (t) => {
  const dir = tmpdir('uwsgi-bytes');
  fs.writeFileSync(path.join(dir, 'app.py'), "def application(env, start):\n    start('200 OK', [])\n    return [b'ok']\n");
  const file = path.join(dir, 'py.ini');
  fs.writeFileSync(file, '[uwsgi]\nplugins = python3\nwsgi-file = %dapp.py\nmaster = true\nprocesses = 1\nhttp-socket = 127.0.0.1:20544\n');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-graceful-shutdown']);
  t.after(() => emperor.kill());
  await until(async () => (await httpGet(20544)) === 'ok', 'the uWSGI vassal serving');
  const later = new Date(Date.now() + 2000);
  fs.utimesSync(file, later, later);
  await until(() => emperor.output('py.ini').includes('received message 1 from emperor'), 'uWSGI to log byte 1');
  await until(async () => (await httpGet(20544)) === 'ok', 'the reloaded vassal serving');
  fs.unlinkSync(file);
  await until(() => emperor.output('py.ini').includes('received message 2 from emperor'), 'uWSGI to log byte 2');
  await emperor.waitEvent('exit', 'py.ini');
  assert.ok(!emperor.output('py.ini').includes('received message 0 from emperor'));
});
