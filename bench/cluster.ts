// Benchmark: the store monitors and pool mode, beside uWSGI's emperor_pg on the same rows; then pool mode under etcd
// faults.
//   node dist/bench/cluster.js [--vassals 2000] [--rounds 10] [--ttl 2,5] [--fault-ttl 6] [--part all|faults]
// A vassal's program writes a marker file (its name) and sleeps: "running" is the marker being there, so every
// emperor is timed on the very same program.
// - put -> running: an etcd put (ours), a row insert with NOTIFY (ours, pg://), a row insert (uWSGI emperor_pg,
//   which finds it at its next scan), each to the marker; medians of --rounds.
// - bring-up: --vassals keys (or rows) there before the emperor starts, to the last marker.
// - failover: a pool of two emperors with 20 vassals, one SIGKILLed, to every vassal's marker written again, per TTL.
// - faults: a pool of two emperors with 10 vassals on a 3-member etcd cluster (--fault-ttl): for each fault, how long
//   the emperors heard nothing from etcd, how much of their lease was left when it answered again, and how many
//   vassals started again; a partition (the time to stop, the time to run elsewhere); a drain (the time per vassal).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmperorProcess } from '../test/helpers/emperor-process';
import { EtcdCluster, EtcdServer } from '../test/helpers/etcd';
import { freePorts } from '../test/helpers/ports';
import { census, poolVassal, spreadIs, starts, tcpPeerPorts } from '../test/helpers/pool-census';
import { PostgresServer } from '../test/helpers/postgres';
import { TcpProxy } from '../test/helpers/tcp-proxy';
import { until } from '../test/helpers/wait';
import { option } from './helpers/args';

const VASSALS = Number(option('vassals', '2000'));
const ROUNDS = Number(option('rounds', '10'));
const TTLS = option('ttl', '2,5').split(',').map(Number);
const FAULT_TTL = Number(option('fault-ttl', '6'));
const PART = option('part', 'all');
const CLI = path.resolve(__dirname, '../src/cli.js');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-bench-cluster-'));
const marks = path.join(root, 'marks');
fs.mkdirSync(marks);
const config = (name: string) => `[uwsgi]\nunprivileged-binary-patch-arg = exec sh -c 'echo $$ > ${marks}/${name}; exec sleep 100000'\n`;

async function waitMarks(names: string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = names.filter((n) => !fs.existsSync(path.join(marks, n)));
    if (missing.length === 0) return Date.now();
    if (Date.now() > deadline) throw new Error(`${missing.length} of ${names.length} never ran (${missing[0]}...)`);
    await sleep(5);
  }
}

function ours(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { stdio: 'ignore', env: { ...process.env, EMPEROR_LOG_LEVEL: 'warn' } });
}

