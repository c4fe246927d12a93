// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// A vassal that floods its stdout: its lines are dropped over the line rate and the drops said with their count, its
// pipes wait once past the byte budget, and meanwhile another vassal's HTTP answers, the emperor's stats answers
// and the emperor's own CPU stay undisturbed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { probeStats } from './helpers/stats-probe';
import { until } from './helpers/wait';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const PORT = 20951;
const RATE = 200;

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

test('a flooding vassal: dropped over the rate with a count, and nobody else is slowed', async (t) => {
  const dir = tmpdir('ops-flood');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stats = path.join(dir, 'stats.sock');
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  fs.writeFileSync(
    path.join(vassals, 'quiet.ini'),
    `[uwsgi]\nhttp-socket = 127.0.0.1:${PORT}\nunprivileged-binary-patch-arg = exec ${process.execPath} ${APP} /\n`,
  );
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-stats', stats, '--emperor-log-rate', String(RATE)]);
  t.after(() => emperor.kill());
  await until(() => httpGet(PORT, '127.0.0.1', '/whoami'), 'the quiet vassal serving');

  fs.writeFileSync(path.join(vassals, 'flood.ini'), '[uwsgi]\nunprivileged-binary-patch-arg = exec yes flood-flood-flood-flood\n');
  await emperor.waitEvent('output-dropped', 'flood.ini');
  const cpu0 = cpuSeconds(emperor.pid);
  const t0 = performance.now();
  const probe = probeStats(stats, 50);
  const http: number[] = [];
  const failures: string[] = [];
  while (performance.now() - t0 < 3000) {
    const s = performance.now();
    const body = await httpGet(PORT, '127.0.0.1', '/whoami');
    if (body) http.push(performance.now() - s);
    else failures.push('no HTTP answer');
    await new Promise((r) => setTimeout(r, 50));
  }
  const statsResult = await probe.stop();
  const emperorCpu = (cpuSeconds(emperor.pid) - cpu0) / ((performance.now() - t0) / 1000);

  assert.deepEqual(failures, [], 'every HTTP probe of the quiet vassal answered');
  assert.deepEqual(statsResult.failures, [], 'every stats probe answered');
  assert.ok(http.length >= 20, `${http.length} HTTP answers in 3 s`);
  assert.ok(Math.max(...http) < 500, `slowest HTTP answer ${Math.max(...http).toFixed(0)} ms`);
  assert.ok(statsResult.worst < 500, `slowest stats answer ${statsResult.worst.toFixed(0)} ms`);
  assert.ok(emperorCpu < 0.6, `the emperor used ${(emperorCpu * 100).toFixed(0)} % of a CPU while the flood went on`);

  const drops = emperor.events('output-dropped', 'flood.ini');
  assert.ok(drops.length >= 2, `a drop notice each second (${drops.length})`);
  for (const d of drops) {
    assert.ok((d.dropped as number) > 0);
    assert.equal(d.msg, `${d.dropped} lines of output dropped: over ${RATE} lines/s`);
  }
  // what got through keeps to the rate, one second at a time
  const kept = emperor.events('output', 'flood.ini').map((e) => Math.floor((e.time as number) / 1000));
  const perSecond = new Map<number, number>();
  for (const s of kept) perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
  assert.ok(Math.max(...perSecond.values()) <= 2 * RATE, `at most the rate per window: ${JSON.stringify([...perSecond.values()])}`);
  assert.ok(kept.length >= RATE, `${kept.length} flood lines logged`);
});
