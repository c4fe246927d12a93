// The host's limits, designed in: RLIMIT_NOFILE raised at start (the vassals get the old one back); an emperor that
// runs out of fds says so once, keeps its running vassals and its stats server, neither crashes nor spins, and
// starts the waiting vassals once fds are free again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { freePorts } from './helpers/ports';
import { until } from './helpers/wait';

const SLEEPER = '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 600\n';

function openFiles(pid: number): { soft: number; hard: number } {
  const line = fs
    .readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))!;
  const [soft, hard] = line.split(/\s+/).slice(3, 5).map(Number);
  return { soft, hard };
}

test('RLIMIT_NOFILE is raised at start, said in one line, and every vassal gets the limit the emperor was given', async (t) => {
  const dir = tmpdir('limits');
  fs.writeFileSync(path.join(dir, 'one.ini'), SLEEPER);
  const emperor = new EmperorProcess(['--emperor', dir], { wrap: ['prlimit', '--nofile=1024:4096', '--'] });
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'one.ini');
  // with CAP_SYS_RESOURCE both limits go up, past the hard limit it was started with; without (this project's
  // machines: root in a container) the soft one goes up to the hard one
  const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const sysResource = (capEff >> 24n) & 1n;
  const wanted = sysResource ? Math.min(Number(fs.readFileSync('/proc/sys/fs/nr_open', 'utf8')), 1 << 20) : 4096;
  assert.deepEqual(openFiles(emperor.pid), { soft: wanted, hard: wanted });
  const [line] = emperor.events('limits');
  assert.equal(line.nofile, wanted);
  assert.equal(line.vassal_nofile, 1024);
  assert.match(line.msg, /room for about \d+ native vassals \(2 fds each\) or \d+ uWSGI vassals \(4 each\)/);
  const init = emperor.events('spawned', 'one.ini')[0].pid as number;
  assert.deepEqual(openFiles(init), { soft: 1024, hard: 4096 }, "the vassal's init has the emperor's original limits");
});

test('out of fds: one limit-reached line, running vassals and the stats untouched, the waiting ones start once fds are free', async (t) => {
  const dir = tmpdir('limits');
  const [port] = await freePorts(1);
  const stats = `127.0.0.1:${port}`;
  const names = Array.from({ length: 40 }, (_, i) => `v${String(i).padStart(2, '0')}.ini`);
  for (const n of names) fs.writeFileSync(path.join(dir, n), SLEEPER);
  // 100 fds without CAP_SYS_RESOURCE to raise them: room for some of the 40 native vassals (2 fds each), not all
  const emperor = new EmperorProcess(['--emperor', dir, '--emperor-stats', stats], {
    wrap: ['prlimit', '--nofile=100:100', '--', 'setpriv', '--bounding-set=-sys_resource', '--'],
  });
  t.after(() => emperor.kill());
  await emperor.waitEvent('limit-reached', undefined, 1, 60000);
  const states = async () => {
    const blob = await fetchStats(stats).catch(() => undefined); // an accept may meet EMFILE too: asked again
    if (!blob) return undefined;
    const by: Record<string, string[]> = {};
    for (const v of blob.vassals as Array<{ id: string; state: string }>) (by[v.state] ??= []).push(v.id);
    return by;
  };
  // settled: every vassal either running or waiting for fds, throttled
  const settled = await until(
    async () => {
      const s = await states();
      return s && (s.running?.length ?? 0) + (s.throttled?.length ?? 0) === names.length ? s : undefined;
    },
    'every vassal running or throttled',
    60000,
  );
  const running = settled.running ?? [];
  assert.ok(running.length > 0 && running.length < names.length, `some vassals run (${running.length}), not all`);
  assert.equal(emperor.events('limit-reached').length, 1, 'said once for the episode, not once per vassal or retry');
  const cpuTicks = () =>
    fs
      .readFileSync(`/proc/${emperor.pid}/stat`, 'utf8')
      .split(') ')[1]
      .split(' ')
      .slice(11, 13)
      .map(Number)
      .reduce((a, b) => a + b);
  const before = cpuTicks();
  await new Promise((r) => setTimeout(r, 3000));
  const pids = new Map((await until(() => fetchStats(stats).catch(() => undefined), 'stats')).vassals.map((v) => [v.id, v.pid]));
  assert.ok(cpuTicks() - before < 150, 'the emperor does not spin at the limit (under half a CPU over 3 s)');
  // half of the running vassals go: their fds are free, and the waiting vassals start on their next retry
  const removed = running.slice(0, Math.ceil(running.length / 2));
  for (const id of removed) fs.unlinkSync(path.join(dir, id));
  const kept = running.filter((id) => !removed.includes(id));
  // the removed ones must be gone from the stats first: before the emperor sees the unlinks they still count as running
  const after = await until(
    async () => {
      const s = await states();
      if (!s || s.stopping || Object.values(s).some((ids) => ids.some((id) => removed.includes(id)))) return undefined;
      return (s.running?.length ?? 0) >= Math.min(names.length - removed.length, running.length) ? s : undefined;
    },
    'the waiting vassals to start in the freed room',
    90000,
  );
  assert.equal(emperor.child.exitCode ?? emperor.child.signalCode, null, 'the emperor is still running');
  const blob = await until(() => fetchStats(stats).catch(() => undefined), 'stats');
  for (const id of kept) assert.equal(blob.vassals.find((v) => v.id === id)?.pid, pids.get(id), `${id} kept running through it all`);
  assert.ok(
    (after.running ?? []).some((id) => !running.includes(id)),
    'vassals that waited now run',
  );
});
