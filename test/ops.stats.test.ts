// The stats server and client on TCP, unix and abstract sockets, against our snapshots and a real uWSGI emperor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchStats, fetchStatsText, parseStatsAddress, startStatsServer } from '../src/ops';

/** What a fake stats server served, as JSON. */
const fetchJson = async (addr: string, timeoutMs?: number): Promise<unknown> => JSON.parse(await fetchStatsText(addr, timeoutMs));
import { within } from './helpers/wait';

function tmpdir(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'emperor-stats-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function listen(server: net.Server, where: string | number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'number') server.listen(where, '127.0.0.1', resolve);
    else server.listen(where, resolve);
  });
}

test('stats addresses are read as uWSGI reads them', () => {
  assert.deepEqual(parseStatsAddress('127.0.0.1:20400'), { kind: 'tcp', host: '127.0.0.1', port: 20400 });
  assert.deepEqual(parseStatsAddress(':1717'), { kind: 'tcp', host: '0.0.0.0', port: 1717 });
  assert.deepEqual(parseStatsAddress('[::1]:20400'), { kind: 'tcp', host: '::1', port: 20400 });
  assert.deepEqual(parseStatsAddress('/run/emperor.stats'), { kind: 'unix', path: '/run/emperor.stats' });
  assert.deepEqual(parseStatsAddress('@emperor'), { kind: 'unix', path: '\0emperor' });
  assert.throws(() => parseStatsAddress('localhost:http'), /localhost:http: 'http' is not a TCP port/);
});

test('TCP: one fresh JSON document per connection, then nothing listens after close()', async (t) => {
  let n = 0;
  const s = await startStatsServer('127.0.0.1:20401', () => ({ vassals: [], n: ++n }));
  let closed = false;
  t.after(() => (closed ? undefined : s.close()));
  assert.equal(s.address, '127.0.0.1:20401');
  assert.deepEqual(await fetchJson(s.address), { vassals: [], n: 1 });
  const [a, b] = (await Promise.all([fetchJson(s.address), fetchJson(s.address)])) as Array<{ n: number }>;
  assert.deepEqual([a.n, b.n].sort(), [2, 3]);
  await s.close();
  closed = true;
  await assert.rejects(fetchJson(s.address), /stats 127\.0\.0\.1:20401: .*ECONNREFUSED/);
});

