// Pool mode with three real emperors on one real etcd: each through its own relay so one can be cut off alone; a
// node drained and resumed. "Exactly once" is counted in /proc (each vassal's program carries its own marker in its
// environment), sampled all along, never taken from the emperors' stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmperorProcess, tmpdir } from './helpers/emperor-process';
import { cli } from './helpers/cli';
import { EtcdServer } from './helpers/etcd';
import { freePorts } from './helpers/ports';
import { CensusSampler, poolVassal, spreadIs } from './helpers/pool-census';
import { TcpProxy } from './helpers/tcp-proxy';
import { fetchStats } from '../src/ops';

const PREFIX = '/pool/';
const TTL = 4;
const VASSALS = 30;

test("a pool of three: each of 30 vassals runs exactly once; a SIGKILLed emperor's vassals run elsewhere within TTL + 2 s; a partitioned one stops its own first", async (t) => {
  const etcd = await EtcdServer.start();
  const c = etcd.client();
  t.after(async () => {
    c.close();
    await etcd.destroy();
  });
  const run = randomUUID().slice(0, 8);
  for (let i = 0; i < VASSALS; i++) {
    await c.put(`${PREFIX}v${i}.ini`).value(`[uwsgi]\nenv = POOL_VASSAL=${run}-${i}\nunprivileged-binary-patch-arg = exec sleep 600\n`);
  }
  const ports = await freePorts(6);
  const proxies = await Promise.all([0, 1, 2].map((i) => TcpProxy.start(ports[i], etcd.port)));
  t.after(() => Promise.all(proxies.map((p) => p.close())).then(() => undefined));
  const emperors = [0, 1, 2].map(
    (i) =>
      new EmperorProcess([
        '--emperor',
        `etcd://${proxies[i].endpoint}${PREFIX}`,
        '--emperor-etcd-pool',
        '--emperor-node',
        `node${i}`,
        '--emperor-etcd-ttl',
        String(TTL),
        '--emperor-stats',
        `127.0.0.1:${ports[3 + i]}`,
      ]),
  );
  t.after(() => Promise.all(emperors.map((e) => e.kill())).then(() => undefined));
  const tags = new Map(emperors.map((e, i) => [e.tag, i]));

  const sampler = new CensusSampler(run, VASSALS, tags);
  t.after(() => sampler.stop());

  const settled = async (want: number[]) =>
    (await sampler.until(spreadIs(want), `every vassal running exactly once, spread ${want.join('/')}`, 20000, emperors)).byEmperor;

  await settled([10, 10, 10]);
  const stats = (await fetchStats(`127.0.0.1:${ports[3]}`)) as {
    node: string;
    vassals: Array<{ owner: string }>;
    pool: Array<{ owner: string }>;
  };
  assert.equal(stats.node, 'node0');
  assert.equal(stats.vassals.length, 10);
  assert.ok(stats.vassals.every((v) => v.owner === 'node0'));
  assert.equal(stats.pool.length, VASSALS);
  assert.deepEqual([...new Set(stats.pool.map((p) => p.owner))].sort(), ['node0', 'node1', 'node2']);

  // SIGKILL: its vassals die with it (death signal); its claims expire with its lease, the others take them
  const killedAt = Date.now();
  await emperors[0].kill();
  const after = await settled([0, 15, 15]);
  const failover = Date.now() - killedAt;
  t.diagnostic(`failover after SIGKILL: ${failover} ms (TTL ${TTL} s); spread ${after.join('/')}`);
  assert.ok(failover <= (TTL + 2) * 1000, `the vassals ran again after ${failover} ms`);

  // a partition: node1 hears nothing from etcd; it stops its vassals before its lease can expire, node2 takes them
  const cutAt = Date.now();
  await proxies[1].set('blackhole');
  await emperors[1].waitEvent('lease-danger', undefined, 1, TTL * 1000 + 2000);
  await settled([0, 0, 30]);
  t.diagnostic(`partition: node2 runs all 30 after ${Date.now() - cutAt} ms`);
  const stopped = emperors[1].events('lease-danger')[0].time as number;
  assert.ok(stopped - cutAt < TTL * 1000, 'the partitioned emperor stopped its vassals within the TTL');
  // healed: its lease is gone, it joins again under a new one and the share is rebalanced
  await proxies[1].set('pass');
  await emperors[1].waitEvent('lease-lost', undefined, 1, 15000);
  await settled([0, 15, 15]);
  sampler.stop();
  assert.ok(sampler.samples > 50, `only ${sampler.samples} samples`);
  assert.equal(sampler.worst, 1, `a vassal ran ${sampler.worst} times at once`);
});