function uwsgiPg(spec: string): ChildProcess {
  return spawn('uwsgi', ['--plugin', 'emperor_pg', '--emperor', spec, '--logto', '/dev/null'], { stdio: 'ignore' });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGINT');
  await Promise.race([gone, sleep(40000)]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

function clearMarks(): void {
  for (const f of fs.readdirSync(marks)) fs.rmSync(path.join(marks, f));
}

async function putToRunning(
  label: string,
  emperor: () => ChildProcess,
  put: (name: string) => Promise<void>,
  reset: () => Promise<void>,
): Promise<void> {
  await reset();
  clearMarks();
  const emp = emperor();
  await sleep(1500);
  const lat: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const name = `lat${i}.ini`;
    const t0 = Date.now();
    await put(name);
    lat.push((await waitMarks([name], 10000)) - t0);
  }
  await stop(emp);
  console.log(`${label}: put -> running median ${median(lat)} ms (min ${Math.min(...lat)}, max ${Math.max(...lat)}, ${ROUNDS} rounds)`);
}

async function bringUp(
  label: string,
  emperor: () => ChildProcess,
  fill: (names: string[]) => Promise<void>,
  reset: () => Promise<void>,
): Promise<void> {
  await reset();
  clearMarks();
  const names = Array.from({ length: VASSALS }, (_, i) => `up${i}.ini`);
  await fill(names);
  const t0 = Date.now();
  const emp = emperor();
  try {
    const t1 = await waitMarks(names, 180000);
    console.log(
      `${label}: bring-up of ${VASSALS} vassals ${((t1 - t0) / 1000).toFixed(1)} s (${((t1 - t0) / VASSALS).toFixed(1)} ms each)`,
    );
  } catch (e) {
    console.log(`${label}: bring-up of ${VASSALS} vassals failed: ${(e as Error).message}`);
  }
  await stop(emp);
}

/** ms that `what` took. */
async function timed(what: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await what();
  return Date.now() - t0;
}

/** Two emperors in pool mode on POOL vassals, node0 with a control socket. */
const POOL = 10;

async function poolPair(hosts: [string, string], put: (k: string, v: string) => Promise<unknown>, control: string) {
  const run = `b${Date.now().toString(36)}`;
  const startsDir = fs.mkdtempSync(path.join(root, 'starts-'));
  for (let i = 0; i < POOL; i++) await put(`/faults/v${i}.ini`, poolVassal(run, i, startsDir));
  const args = ['--emperor-etcd-pool', '--emperor-etcd-ttl', String(FAULT_TTL)];
  const emperors = [
    new EmperorProcess(['--emperor', `etcd://${hosts[0]}/faults/`, '--emperor-node', 'node0', '--emperor-control', control, ...args]),
    new EmperorProcess(['--emperor', `etcd://${hosts[1]}/faults/`, '--emperor-node', 'node1', ...args]),
  ];
  const tags = new Map(emperors.map((e, i) => [e.tag, i]));
  const spread = (want: number[]) => until(() => spreadIs(want)(census(run, POOL, tags)), 'the pool to settle', 60000);
  await spread([POOL / 2, POOL / 2]);
  /** Runs a fault, waits a TTL, and prints what the emperors saw and what the vassals did. */
  const fault = async (label: string, act: () => Promise<unknown>) => {
    const before = starts(startsDir, POOL).reduce((a, b) => a + b);
    const marks = emperors.map((e) => e.logs.length);
    await act();
    await sleep(FAULT_TTL * 1000);
    const news = emperors.flatMap((e, i) => e.logs.slice(marks[i]));
    const oks = news.filter((l) => l.event === 'lease-ok');
    const silent = Math.max(0, ...oks.map((l) => Number(l.silent_ms)));
    const left = Math.min(FAULT_TTL * 1000, ...oks.map((l) => Number(l.left_ms)));
    const dangers = news.filter((l) => l.event === 'lease-danger').length;
    const restarts = starts(startsDir, POOL).reduce((a, b) => a + b) - before;
    const heard = oks.length ? `keepalives unanswered up to ${silent} ms, the lease had ${left} ms left at least` : 'no keepalive missed';
    console.log(`TTL ${FAULT_TTL} s, ${label}: ${heard}; lease-danger ${dangers}; vassal restarts ${restarts}`);
  };
  const stop = async () => {
    await Promise.all(emperors.map((e) => e.kill()));
  };
  return { emperors, spread, fault, stop };
}

/** The pool under etcd faults (the README's fault table). */
async function faults(): Promise<void> {
  const cluster = await EtcdCluster.start(3);
  const ports = await freePorts(3);
  const relays = await Promise.all(cluster.members.map((m, i) => TcpProxy.start(ports[i], m.port)));
  const kv = cluster.client();
  const control = path.join(root, 'control.sock');
  const direct = [1, 2, 0].map((i) => cluster.members[i].endpoint).join(',');
  const pair = await poolPair([relays.map((r) => r.endpoint).join(','), direct], (k, v) => kv.put(k).value(v).exec(), control);
  const memberOfNode1 = () => cluster.members.find((m) => tcpPeerPorts(pair.emperors[1].pid).includes(m.port))!;
  try {
    await pair.fault('compaction', async () => {
      for (let i = 0; i < 20; i++) await kv.put('/other/noise').value(String(i));
      await kv.kv.compact({ revision: Number((await kv.get('/other/noise').exec()).header.revision), physical: true });
    });
    await pair.fault(`a member stopped (SIGSTOP) for ${FAULT_TTL / 3} s`, async () => {
      const m = memberOfNode1();
      m.signal('SIGSTOP');
      await sleep((FAULT_TTL * 1000) / 3);
      m.signal('SIGCONT');
    });
    await pair.fault('the leader killed, started again 2 s later', async () => {
      const leader = await cluster.leader();
      await leader.kill();
      await sleep(2000);
      await leader.run();
    });
    let outage = 0;
    await pair.fault('the whole cluster killed, started again 0.5 s later', async () => {
      outage = await timed(async () => {
        await Promise.all(cluster.members.map((m) => m.kill()));
        await sleep(500);
        await cluster.runAll();
      });
    });
    console.log(`  (etcd answered again ${outage} ms after the kill)`);
    await pair.fault('a member removed for good', () => cluster.remove(memberOfNode1()));
    // a partition of node0 from every member, longer than the TTL
    const cutAt = Date.now();
    const dangers = pair.emperors[0].events('lease-danger').length;
    await Promise.all(relays.map((r) => r.set('blackhole')));
    await pair.emperors[0].waitEvent('lease-danger', undefined, dangers + 1, FAULT_TTL * 1000 + 5000);
    const stopped = (pair.emperors[0].events('lease-danger')[dangers].time as number) - cutAt;
    await pair.spread([0, POOL]);
    console.log(
      `TTL ${FAULT_TTL} s, node0 cut off from every member: it stops its vassals after ${stopped} ms; they all run on node1 after ${Date.now() - cutAt} ms`,
    );
    await Promise.all(relays.map((r) => r.set('pass')));
    await pair.spread([POOL / 2, POOL / 2]);
    // a drain of node0, one vassal at a time: each is down from its exit on node0 to its app's start on node1
    const [node0, node1] = pair.emperors;
    const marks = [node0.logs.length, node1.logs.length];
    const took = await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          const cli = spawn(process.execPath, [CLI, 'drain', '--control', control], { stdio: 'ignore' });
          cli.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`emperor drain exited with ${code}`))));
        }),
    );
    const down = node0.logs
      .slice(marks[0])
      .filter((l) => l.event === 'exit')
      .map((exit) => {
        const up = node1.logs.slice(marks[1]).find((l) => l.event === 'app-started' && l.vassal === exit.vassal);
        return (up?.time as number) - (exit.time as number);
      });
    console.log(
      `TTL ${FAULT_TTL} s, emperor drain of node0 (${down.length} vassals, one at a time): ${took} ms; each vassal down ${median(down)} ms (median), ${Math.max(...down)} ms at most`,
    );
  } finally {
    await pair.stop();
    kv.close();
    await Promise.all(relays.map((r) => r.close()));
    await cluster.destroy();
  }
  // a single etcd, stopped with SIGTERM and started again
  const etcd = await EtcdServer.start();
  const c = etcd.client();
  const single = await poolPair([etcd.endpoint, etcd.endpoint], (k, v) => c.put(k).value(v).exec(), path.join(root, 'control1.sock'));
  try {
    let outage = 0;
    await single.fault('a single etcd stopped (SIGTERM), started again 0.5 s later', async () => {
      outage = await timed(async () => {
        await etcd.kill('SIGTERM');
        await sleep(500);
        await etcd.run();
      });
    });
    console.log(`  (etcd answered again ${outage} ms after the SIGTERM)`);
  } finally {
    await single.stop();
    c.close();
    await etcd.destroy();
  }
}