test('TCP: port 0 reports the real port; a taken port is an error naming the address', async (t) => {
  const s = await startStatsServer('127.0.0.1:0', () => ({ ok: 1 }));
  t.after(() => s.close());
  const port = Number(s.address.split(':')[1]);
  assert.ok(port > 0);
  assert.deepEqual(await fetchJson(s.address), { ok: 1 });
  await assert.rejects(
    startStatsServer(s.address, () => ({})),
    new RegExp(`--emperor-stats 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
  );
});

test('unix socket: stale file replaced, live one and non-socket refused, file removed on close', async (t) => {
  const d = tmpdir(t);
  const sock = path.join(d, 'stats.sock');
  // a stale socket file: Node unlinks its own on close, so move it away first and back afterwards
  const dead = net.createServer();
  await listen(dead, sock);
  fs.renameSync(sock, sock + '.old');
  await new Promise((res) => dead.close(res));
  fs.renameSync(sock + '.old', sock);
  assert.ok(fs.lstatSync(sock).isSocket());

  const s = await startStatsServer(sock, () => ({ where: 'unix' }));
  let closed = false;
  t.after(() => (closed ? undefined : s.close()));
  assert.equal(s.address, sock);
  assert.deepEqual(await fetchJson(sock), { where: 'unix' });
  await assert.rejects(
    startStatsServer(sock, () => ({})),
    /another process is listening on/,
  );
  await s.close();
  closed = true;
  assert.equal(fs.existsSync(sock), false);

  const file = path.join(d, 'not-a-socket');
  fs.writeFileSync(file, 'precious');
  await assert.rejects(
    startStatsServer(file, () => ({})),
    /not-a-socket exists and is not a socket/,
  );
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
});

test('abstract unix socket', async (t) => {
  const addr = `@emperor-stats-test-${process.pid}-${Date.now()}`;
  const s = await startStatsServer(addr, () => ({ abstract: true }));
  t.after(() => s.close());
  assert.equal(s.address, addr);
  assert.deepEqual(await fetchJson(addr), { abstract: true });
});

test('a failing snapshot closes that connection only; the client reports silence and garbage clearly', async (t) => {
  let fail = true;
  const s = await startStatsServer('127.0.0.1:20402', () => {
    if (fail) throw new Error('boom');
    return { ok: true };
  });
  t.after(() => s.close());
  await assert.rejects(fetchStats(s.address), /stats 127\.0\.0\.1:20402: not an emperor stats document: stats: expected JSON/);
  fail = false;
  assert.deepEqual(await fetchJson(s.address), { ok: true });

  const held = new Set<net.Socket>();
  const mute = net.createServer((c) => held.add(c));
  await listen(mute, 20403);
  t.after(() => {
    for (const c of held) c.destroy();
    mute.close();
  });
  await assert.rejects(fetchJson('127.0.0.1:20403', 200), /stats 127\.0\.0\.1:20403: no complete answer within 200 ms/);

  const junk = net.createServer((c) => c.end('Bad request'));
  await listen(junk, 20404);
  t.after(() => junk.close());
  await assert.rejects(fetchStats('127.0.0.1:20404'), /not an emperor stats document: stats: expected JSON, got text that is not/);
  // JSON that is not a stats document is refused by name, not handed on
  const wrong = await startStatsServer('127.0.0.1:0', () => ({ vassals: [{ id: 7 }] }));
  t.after(() => wrong.close());
  await assert.rejects(fetchStats(wrong.address), /not an emperor stats document: stats\.version: expected a string/);
});

test('fetchStats reads a real uWSGI emperor (the layout our stats keep)', async (t) => {
  const d = tmpdir(t);
  const vdir = path.join(d, 'vassals');
  fs.mkdirSync(vdir);
  // dies at once, before loyalty: uWSGI blacklists it
  fs.writeFileSync(path.join(vdir, 'bad.ini'), '[uwsgi]\nnot-an-option-at-all = 1\n');
  const uw = spawn('uwsgi', ['--emperor', vdir, '--emperor-stats', '127.0.0.1:20405', '--emperor-freq', '1'], { stdio: 'ignore' });
  t.after(async () => {
    if (uw.exitCode !== null || uw.signalCode !== null) return;
    const gone = new Promise((res) => uw.once('exit', res));
    uw.kill('SIGINT'); // Ragnarok
    const timer = setTimeout(() => uw.kill('SIGKILL'), 5000);
    await within(gone, 10000, `the uWSGI emperor (pid ${uw.pid}) to exit`).finally(() => clearTimeout(timer));
  });
  type Raw = { blacklist?: unknown[] };
  const blacklisted = async (): Promise<Raw | undefined> => {
    const r = (await fetchJson('127.0.0.1:20405').catch(() => null)) as Raw | null;
    return r && (r.blacklist?.length ?? 0) > 0 ? r : undefined;
  };
  let raw: Raw | undefined;
  for (let i = 0; i < 100 && !raw; i++) {
    await new Promise((res) => setTimeout(res, 100));
    raw = await blacklisted();
  }
  assert.ok(raw, 'uWSGI stats answered with a blacklist entry');
  // the checked document: a uWSGI emperor's passes the same check as ours
  const blob = await fetchStats('127.0.0.1:20405');
  assert.deepEqual(Object.keys(raw), [
    'version',
    'pid',
    'uid',
    'gid',
    'cwd',
    'emperor',
    'emperor_tyrant',
    'throttle_level',
    'vassals',
    'blacklist',
  ]);
  assert.equal(blob.pid, uw.pid);
  assert.deepEqual(blob.emperor, [fs.realpathSync(vdir)]);
  assert.deepEqual(Object.keys(raw.blacklist![0] as object), ['id', 'throttle_level', 'attempt', 'first_attempt', 'last_attempt']);
  assert.equal(blob.blacklist[0].id, 'bad.ini');
  assert.ok(
    [1, 1001, 2001, 3001].includes(blob.blacklist[0].throttle_level),
    `uWSGI's level sequence, got ${blob.blacklist[0].throttle_level}`,
  );
});
