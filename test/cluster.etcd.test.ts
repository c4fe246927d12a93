// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// etcd:// against a real etcd: put/change/delete reflected at once, %d/%n of a key, etcd killed and restarted,
// a compaction past the watch's revision, endpoints published under the lease and again on a uWSGI vassal's reload,
// router options named in warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { EmperorProcess, httpGet, tmpdir } from './helpers/emperor-process';
import { EtcdServer } from './helpers/etcd';
import { freePorts } from './helpers/ports';
import { TcpProxy } from './helpers/tcp-proxy';
import { until } from './helpers/wait';

const PREFIX = '/vassals/';

function sleeper(extra = ''): string {
  return `[uwsgi]\n${extra}unprivileged-binary-patch-arg = exec sleep 600\n`;
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil(s.length * 0.95) - 1];
}

/**
 * ms from `t0` to the emperor's log line of `event` for `vassal`, the count-th one (the line's own timestamp). t0 is
 * when etcd acknowledged the write: etcd's own commit (its raft round and log fsync, tens of ms on a busy host) is
 * not the emperor's reaction, and the watch event is sent at that commit.
 */
async function reaction(emp: EmperorProcess, event: string, vassal: string, count: number, t0: number): Promise<number> {
  await emp.waitEvent(event, vassal, count, 10000);
  return (emp.events(event, vassal)[count - 1].time as number) - t0;
}

async function withEtcd(t: { after(fn: () => Promise<void> | void): void }): Promise<{ etcd: EtcdServer; c: Etcd3 }> {
  const etcd = await EtcdServer.start();
  const c = etcd.client();
  t.after(async () => {
    c.close();
    await etcd.destroy();
  });
  return { etcd, c };
}

test('a put spawns, a put reloads, a delete stops, each within 100 ms at the 95th percentile; %d and %n name the materialized file', async (t) => {
  const { etcd, c } = await withEtcd(t);
  const out = tmpdir('etcd-magic');
  const emp = new EmperorProcess(['--emperor', `etcd://${etcd.endpoint}${PREFIX}`, '--emperor-node', 'n1']);
  t.after(() => emp.kill());
  await emp.waitEvent('start');
  // a first vassal warms the reader processes up; it also shows what the magic variables are for a key
  await c
    .put(`${PREFIX}magic.ini`)
    .value(`[uwsgi]\nunprivileged-binary-patch-arg = exec sh -c 'echo "%d|%n|%p|%o" > ${out}/magic; exec sleep 600'\n`);
  const magic = await until(() => fs.existsSync(`${out}/magic`) && fs.readFileSync(`${out}/magic`, 'utf8').trim(), 'the magic vassal');
  const [d, n, p, o] = magic.split('|');
  assert.match(d, /^\/run\/emperor\.\d+\/[0-9a-f]{16}\/$/);
  assert.equal(n, 'magic');
  assert.equal(p, `${d}magic.ini`);
  assert.equal(o, 'magic.ini');
  assert.equal((fs.statSync(d).mode & 0o777).toString(8), '711');
  assert.equal((fs.statSync(p).mode & 0o777).toString(8), '600');

  const N = 20;
  const names = Array.from({ length: N }, (_, i) => `app${i}.ini`);
  const spawn: number[] = [];
  const reload: number[] = [];
  const stop: number[] = [];
  for (const name of names) {
    await c.put(`${PREFIX}${name}`).value(sleeper());
    const t0 = Date.now();
    spawn.push(await reaction(emp, 'spawned', name, 1, t0));
  }
  for (const name of names) {
    await c.put(`${PREFIX}${name}`).value(sleeper('env = CHANGED=1\n'));
    const t0 = Date.now();
    reload.push(await reaction(emp, 'reload', name, 1, t0));
  }
  for (const name of names) {
    await c.delete().key(`${PREFIX}${name}`);
    const t0 = Date.now();
    stop.push(await reaction(emp, 'stop', name, 1, t0));
  }
  t.diagnostic(`p95 spawn ${p95(spawn)} ms, reload ${p95(reload)} ms, stop ${p95(stop)} ms`);
  assert.ok(p95(spawn) <= 100, `spawn p95 ${p95(spawn)} ms: ${spawn.join(' ')}`);
  assert.ok(p95(reload) <= 100, `reload p95 ${p95(reload)} ms: ${reload.join(' ')}`);
  assert.ok(p95(stop) <= 100, `stop p95 ${p95(stop)} ms: ${stop.join(' ')}`);
  // stats: last_mod is the key's mod_revision; the file of a deleted key is gone
  const rev = Number((await c.get(`${PREFIX}magic.ini`).exec()).kvs[0].mod_revision);
  assert.equal(emp.events('spawned', 'magic.ini').length, 1);
  await until(() => !fs.existsSync(path.join(d, 'app0.ini')), "the removal of a deleted key's file", 5000);
  assert.ok(rev > 0);
});