async function main(): Promise<void> {
  if (PART === 'faults') return faults();
  const etcd = await EtcdServer.start();
  const pg = await PostgresServer.start();
  const kv = etcd.client();
  const db = pg.client();
  await db.connect();
  await db.query(`CREATE TABLE vassals (name text PRIMARY KEY, config text NOT NULL, ts timestamptz NOT NULL DEFAULT now());
    CREATE FUNCTION vassals_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('emperor', ''); RETURN NULL; END $$;
    CREATE TRIGGER vassals_notify AFTER INSERT OR UPDATE OR DELETE ON vassals FOR EACH STATEMENT EXECUTE FUNCTION vassals_notify();`);
  const pgSpec = `pg://${pg.conninfo}`;
  const resetEtcd = async () => void (await kv.delete().prefix('/bench/'));
  const resetPg = async () => void (await db.query('DELETE FROM vassals'));
  const putEtcd = async (n: string) => void (await kv.put(`/bench/${n}`).value(config(n)));
  const insert = async (n: string) => void (await db.query('INSERT INTO vassals VALUES ($1, $2)', [n, config(n)]));
  try {
    await putToRunning('ours, etcd://', () => ours(['--emperor', `etcd://${etcd.endpoint}/bench/`]), putEtcd, resetEtcd);
    await putToRunning('ours, pg:// + NOTIFY', () => ours(['--emperor', pgSpec, '--emperor-pg-channel', 'emperor']), insert, resetPg);
    await putToRunning('uWSGI emperor_pg', () => uwsgiPg(pgSpec), insert, resetPg);
    await bringUp(
      'ours, etcd://',
      () => ours(['--emperor', `etcd://${etcd.endpoint}/bench/`]),
      async (names) => {
        for (let i = 0; i < names.length; i += 200) await Promise.all(names.slice(i, i + 200).map(putEtcd));
      },
      resetEtcd,
    );
    const fillPg = async (names: string[]) =>
      void (await db.query('INSERT INTO vassals SELECT n, c FROM unnest($1::text[], $2::text[]) AS t(n, c)', [names, names.map(config)]));
    await bringUp('ours, pg://', () => ours(['--emperor', pgSpec]), fillPg, resetPg);
    await bringUp('uWSGI emperor_pg', () => uwsgiPg(pgSpec), fillPg, resetPg);
    await resetPg();
    for (const ttl of TTLS) {
      await resetEtcd();
      clearMarks();
      const names = Array.from({ length: 20 }, (_, i) => `fo${i}.ini`);
      for (const n of names) await putEtcd(n);
      const pool = [0, 1].map((i) =>
        ours([
          '--emperor',
          `etcd://${etcd.endpoint}/bench/`,
          '--emperor-etcd-pool',
          '--emperor-node',
          `bench${i}`,
          '--emperor-etcd-ttl',
          String(ttl),
        ]),
      );
      await waitMarks(names, 30000);
      // the fair share settles (the first emperor up may claim everything, then hand half over)
      await sleep(3000);
      clearMarks();
      const t0 = Date.now();
      pool[0].kill('SIGKILL');
      // the survivor's own vassals keep running (their markers stay cleared); the victim's write theirs again
      const deadline = Date.now() + (ttl + 20) * 1000;
      while (fs.readdirSync(marks).length < 10 && Date.now() < deadline) await sleep(5);
      console.log(
        `pool of 2, TTL ${ttl} s: SIGKILL -> the victim's ${fs.readdirSync(marks).length} vassals running elsewhere ${Date.now() - t0} ms`,
      );
      await stop(pool[1]);
    }
  } finally {
    kv.close();
    await db.end();
    await pg.destroy();
    await etcd.destroy();
  }
  await faults();
}

void main()
  .finally(() => fs.rmSync(root, { recursive: true, force: true }))
  .then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
