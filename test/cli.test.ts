// The command line: usage errors, the emperor's own ini file, `emperor status` and `emperor config`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';

const CLI = path.resolve(__dirname, '../src/cli.js');

function run(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, EMPEROR_LOG_FORMAT: 'json' },
    timeout: 20000,
  });
}

test('an unknown option is a usage error: exit code 2 and a message naming it', () => {
  const r = run(['--emperor', '/tmp', '--no-such-option']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option '--no-such-option'/);
});

test('a bad value is a usage error naming the option', () => {
  const r = run(['--emperor', '/tmp', '--emperor-use-clone', 'fs,bogus']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /emperor-use-clone.*bogus/);
});

test('the emperor reads its options from a uWSGI emperor.ini, and `emperor status` shows its vassals', async (t) => {
  const dir = tmpdir('cli');
  fs.mkdirSync(path.join(dir, 'vassals'));
  fs.writeFileSync(path.join(dir, 'vassals', 'one.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n');
  const stats = path.join(dir, 'stats.sock');
  fs.writeFileSync(
    path.join(dir, 'emperor.ini'),
    `[uwsgi]\nemperor = %dvassals\nemperor-stats-server = ${stats}\nmaster = true\nvassal-set = processes=1\n`,
  );
  const emperor = new EmperorProcess(['--ini', path.join(dir, 'emperor.ini')]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('spawned', 'one.ini');
  await until(() => fs.existsSync(stats), 'the stats socket');

  const status = run(['status', '--stats', stats]);
  assert.equal(status.status, 0, status.stderr);
  const row = status.stdout.split('\n').find((l) => l.startsWith('one.ini'));
  assert.ok(row, status.stdout);
  assert.match(row, /running/);
  const json = JSON.parse(run(['status', '--stats', stats, '--json']).stdout);
  assert.equal(json.vassals[0].id, 'one.ini');
  assert.equal(json.emperor[0], fs.realpathSync(path.join(dir, 'vassals')));
});

test('`emperor config` prints the resolved options; a broken file names its line and exits non-zero', () => {
  const dir = tmpdir('cli-config');
  const f = path.join(dir, 'app.ini');
  fs.writeFileSync(f, '[uwsgi]\nname = %n\nsocket = /tmp/%(name).sock\n');
  const r = run(['config', f]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /socket = \/tmp\/app\.sock/);
  const j = run(['config', '--json', f]);
  const parsed = JSON.parse(j.stdout);
  const opts = Array.isArray(parsed) ? parsed : parsed.options;
  assert.ok(opts.some((o: { key: string; line: number }) => o.key === 'socket' && o.line === 3));

  fs.writeFileSync(f, '[uwsgi]\nif-exists = /\nsocket = x\n');
  const bad = run(['config', f]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /app\.ini:2/);
});