test('emperor drain hands every vassal of a node over, one at a time and never two copies; the node then claims nothing until emperor resume-pool', async (t) => {
  const etcd = await EtcdServer.start();
  const c = etcd.client();
  const run = randomUUID().slice(0, 8);
  const dir = tmpdir('drain');
  t.after(async () => {
    c.close();
    await etcd.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const N = 10;
  for (let i = 0; i < N - 1; i++) await c.put(`${PREFIX}v${i}.ini`).value(poolVassal(run, i, dir));
  const control = [0, 1, 2].map((i) => path.join(dir, `control${i}.sock`));
  const emperor = (i: number) =>
    new EmperorProcess([
      '--emperor',
      `etcd://${etcd.endpoint}${PREFIX}`,
      '--emperor-etcd-pool',
      '--emperor-node',
      `node${i}`,
      '--emperor-etcd-ttl',
      String(TTL),
      '--emperor-control',
      control[i],
    ]);
  const emperors = [emperor(0)];
  t.after(() => Promise.all(emperors.map((e) => e.kill())).then(() => undefined));
  const tags = new Map<string, number>();
  // at every sample while the drain runs: how many of node0's vassals run nowhere
  let drained: number[] = [];
  let mostDown = 0;
  const sampler = new CensusSampler(run, N, tags, (now) => {
    mostDown = Math.max(mostDown, drained.filter((i) => now.count[i] === 0).length);
  });
  t.after(() => sampler.stop());
  const spread = async (want: (byEmperor: number[], count: number[]) => boolean, what: string) =>
    (await sampler.until((c) => want(c.byEmperor, c.count), what, 30000, emperors)).byEmperor;
  tags.set(emperors[0].tag, 0);

  // alone in the pool, a node refuses to drain: nothing else would run its vassals
  await spread((b) => b[0] === N - 1, 'node0 running all 9');
  const alone = await cli(['drain', '--control', control[0]]);
  assert.equal(alone.code, 1, alone.stdout);
  assert.match(alone.stderr, /no other node of the pool takes vassals/);
  assert.equal(sampler.now.byEmperor[0], N - 1, 'node0 kept running them');

  emperors.push(emperor(1), emperor(2));
  emperors.forEach((e, i) => tags.set(e.tag, i));
  await spread((b, count) => count.slice(0, N - 1).every((n) => n === 1) && b.join() === '3,3,3', 'the pool to settle 3/3/3');

  drained = sampler.now.runner.flatMap((e, i) => (e === 0 ? [i] : []));
  const began = Date.now();
  const drain = await cli(['drain', '--control', control[0]], { timeoutMs: 120000 });
  t.diagnostic(`drain of ${drained.length} vassals: ${Date.now() - began} ms`);
  assert.equal(drain.code, 0, drain.stderr);
  const lines = drain.stdout.trim().split('\n');
  assert.equal(lines.length, drained.length + 1, drain.stdout);
  for (const l of lines.slice(0, -1)) assert.match(l, /^v\d\.ini: running on node[12]$/);
  assert.deepEqual(
    lines
      .map((l) => Number(/^v(\d)/.exec(l)?.[1]))
      .slice(0, -1)
      .sort(),
    drained,
    'every vassal node0 ran',
  );
  assert.match(lines.at(-1)!, /^node node0 is drained: 3 vassals handed over; it claims nothing until emperor resume-pool$/);
  await spread((b, count) => count.slice(0, N - 1).every((n) => n === 1) && b[0] === 0, 'node0 running nothing');
  for (const i of drained) assert.notEqual(sampler.now.runner[i], 0);
  assert.ok(mostDown <= 1, `${mostDown} vassals of node0 were down at once`);
  drained = [];

  // a vassal added now goes to another node; node0 claims nothing
  await c.put(`${PREFIX}v${N - 1}.ini`).value(poolVassal(run, N - 1, dir));
  await spread((b, count) => count[N - 1] === 1, 'the new vassal to run');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(sampler.now.byEmperor[0], 0, 'the drained node claimed nothing');

  const resume = await cli(['resume-pool', '--control', control[0]], { timeoutMs: 60000 });
  assert.equal(resume.code, 0, resume.stderr);
  const runs = Number(/^node node0 takes vassals again: it runs (\d+) of the pool's 10$/.exec(resume.stdout.trim())?.[1]);
  assert.ok(runs >= 2, resume.stdout);
  const after = await spread(
    (b, count) => count.every((n) => n === 1) && b[0] === runs && b[1] <= 4 && b[2] <= 4,
    'the pool to settle again',
  );
  t.diagnostic(`after resume-pool: ${after.join('/')}`);
  assert.equal(sampler.worst, 1, `a vassal ran ${sampler.worst} times at once`);
});
