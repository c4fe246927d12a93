// A tenant against the operator sockets, as the tenant (a real second user): bytes that are not a request on the
// 0666 control socket (`null`, arrays, numbers, wrong fields, a line that never ends) are refused by name and the
// connection closed; 400 held connections against an emperor with 300 fds cost her her share, not bob's new vassal
// nor the stats nor root's status; idle ones are closed. A stats client that never closes its end holds nothing, and
// the metrics server caps each peer. Names and texts a tenant chose reach the admin's terminal escaped: `emperor
// status`, `emperor logs` and the pretty log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { EmperorProcess, taggedPids, tmpdir } from './helpers/emperor-process';
import { cli, LongCli } from './helpers/cli';
import { freePorts } from './helpers/ports';
import { vassalFile, type TestUser } from './helpers/users';
import { SLEEPER, tenants } from './helpers/tenants';
import { until, within } from './helpers/wait';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ConnectionLimits } from '../src/ops/connection-limits';
import { logger } from '../src/log';

const SOCKETS = path.join(__dirname, 'fixtures/tenant/sockets.js');

/** The tenant's `send`: the server's whole answer to these bytes. */
function sendAs(user: TestUser, socketPath: string, bytes: Buffer): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [SOCKETS, 'send', socketPath],
        { uid: user.uid, gid: user.gid, maxBuffer: 1 << 20 },
        (err, stdout) => (err ? reject(new Error(`the tenant client: ${err.message}`)) : resolve(stdout)),
      );
      child.stdin!.end(bytes);
    }),
    20000,
    'the tenant client',
  );
}

function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

