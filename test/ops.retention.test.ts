// Log files of vassals that are gone are removed once they are older than --emperor-logs-retention: a removed
// vassal's NAME.log and its rotated NAME.log.N go; a live vassal's, a fresh one, and anything the emperor did not
// make (another name, another owner, a symlink, a rotation suffix it never writes) stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { createUser } from './helpers/users';

test('the logs of gone vassals are removed after the retention time; nothing else in the directory is', async (t) => {
  const alice = createUser(t);
  const dir = tmpdir('retention');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(vassals);
  fs.mkdirSync(logs);
  fs.writeFileSync(path.join(vassals, 'live.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = echo hello; exec sleep 1000\n');
  const day = new Date(Date.now() - 86400_000);
  const hour = new Date(Date.now() + 3600_000);
  const make = (name: string, when: Date, owner?: number) => {
    const f = path.join(logs, name);
    fs.writeFileSync(f, 'old lines\n');
    if (owner !== undefined) fs.chownSync(f, owner, owner);
    fs.utimesSync(f, when, when);
  };
  make('gone.ini.log', day);
  make('gone.ini.log.1', day);
  make('gone.ini.log.3', day);
  make('%2Edot.ini.log', day);
  make('recent.ini.log', hour);
  make('live.ini.log', day);
  make('notes.txt', day);
  make('a%41.ini.log', day);
  make('gone.ini.log.0', day);
  make('other.ini.log', day, alice.uid);
  fs.symlinkSync('/etc/hostname', path.join(logs, 'sym.ini.log'));
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-logs-dir', logs, '--emperor-logs-retention', '4']);
  t.after(() => emperor.kill());
  await emperor.waitEvent('logs-removed');
  const removed = emperor.events('logs-removed')[0].files as string[];
  assert.deepEqual([...removed].sort(), ['%2Edot.ini.log', 'gone.ini.log', 'gone.ini.log.1', 'gone.ini.log.3']);
  assert.deepEqual(fs.readdirSync(logs).sort(), [
    'a%41.ini.log',
    'gone.ini.log.0',
    'live.ini.log',
    'notes.txt',
    'other.ini.log',
    'recent.ini.log',
    'sym.ini.log',
  ]);
  // live.ini goes: its log stays until it is older than the retention time
  await emperor.waitLog((l) => l.some((e) => e.event === 'output' && e.msg === 'hello'), 'live.ini talking');
  fs.unlinkSync(path.join(vassals, 'live.ini'));
  await emperor.waitEvent('exit', 'live.ini');
  // younger than the retention time whatever this machine's pace: a sweep or more pass over it
  fs.utimesSync(path.join(logs, 'live.ini.log'), hour, hour);
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(fs.existsSync(path.join(logs, 'live.ini.log')), 'kept while younger than the retention time');
  assert.match(fs.readFileSync(path.join(logs, 'live.ini.log'), 'utf8'), /stdout hello$/m);
  fs.utimesSync(path.join(logs, 'live.ini.log'), day, day);
  await emperor.waitEvent('logs-removed', undefined, 2);
  assert.deepEqual(emperor.events('logs-removed')[1].files, ['live.ini.log']);
  assert.ok(fs.existsSync('/etc/hostname'), "a symlink's target is never touched");
});
