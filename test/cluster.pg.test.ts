// timing-sensitive: bounds the emperor's answer times, so scripts/run-tests.js runs it alone.
// pg:// as uWSGI's emperor_pg reads it (conninfo;query, rows of name, config, ts), pushed by LISTEN/NOTIFY, against a
// real PostgreSQL run by the test; and the query format checked against uWSGI's own emperor_pg plugin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmperorProcess } from './helpers/emperor-process';
import { PostgresServer } from './helpers/postgres';
import { parsePgSpec } from '../src/monitors/pg-spec';

const SETUP = `
CREATE TABLE vassals (name text PRIMARY KEY, config text NOT NULL, ts timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION vassals_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('emperor', ''); RETURN NULL; END $$;
CREATE TRIGGER vassals_notify AFTER INSERT OR UPDATE OR DELETE ON vassals FOR EACH STATEMENT EXECUTE FUNCTION vassals_notify();
`;

test("libpq connection strings and emperor_pg's default query", () => {
  const spec = String.raw`pg://host=/run/postgresql dbname=apps user='emperor' password='a b\'c'`;
  assert.deepEqual(parsePgSpec(spec), {
    config: { host: '/run/postgresql', database: 'apps', user: 'emperor', password: "a b'c" },
    query: 'SELECT name,config,EXTRACT(epoch FROM ts) FROM vassals',
  });
  assert.deepEqual(parsePgSpec('pg://postgresql://u@h:5433/db;SELECT a,b,c FROM t'), {
    config: { connectionString: 'postgresql://u@h:5433/db' },
    query: 'SELECT a,b,c FROM t',
  });
  assert.throws(() => parsePgSpec('pg://hots=x'), /connection option "hots" is not supported/);
});

test('pg:// with NOTIFY: an insert spawns within 100 ms, a newer ts reloads, a delete stops', async (t) => {
  const pg = await PostgresServer.start();
  const db = pg.client();
  await db.connect();
  t.after(async () => {
    await db.end();
    await pg.destroy();
  });
  await db.query(SETUP);
  // a long --emperor-freq: only the notification can be this fast
  const emp = new EmperorProcess(['--emperor', `pg://${pg.conninfo}`, '--emperor-pg-channel', 'emperor', '--emperor-freq', '60']);
  t.after(() => emp.kill());
  await emp.waitEvent('start');
  // the first row warms the connection and the reader processes up
  await db.query(`INSERT INTO vassals VALUES ('warm.ini', $1)`, ['[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 600\n']);
  await emp.waitEvent('spawned', 'warm.ini', 1, 10000);
  const lat: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    await db.query(`INSERT INTO vassals VALUES ($1, $2)`, [`app${i}.ini`, '[uwsgi]\nunprivileged-binary-patch-arg = exec sleep 600\n']);
    await emp.waitEvent('spawned', `app${i}.ini`, 1, 5000);
    lat.push((emp.events('spawned', `app${i}.ini`)[0].time as number) - t0);
  }
  t.diagnostic(`insert -> spawned: ${lat.join(', ')} ms`);
  assert.ok([...lat].sort((a, b) => a - b)[3] <= 100, `insert to spawn: ${lat.join(', ')} ms`);
  // an update that does not move ts changes nothing (emperor_pg's rule); one that does reloads
  await db.query(`UPDATE vassals SET config = config || '# same ts' WHERE name = 'app0.ini'`);
  await db.query(`UPDATE vassals SET ts = now() + interval '1 second', config = config || 'env = X=1' WHERE name = 'app1.ini'`);
  await emp.waitEvent('reload', 'app1.ini', 1, 5000);
  await db.query(`DELETE FROM vassals WHERE name = 'app2.ini'`);
  await emp.waitEvent('stop', 'app2.ini', 1, 5000);
  assert.equal(emp.events('reload', 'app0.ini').length, 0);
});
