// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// Vassal files that try to exhaust or freeze the emperor: /dev/zero by include, by @() and through a symlink, a FIFO
// as an include and as the vassal file itself, a file over the size limit. Each bad vassal is refused by name with
// its file and line, the emperor's memory stays put, its stats server answers throughout, and the good vassal serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { until } from './helpers/wait';
import { probeStats } from './helpers/stats-probe';

const APP = path.join(__dirname, 'fixtures/vassal/http-app.js');
const PORT = 20701;

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]);
}

test('/dev/zero, FIFOs and oversized files as config: each refused by name, no memory growth, no stall', async (t) => {
  const dir = tmpdir('hostile');
  const side = tmpdir('hostile-side');
  const stats = path.join(side, 'stats.sock');
  fs.writeFileSync(
    path.join(dir, 'good.ini'),
    `[uwsgi]\nhttp-socket = 127.0.0.1:${PORT}\nunprivileged-binary-patch-arg = exec ${process.execPath} ${APP} /\n`,
  );
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats]);
  t.after(async () => {
    await emperor.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(side, { recursive: true, force: true });
  });
  await until(() => httpGet(PORT, '127.0.0.1', '/whoami'), 'the good vassal serving');
  const rssBefore = rssKb(emperor.pid);
  execFileSync('mkfifo', [path.join(side, 'fifo.ini')]);
  execFileSync('mkfifo', [path.join(dir, 'itself.ini')]);
  fs.symlinkSync('/dev/zero', path.join(side, 'zero-link.ini'));
  fs.writeFileSync(path.join(side, 'big.ini'), Buffer.alloc(17 * 1024 * 1024, 'a'));
  // from here on this process only probes and writes small files: a slow answer is the emperor's
  const probe = probeStats(stats);
  const bad: Record<string, [string, RegExp]> = {
    'zero-include.ini': ['ini = /dev/zero', /\/dev\/zero.*(character device|not a regular file)/],
    'zero-at.ini': ['env = X=@(/dev/zero)', /@\(\/dev\/zero\).*(character device|not a regular file)/],
    'zero-link-include.ini': [`ini = ${side}/zero-link.ini`, /zero-link\.ini.*(character device|not a regular file)/],
    'fifo-include.ini': [`ini = ${side}/fifo.ini`, /fifo\.ini.*(FIFO|not a regular file)/i],
    'fifo-at.ini': [`env = X=@(${side}/fifo.ini)`, /fifo\.ini.*(FIFO|not a regular file)/i],
    'big-include.ini': [`ini = ${side}/big.ini`, /big\.ini.*16777216/],
  };
  for (const [name, [line]] of Object.entries(bad)) {
    fs.writeFileSync(path.join(dir, name), `[uwsgi]\n${line}\nunprivileged-binary-patch-arg = exec sleep 1000\n`);
  }
  const blob = await until(
    async () => {
      const b = await fetchStats(stats);
      return Object.keys(bad).every((n) => b.vassals.find((v) => v.id === n)?.state === 'broken') ? b : undefined;
    },
    'every bad vassal broken',
    30000,
  );
  const result = await probe.stop();

  for (const [name, [, reason]] of Object.entries(bad)) {
    const v = blob.vassals.find((x) => x.id === name)!;
    const setupError = v.setup_error ?? '';
    assert.match(setupError, new RegExp(`${name.replace(/\./g, '\\.')}:2: `), `${name} names its file and line: ${setupError}`);
    assert.match(setupError, reason, `${name}: ${setupError}`);
    assert.equal(emperor.events('spawned', name).length, 0, `${name} never started`);
  }
  // a FIFO in the vassal directory is not a vassal file (as in uWSGI): never opened, never listed
  assert.equal(
    blob.vassals.find((v) => v.id === 'itself.ini'),
    undefined,
  );
  assert.ok(await httpGet(PORT, '127.0.0.1', '/whoami'), 'the good vassal still serves');
  assert.equal(emperor.child.exitCode, null, 'the emperor runs');
  const grownKb = rssKb(emperor.pid) - rssBefore;
  assert.ok(grownKb < 16 * 1024, `the emperor's RSS grew by ${grownKb} kB`);
  assert.deepEqual(result.failures, [], 'every stats request answered');
  assert.ok(result.times.length >= 5, `${result.times.length} stats answers`);
  assert.ok(result.worst < 100, `the slowest stats answer took ${result.worst.toFixed(1)} ms`);
});