test('bytes that are not a request, from a tenant on the control socket: refused naming what is wrong, nothing else', async (t) => {
  const s = await tenants(t);
  const attacks: Array<[string, Buffer, RegExp]> = [
    ['null', Buffer.from('null\n'), /^bad request: request: expected an object, got null$/],
    ['[]', Buffer.from('[]\n'), /^bad request: request: expected an object, got an array of 0$/],
    ['a number', Buffer.from('5\n'), /^bad request: request: expected an object, got 5$/],
    ['a null name', Buffer.from('{"cmd":"stop","vassal":null}\n'), /^bad request: request\.vassal: expected a string/],
    ['a name as an object', Buffer.from('{"cmd":"logs","vassal":{"length":1}}\n'), /^bad request: request\.vassal: expected a string/],
    ['lines as a string', Buffer.from('{"cmd":"logs","lines":"all"}\n'), /^bad request: request\.lines: expected an integer/],
    ['a command that is not one', Buffer.from('{"cmd":"__proto__"}\n'), /^bad request: request\.cmd: expected one of/],
    ['not JSON', Buffer.from([0xff, 0xfe, 0x7b, 0x0a]), /^bad request: request: expected JSON/],
    ['a line that never ends', Buffer.alloc(70000, 0x20), /^bad request: a line of more than 65536 bytes$/],
  ];
  for (const [what, bytes, reason] of attacks) {
    const answer = await sendAs(s.alice, s.control, bytes);
    const lines = answer.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one answer line, then the connection is closed (${answer})`);
    const a = JSON.parse(lines[0]) as { ok: boolean; code: string; error: string };
    assert.equal(a.ok, false, what);
    assert.equal(a.code, 'EINVAL', what);
    assert.match(a.error, reason, what);
  }
  // a request trickled in a byte at a time is no request: the connection goes at the deadline all the same
  const lived = Number(
    await within(
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [SOCKETS, 'trickle', s.control], { uid: s.alice.uid, gid: s.alice.gid }, (err, out) =>
          err ? reject(new Error(`trickle: ${err.message}`)) : resolve(out),
        ),
      ),
      30000,
      'the trickling connection closed',
    ),
  );
  assert.ok(lived > 0, `closed after ${lived} ms although it never fell silent`);
  // a well-formed request of hers still works, and bob's is still refused to her
  const mine = await cli(['stop', 'alice.ini', '--control', s.control], { uid: s.alice.uid, gid: s.alice.gid });
  assert.equal(mine.code, 0, mine.stderr);
  const his = await cli(['stop', 'bob.ini', '--control', s.control], { uid: s.alice.uid, gid: s.alice.gid });
  assert.equal(his.code, 1);
  assert.equal(s.emperor.child.exitCode, null, 'the emperor runs');
  assert.equal((await fetchStats(s.stats)).vassals.find((v) => v.id === 'bob.ini')?.pid, s.bobPid, "bob's vassal is untouched");
  assert.deepEqual(s.emperor.events('internal-error'), []);
});

test("400 connections held by a tenant against 300 fds: bob's new vassal starts, the stats and root's status answer", async (t) => {
  const [metricsPort] = await freePorts(1);
  // 300 fds, and no CAP_SYS_RESOURCE to raise them
  const s = await tenants(t, {
    bob: 'unprivileged-binary-patch-arg = echo bob-up; exec sleep 1000',
    extra: ['--emperor-metrics', `127.0.0.1:${metricsPort}`],
    wrap: ['prlimit', '--nofile=300:300', '--', 'setpriv', '--bounding-set=-sys_resource', '--'],
  });
  // bob follows his logs from the start: a follower is never idle
  const follower = new LongCli(['logs', '-f', '--control', s.control], { uid: s.bob.uid, gid: s.bob.gid });
  t.after(() => follower.stop());
  await follower.waitFor((o) => o.includes('bob.ini stdout | bob-up'), "bob's follower started");
  // alice opens 400 and opens another whenever one is closed
  const holder = spawn(process.execPath, [SOCKETS, 'hold', s.control, '400'], {
    uid: s.alice.uid,
    gid: s.alice.gid,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => holder.kill('SIGKILL'));
  let last = { open: 0, short: 0, long: 0 };
  holder.stdout.setEncoding('utf8').on('data', (d: string) => {
    const lines = d.trim().split('\n');
    last = JSON.parse(lines[lines.length - 1]) as typeof last;
  });
  await until(() => last.short >= 384, 'all but her share of the 400 closed at once', 20000);
  vassalFile(s.vassals, 'bob2.ini', s.bob, [SLEEPER]);
  await s.emperor.waitEvent('app-started', 'bob2.ini', 1, 20000);
  const blob = await fetchStats(s.stats);
  assert.equal(blob.vassals.find((v) => v.id === 'bob2.ini')?.state, 'running');
  const status = await cli(['status', '--control', s.control]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^bob2\.ini +running/m, 'root is let in while she holds her share');
  const bobsLogs = await cli(['logs', '--control', s.control], { uid: s.bob.uid, gid: s.bob.gid });
  assert.equal(bobsLogs.code, 0, bobsLogs.stderr);
  // her own request finds her share taken (between her reconnections, it may slip in: asked again then)
  await until(
    async () => {
      const r = await cli(['status', '--control', s.control], { uid: s.alice.uid, gid: s.alice.gid });
      return r.code === 1 && /the emperor closed the connection unanswered \(too many connections of this user\?\)/.test(r.stderr);
    },
    "alice's own status refused while she holds her share",
    30000,
  );
  // the ones she held, silent, are closed after 10 s: at most 16 at a time, so each such close is one of her share
  await until(() => last.long >= 16, 'her silent connections closed by the emperor', 30000);
  assert.ok(last.open <= 400 && last.short >= 384);
  const refusals = s.emperor.events('connections-refused');
  assert.equal(refusals.length, 1, 'said once for the episode');
  assert.equal(refusals[0].server, 'control');
  assert.equal(refusals[0].peer, `uid ${s.alice.uid}`);
  holder.kill('SIGKILL');
  await s.emperor.waitEvent('connections-refused-end', undefined, 1, 20000);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const refused = Number(/^emperor_connections_refused_total\{server="control"\} (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(refused >= 385, `${refused} control connections counted as refused, her status request among them`);
  assert.equal(s.emperor.events('connections-refused-end')[0].refused, refused, 'the episode said its count');
  // bob's follower outlived every idle bound and still gets his lines
  fs.utimesSync(path.join(s.vassals, 'bob.ini'), new Date(Date.now() + 5000), new Date(Date.now() + 5000));
  await follower.waitFor((o) => o.split('bob.ini stdout | bob-up').length > 2, "bob's follower getting his reloaded vassal's line");
  assert.equal(s.emperor.child.exitCode, null, 'the emperor runs');
  assert.deepEqual(s.emperor.events('internal-error'), []);
});

test('a stats client that keeps its end open holds nothing; the metrics server caps each peer and closes idle ones', async (t) => {
  const [statsPort, metricsPort] = await freePorts(2);
  const dir = tmpdir('ops-caps');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'app.ini'), `[uwsgi]\n${SLEEPER}\n`);
  const emperor = new EmperorProcess([
    '--emperor',
    dir,
    '--emperor-stats',
    `127.0.0.1:${statsPort}`,
    '--emperor-metrics',
    `127.0.0.1:${metricsPort}`,
  ]);
  t.after(() => emperor.kill());
  await emperor.waitEvent('app-started', 'app.ini');
  const base = openFds(emperor.pid);
  const clients: net.Socket[] = [];
  t.after(() => clients.forEach((c) => c.destroy()));
  const connect = (port: number) =>
    new Promise<net.Socket>((resolve) => {
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      clients.push(c);
      c.on('error', () => undefined);
      c.once('connect', () => resolve(c));
    });
  // 50 stats clients, one after another, that read their document and never close their end
  const docs: string[] = [];
  for (let i = 0; i < 50; i++) {
    const c = await connect(statsPort);
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    await within(new Promise((r) => c.once('end', r)), 5000, 'a stats document');
    docs.push(Buffer.concat(got).toString('utf8'));
  }
  for (const d of docs) assert.equal((JSON.parse(d) as { vassals: unknown[] }).vassals.length, 1);
  await until(() => openFds(emperor.pid) <= base, `the emperor back to its ${base} fds`, 5000);
  // 7 silent metrics connections and one that trickles its headers, from one address: the 9th is closed at once
  for (let i = 0; i < 7; i++) await connect(metricsPort);
  const trickler = await connect(metricsPort);
  trickler.resume(); // its 408 is read, so that its end is seen
  trickler.write('GET /metrics HTTP/1.1\r\nX-Slow: ');
  const drip = setInterval(() => trickler.write('x'), 500);
  t.after(() => clearInterval(drip));
  const ninth = await connect(metricsPort);
  await within(new Promise((r) => ninth.once('end', r)), 5000, 'the 9th connection closed');
  await within(new Promise((r) => trickler.once('end', r)), 20000, 'the trickling one closed: its headers never complete');
  clearInterval(drip);
  const metrics = await until(
    async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    },
    'a scrape once the silent ones are closed (10 s idle)',
    20000,
  );
  assert.match(metrics, /^emperor_connections_refused_total\{server="metrics"\} [1-9]\d*$/m);
  assert.match(metrics, /^emperor_internal_errors_total 0$/m);
});

test("a vassal name and output made to drive the admin's terminal: escaped in status, logs and the pretty log", async (t) => {
  const name = 'z\x1b[2J\x1b[31mbob.ini  running 99 FAKE\x1b[0m\nq.ini';
  const shown = 'z\\x1b[2J\\x1b[31mbob.ini  running 99 FAKE\\x1b[0m\\x0aq.ini';
  const dir = tmpdir('ops-escape');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const vassals = path.join(dir, 'vassals');
  fs.mkdirSync(vassals);
  fs.writeFileSync(path.join(vassals, name), "[uwsgi]\nunprivileged-binary-patch-arg = printf '\\033[2Jgotcha\\n'; exec sleep 1000\n");
  fs.writeFileSync(path.join(vassals, 'calm.ini'), `[uwsgi]\n${SLEEPER}\n`);
  const control = path.join(dir, 'control.sock');
  const stats = path.join(dir, 'stats.sock');
  const emperor = new EmperorProcess(['--emperor', vassals, '--emperor-control', control, '--emperor-stats', stats]);
  t.after(() => emperor.kill());
  await emperor.waitLog((l) => l.some((e) => e.event === 'output' && e.vassal === name), 'the vassal talking');
  for (const args of [
    ['status', '--stats', stats],
    ['status', '--control', control],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /[\x00-\x08\x0b-\x1f\x7f]/, `${args.join(' ')}: no control character reaches the terminal`);
    const rows = r.stdout.trimEnd().split('\n');
    assert.equal(rows.length, 4, `${args.join(' ')}: the head, the columns and one row per vassal: ${r.stdout}`);
    assert.ok(
      rows.some((row) => row.startsWith(`${shown}  running`)),
      r.stdout,
    );
  }
  const logs = await cli(['logs', '--control', control]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.doesNotMatch(logs.stdout, /[\x00-\x08\x0b-\x1f\x7f]/);
  assert.ok(logs.stdout.includes(`${shown} stdout | \\x1b[2Jgotcha\n`), logs.stdout);

  // the pretty log, on a terminal (script(1) gives the emperor one), without colours so that any ESC is the vassal's
  const tag = randomUUID();
  const vt = spawn(
    'script',
    ['-qefc', `exec ${process.execPath} ${path.resolve(__dirname, '../src/cli.js')} --emperor ${vassals}`, '/dev/null'],
    {
      env: { ...process.env, NO_COLOR: '1', EMPEROR_TEST_TAG: tag, EMPEROR_LOG_FORMAT: '', EMPEROR_LOG_LEVEL: 'info' },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let screen = '';
  vt.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
  const stopAll = () => {
    for (const p of taggedPids(tag)) process.kill(p, 'SIGKILL');
    vt.kill('SIGKILL');
  };
  t.after(stopAll);
  await until(() => screen.includes('gotcha'), 'the pretty log showing the vassal talking', 20000);
  const emperorPid = taggedPids(tag).find((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('cli.js'));
  assert.ok(emperorPid, 'the emperor under script(1)');
  process.kill(emperorPid, 'SIGTERM');
  await within(new Promise((r) => vt.once('close', r)), 40000, 'the emperor under script(1) to end');
  assert.doesNotMatch(screen, /\x1b/, 'no escape sequence reached the terminal');
  assert.ok(screen.includes(`${shown}[`), `the name shown escaped: ${screen}`);
  assert.ok(screen.includes('\\x1b[2Jgotcha'), 'the output line shown escaped');
});

test('the caps: per peer and in all; root and the emperor user are let in beyond the total, never beyond their own share', () => {
  const limits = new ConnectionLimits('control', logger(), { total: 3, perPeer: 2 });
  const sockets: Array<EventEmitter & { destroyed: boolean }> = [];
  const admit = (uid: number) => {
    const sock = Object.assign(new EventEmitter(), {
      destroyed: false,
      write: () => true,
      destroy() {
        this.destroyed = true;
      },
    });
    sockets.push(sock);
    return limits.admit(sock as unknown as net.Socket, { kind: 'unix', credentials: { uid, gid: uid, pid: 1 } });
  };
  assert.deepEqual([admit(1000), admit(1000), admit(1000)], [true, true, false], 'two per uid');
  assert.deepEqual([admit(1001), admit(1002)], [true, false], 'three in all');
  assert.deepEqual([admit(0), admit(0), admit(0)], [true, true, false], 'root beyond the total, within its own share');
  assert.equal(limits.refusedTotal, 3);
  assert.deepEqual(
    sockets.map((x) => x.destroyed),
    [false, false, true, false, true, false, false, true],
    'each refused one closed at once',
  );
  sockets[0].emit('close');
  assert.equal(admit(1000), true, 'a closed connection gives its place back, to its peer and in all');
  assert.equal(admit(1002), false, 'the total is full again');
  limits.close();
});
