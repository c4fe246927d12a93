// Pool mode with three real emperors on one real etcd, each through its own relay so one can be cut off alone.
// "Exactly once" is counted in /proc (each vassal's program carries its own marker in its environment), sampled all
// along, never taken from the emperors' stats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { EmperorProcess } from './helpers/emperor-process';
import { EtcdServer } from './helpers/etcd';
import { freePorts } from './helpers/ports';
import { TcpProxy } from './helpers/tcp-proxy';
import { until } from './helpers/wait';
import { fetchStats } from '../src/ops';

const PREFIX = '/pool/';
const TTL = 4;
const VASSALS = 30;

/** Vassal number -> how many live programs carry its marker, and which emperor runs each (by the emperor's tag). */
function census(run: string, tags: Map<string, number>): { count: number[]; byEmperor: number[] } {
  const count = new Array<number>(VASSALS).fill(0);
  const byEmperor = [0, 0, 0];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').startsWith('sleep\0')) continue;
      const env = fs.readFileSync(`/proc/${d}/environ`, 'latin1');
      const m = new RegExp(`POOL_VASSAL=${run}-(\\d+)\\0`).exec(env);
      if (!m || /\) Z /.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))) continue;
      count[Number(m[1])]++;
      const tag = /EMPEROR_TEST_TAG=([^\0]+)/.exec(env)?.[1];
      if (tag && tags.has(tag)) byEmperor[tags.get(tag)!]++;
    } catch {
      /* exited meanwhile */
    }
  }
  return { count, byEmperor };
}

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

  // sampled all along (one /proc scan at a time: on two busy cores a tighter loop would starve the emperors)
  let worst = 0;
  let samples = 0;
  let now = census(run, tags);
  const sampler = setInterval(() => {
    now = census(run, tags);
    samples++;
    worst = Math.max(worst, ...now.count);
  }, 100);
  t.after(() => clearInterval(sampler));

  const settled = (want: number[]) =>
    until(
      () => {
        const { count, byEmperor } = now;
        return count.every((n) => n === 1) && want.every((w, i) => w < 0 || byEmperor[i] === w) ? byEmperor : false;
      },
      `every vassal running exactly once, spread ${want.join('/')}`,
      20000,
    ).catch((e: Error) => {
      const pool = emperors.map(
        (emp, i) =>
          `node${i}: ${emp.logs
            .filter((l) => /pool|lease|node/.test(String(l.event)))
            .map((l) => `${l.event}`)
            .join(',')}`,
      );
      if (process.env.POOL_DEBUG)
        emperors.forEach((emp, i) => fs.writeFileSync(`/tmp/pool-node${i}.log`, emp.logs.map((l) => JSON.stringify(l)).join('\n')));
      throw new Error(`${e.message}: counts ${now.count.join('')}, spread ${now.byEmperor.join('/')}\n${pool.join('\n')}`);
    });

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
  clearInterval(sampler);
  assert.ok(samples > 50, `only ${samples} samples`);
  assert.equal(worst, 1, `a vassal ran ${worst} times at once`);
});
