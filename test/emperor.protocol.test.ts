// End to end: a native vassal's Node app speaking the emperor protocol through the `emperor/vassal` helper, relayed
// by its init: readiness, loyalty, heartbeats (and what a missed one does), voluntary shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/stats';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const HELPER = path.resolve(__dirname, '../src/vassal/helper.js');

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
  const beatApp = app(dir, 'beat', 'vassal.ready(); let n = 0; const t = setInterval(() => { vassal.heartbeat(); if (++n === 5) clearInterval(t); }, 100);');
  fs.writeFileSync(path.join(dir, 'loyal.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${loyalApp}\n`);
  fs.writeFileSync(path.join(dir, 'beat.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${beatApp}\n`);
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats, '--emperor-loyal-after', '3600', '--emperor-required-heartbeat', '1']);
  t.after(() => emperor.kill());

  await until(async () => {
    const v = (await fetchStats(stats)).vassals.find((x: any) => x.id === 'loyal.ini');
    return v?.ready === 1 && v.accepting === 1 && v.loyal === 1;
  }, 'loyal.ini ready, accepting and loyal through the protocol');
  assert.equal(emperor.events('loyal', 'loyal.ini')[0].how, 'protocol');

  await emperor.waitEvent('heartbeat-missed', 'beat.ini');
  await emperor.waitEvent('reload', 'beat.ini');
  await emperor.waitEvent('app-started', 'beat.ini', 2);
  const beat = (await fetchStats(stats)).vassals.find((x: any) => x.id === 'beat.ini');
  assert.equal(beat.respawns, 1, 'a missed heartbeat is a graceful reload, not a death');
  assert.equal(beat.deaths, 0);
  assert.equal(emperor.events('heartbeat-missed', 'loyal.ini').length, 0, 'a vassal that never beat is never expected to');
});

test('a vassal asking to be stopped (byte 22) is stopped and, its file still being there, started again', async (t) => {
  const dir = tmpdir('voluntary');
  const once = path.join(dir, 'asked');
  // the first instance asks to be stopped; the next one finds the marker and stays
  const quitter = app(dir, 'quit', `if (!require('fs').existsSync(${JSON.stringify(once)})) { require('fs').writeFileSync(${JSON.stringify(once)}, ''); vassal.shutdown(); }`);
  fs.writeFileSync(path.join(dir, 'quit.ini'), `[uwsgi]\nunprivileged-binary-patch-arg = exec ${process.execPath} ${quitter}\n`);
  const emperor = new EmperorProcess(['--emperor', dir]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('voluntary-shutdown', 'quit.ini');
  await emperor.waitEvent('spawned', 'quit.ini', 2);
  await emperor.waitEvent('app-started', 'quit.ini', 2);
  assert.equal(emperor.events('throttled', 'quit.ini').length, 0, 'a requested stop is not a crash');
});
