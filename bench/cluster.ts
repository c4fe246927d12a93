// Benchmark: the store monitors and pool mode, beside uWSGI's emperor_pg on the same rows.
//   node dist/bench/cluster.js [--vassals 2000] [--rounds 10] [--ttl 2,5]
// A vassal's program writes a marker file (its name) and sleeps: "running" is the marker being there, so every
// emperor is timed on the very same program.
// - put -> running: an etcd put (ours), a row insert with NOTIFY (ours, pg://), a row insert (uWSGI emperor_pg,
//   which finds it at its next scan), each to the marker; medians of --rounds.
// - bring-up: --vassals keys (or rows) there before the emperor starts, to the last marker.
// - failover: a pool of two emperors with 20 vassals, one SIGKILLed, to every vassal's marker written again, per TTL.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EtcdServer } from '../test/helpers/etcd';
import { PostgresServer } from '../test/helpers/postgres';
import { option } from './helpers/args';

const VASSALS = Number(option('vassals', '2000'));
const ROUNDS = Number(option('rounds', '10'));
const TTLS = option('ttl', '2,5').split(',').map(Number);
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

async function main(): Promise<void> {
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
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