test('etcd killed and started again: the vassals are untouched, a key put afterwards is applied, the trouble said once', async (t) => {
  const { etcd, c } = await withEtcd(t);
  await c.put(`${PREFIX}a.ini`).value(sleeper());
  await c.put(`${PREFIX}b.ini`).value(sleeper());
  const emp = new EmperorProcess(['--emperor', `etcd://${etcd.endpoint}${PREFIX}`]);
  t.after(() => emp.kill());
  await emp.waitEvent('app-started', 'a.ini');
  await emp.waitEvent('app-started', 'b.ini');
  // each vassal is its init and its app; the app may still be between its fork and its exec when app-started comes
  const before = await until(() => {
    const pids = emp.vassalPids();
    return pids.length === 4 && pids.sort();
  }, "both vassals' init and app");
  await etcd.kill();
  await emp.waitEvent('store-unreachable', undefined, 1, 10000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(emp.vassalPids().sort(), before, 'the vassals kept running while etcd was down');
  await etcd.run();
  c.close();
  const c2 = etcd.client();
  t.after(() => c2.close());
  await emp.waitEvent('store-reachable', undefined, 1, 10000);
  await c2.put(`${PREFIX}c.ini`).value(sleeper());
  await emp.waitEvent('app-started', 'c.ini', 1, 10000);
  assert.equal(emp.events('store-unreachable').length, 1, 'said once, not per retry');
  assert.deepEqual(emp.events('stop'), [], 'nothing was stopped');
  assert.ok(before.every((p) => emp.vassalPids().includes(p)));
});

test('a compaction past the watch revision: listed again, what changed meanwhile applied exactly once', async (t) => {
  const { etcd, c } = await withEtcd(t);
  const [port] = await freePorts(1);
  const proxy = await TcpProxy.start(port, etcd.port);
  t.after(() => proxy.close());
  for (const n of ['keep.ini', 'edit.ini', 'gone.ini']) await c.put(`${PREFIX}${n}`).value(sleeper());
  const emp = new EmperorProcess(['--emperor', `etcd://${proxy.endpoint}${PREFIX}`]);
  t.after(() => emp.kill());
  for (const n of ['keep.ini', 'edit.ini', 'gone.ini']) await emp.waitEvent('app-started', n);
  await proxy.set('refuse');
  await emp.waitEvent('store-unreachable', undefined, 1, 15000);
  await c.put(`${PREFIX}edit.ini`).value(sleeper('env = V=2\n'));
  await c.put(`${PREFIX}edit.ini`).value(sleeper('env = V=3\n'));
  await c.delete().key(`${PREFIX}gone.ini`);
  await c.put(`${PREFIX}new.ini`).value(sleeper());
  for (let i = 0; i < 5; i++) await c.put('/other/noise').value(String(i));
  const rev = Number((await c.get('/other/noise').exec()).header.revision);
  await c.kv.compact({ revision: rev, physical: true });
  await proxy.set('pass');
  await emp.waitEvent('etcd-compacted', undefined, 1, 15000);
  await emp.waitEvent('app-started', 'new.ini', 1, 10000);
  await emp.waitEvent('reload', 'edit.ini', 1, 10000);
  await emp.waitEvent('exit', 'gone.ini', 1, 10000);
  // a change after the listing comes through the new watch
  await c.put(`${PREFIX}keep.ini`).value(sleeper('env = V=4\n'));
  await emp.waitEvent('reload', 'keep.ini', 1, 10000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(emp.events('reload', 'edit.ini').length, 1, 'two puts missed during the cut are one reload');
  assert.equal(emp.events('spawned', 'new.ini').length, 1);
  assert.equal(emp.events('stop', 'gone.ini').length, 1);
  assert.equal(emp.events('stop', 'keep.ini').length + emp.events('stop', 'edit.ini').length, 0);
  assert.equal(emp.events('etcd-compacted').length, 1, 'the compaction is said once');
  assert.equal(emp.events('store-unreachable').length, 1, 'the cut is said once');
  // one transaction deletes every key at one revision: every one of them stops
  await c.delete().prefix(PREFIX);
  for (const n of ['keep.ini', 'edit.ini', 'new.ini']) await emp.waitEvent('stop', n, 1, 10000);
});

test("endpoints appear under the lease and in Traefik's layout with the vassal, and go with it", async (t) => {
  const { etcd, c } = await withEtcd(t);
  const [port] = await freePorts(1);
  const emp = new EmperorProcess([
    '--emperor',
    `etcd://${etcd.endpoint}${PREFIX}`,
    '--emperor-node',
    'web1',
    '--emperor-etcd-traefik',
    'traefik',
    '--emperor-advertise',
    '10.9.8.7',
  ]);
  t.after(() => emp.kill());
  await emp.waitEvent('lease-granted');
  await c
    .put(`${PREFIX}site.ini`)
    .value(`[uwsgi]\nhttp-socket = :${port}\nsocket = 127.0.0.1:${port + 1}\nunprivileged-binary-patch-arg = exec sleep 600\n`);
  const key = `/vassals.emperor/endpoints/site.ini/web1/0`;
  const ep = await until(async () => (await c.get(key).string()) ?? false, 'the endpoint key', 10000);
  assert.deepEqual(JSON.parse(ep), {
    vassal: 'site.ini',
    node: 'web1',
    kind: 'http-socket',
    address: `10.9.8.7:${port}`,
    url: `http://10.9.8.7:${port}`,
  });
  const second = JSON.parse((await c.get(`/vassals.emperor/endpoints/site.ini/web1/1`).string())!);
  assert.equal(second.url, `uwsgi://127.0.0.1:${port + 1}`);
  const traefik = await c.getAll().prefix('traefik/http/services/site/loadbalancer/servers/').strings();
  assert.deepEqual(Object.values(traefik), [`http://10.9.8.7:${port}`]);
  assert.match(Object.keys(traefik)[0], /^traefik\/http\/services\/site\/loadbalancer\/servers\/\d+\/url$/);
  const lease = (await c.get(key).exec()).kvs[0].lease;
  assert.notEqual(String(lease), '0', "bound to the emperor's lease");
  await c.delete().key(`${PREFIX}site.ini`);
  await until(
    async () =>
      (await c.getAll().prefix('/vassals.emperor/endpoints/').keys()).length === 0 &&
      (await c.getAll().prefix('traefik/').keys()).length === 0,
    'the endpoint keys to go',
    10000,
  );
});

test("a uWSGI vassal's reload publishes the sockets of its new config", async (t) => {
  const { etcd, c } = await withEtcd(t);
  const [port1, port2] = await freePorts(2);
  const dir = tmpdir('etcd-uwsgi');
  fs.writeFileSync(path.join(dir, 'app.py'), "def application(env, start):\n    start('200 OK', [])\n    return [b'ok']\n");
  const config = (port: number) =>
    `[uwsgi]\nplugins = python3\nwsgi-file = ${dir}/app.py\nmaster = true\nprocesses = 1\nhttp-socket = 127.0.0.1:${port}\n`;
  const emp = new EmperorProcess(['--emperor', `etcd://${etcd.endpoint}${PREFIX}`, '--emperor-node', 'web1']);
  t.after(() => emp.kill());
  await emp.waitEvent('lease-granted');
  const key = `/vassals.emperor/endpoints/py.ini/web1/0`;
  const published = (port: number) =>
    until(
      async () => {
        const v = await c.get(key).string();
        return v !== null && JSON.parse(v).url === `http://127.0.0.1:${port}` && (await httpGet(port)) === 'ok';
      },
      `the vassal serving on ${port} and published there`,
      20000,
    );
  await c.put(`${PREFIX}py.ini`).value(config(port1));
  await published(port1);
  const pid = emp.vassalPids()[0];
  // a new config in etcd: uWSGI reloads in place (the same master) and reads its file again, and so does the emperor
  await c.put(`${PREFIX}py.ini`).value(config(port2));
  await emp.waitEvent('reload', 'py.ini', 1, 10000);
  await published(port2);
  assert.ok(emp.vassalPids().includes(pid), 'reloaded in place, not restarted');
  assert.equal(emp.events('spawned', 'py.ini').length, 1);
});

test('uWSGI router options are named in one warning each, in the emperor config and in a vassal', async (t) => {
  const dir = tmpdir('routers');
  fs.mkdirSync(`${dir}/vassals`);
  fs.writeFileSync(
    `${dir}/emperor.ini`,
    `[uwsgi]\nemperor = ${dir}/vassals\nfastrouter = :3017\nfastrouter-subscription-server = 127.0.0.1:3018\nprocesses = 4\n`,
  );
  fs.writeFileSync(
    `${dir}/vassals/app.ini`,
    '[uwsgi]\nsubscribe-to = 127.0.0.1:3018:example.com\nunprivileged-binary-patch-arg = exec sleep 600\n',
  );
  const emp = new EmperorProcess(['--ini', `${dir}/emperor.ini`]);
  t.after(() => emp.kill());
  await emp.waitEvent('app-started', 'app.ini');
  process.kill(emp.vassalPids()[0], 'SIGKILL');
  await emp.waitEvent('app-started', 'app.ini', 2);
  const warned = emp
    .events('router-option-ignored')
    .map((e) => e.option)
    .sort();
  assert.deepEqual(
    warned,
    ['fastrouter', 'fastrouter-subscription-server', 'subscribe-to'],
    'one each, none for processes, none again on a respawn',
  );
});
