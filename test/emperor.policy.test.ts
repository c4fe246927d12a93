// The emperor's own failures: a bug that throws in a timer or rejects a promise nobody awaits is one internal-error
// line with its stack and a count in the metrics, and the emperor and its vassals carry on. A config reader that
// answers what its wire does not allow is ended, and only the vassal it was reading is refused, saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';

const SLEEPER = '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 1000\n';
const fault = (name: string) => `--require ${path.join(__dirname, 'fixtures/faults', `${name}.js`)}`;

test('an exception and a rejection of its own: logged with their stacks, counted, and the emperor and vassals go on', async (t) => {
  const [port] = await freePorts(1);
  const dir = tmpdir('policy');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'app.ini'), SLEEPER);
  const stats = path.join(dir, 'stats.sock');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats, '--emperor-metrics', `127.0.0.1:${port}`], {
    env: { NODE_OPTIONS: fault('emperor-bug'), EMPEROR_TEST_BUG_AFTER_MS: '2000' },
  });
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'app.ini');
  const pid = (await fetchStats(stats)).vassals[0].pid;
  await emperor.waitEvent('internal-error', undefined, 2);
  const [a, b] = emperor.events('internal-error').sort((x, y) => String(x.where).localeCompare(String(y.where)));
  assert.equal(a.where, 'uncaught exception');
  assert.match(String(a.error), /^Error: an injected bug thrown in a timer\n\s+at /);
  assert.equal(b.where, 'unhandled rejection');
  assert.match(String(b.error), /^Error: an injected rejection nobody handles\n\s+at /);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^emperor_internal_errors_total 2$/m);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(emperor.child.exitCode, null, 'the emperor runs');
  const v = (await fetchStats(stats)).vassals[0];
  assert.equal(v.state, 'running');
  assert.equal(v.pid, pid, 'the vassal is the same instance');
  // and it still does its work: a new file is a new vassal
  fs.writeFileSync(path.join(dir, 'new.ini'), SLEEPER);
  await emperor.waitEvent('app-started', 'new.ini');
});

test('a config reader that answers outside its wire: that reader is ended, that vassal refused saying why, the rest runs', async (t) => {
  const dir = tmpdir('policy-reader');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'corrupt.ini'), SLEEPER);
  fs.writeFileSync(path.join(dir, 'fine.ini'), SLEEPER);
  const stats = path.join(dir, 'stats.sock');
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats], { env: { NODE_OPTIONS: fault('reader-corrupt') } });
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'fine.ini');
  const broken = await until(async () => {
    const v = (await fetchStats(stats)).vassals.find((x) => x.id === 'corrupt.ini');
    return v?.state === 'broken' ? v : undefined;
  }, 'corrupt.ini broken');
  assert.equal(
    broken.setup_error,
    'corrupt.ini:0: the config reader answered what its wire does not allow (answer.config.options[0].line: expected an integer in 0..9007199254740991, got -1)',
  );
  const [line] = emperor.events('reader-protocol-error');
  assert.equal(line.file, 'corrupt.ini');
  assert.equal(emperor.events('spawned', 'corrupt.ini').length, 0, 'nothing ran on that answer');
  assert.equal((await fetchStats(stats)).vassals.find((x) => x.id === 'fine.ini')?.state, 'running');
  assert.deepEqual(emperor.events('internal-error'), []);
  // the next read gets a fresh reader, and a fine answer is used as ever
  fs.writeFileSync(path.join(dir, 'later.ini'), SLEEPER);
  await emperor.waitEvent('app-started', 'later.ini');
});
