// timing-sensitive: bounds the emperor's CPU and answer times, so scripts/run-tests.js runs it alone.
// A tenant attacks the emperor through her own native vassal's init: she takes its control socket with pidfd_open +
// pidfd_getfd and writes what she likes on it (test/helpers/init-thief.c). The init makes itself non-dumpable, so her
// own uid is refused that (test/jail.tenant.test.ts); but a tenant may win the moment before it does, or hold
// CAP_SYS_PTRACE somewhere, and the emperor must not care: the thief here takes the socket as root. Malformed frames cost
// her vassal (killed, one init-protocol-error line, broken with the reason); a 2 GiB frame header is refused at the
// header; a flood of well-formed output frames is held to the byte budget and the line rate by the emperor itself.
// Neither the emperor nor bob's vassal notices any of it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchStats } from '../src/ops';
import { testBinary } from './helpers/cc';
import { probeStats } from './helpers/stats-probe';
import { tenants, type Tenants } from './helpers/tenants';
import { until, within } from './helpers/wait';

async function running(stats: string, name: string) {
  return until(async () => {
    const v = (await fetchStats(stats)).vassals.find((x) => x.id === name);
    return v?.state === 'running' ? v : undefined;
  }, `${name} running`);
}

/** The thief on fd 3 (the control socket) of alice's vassal's init; resolves with the bytes it wrote. */
function thief(initPid: number, mode: string, arg: string, t: TestContext): Promise<number> {
  const bin = testBinary('init-thief');
  return within(
    new Promise<number>((resolve, reject) => {
      const child = execFile(bin, [String(initPid), '3', mode, arg], (err, stdout, stderr) =>
        err ? reject(new Error(`init-thief: ${err.message} ${stderr}`)) : resolve(Number(stdout.trim())),
      );
      t.after(() => child.exitCode === null && child.kill('SIGKILL'));
    }),
    30000,
    `init-thief ${mode}`,
  );
}

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

async function assertUntouched(s: Tenants): Promise<void> {
  assert.equal(s.emperor.child.exitCode, null, 'the emperor runs');
  assert.equal((await running(s.stats, 'bob.ini')).pid, s.bobPid, "bob's vassal is the same instance");
  assert.deepEqual(s.emperor.events('internal-error'), [], 'no internal error');
}

test("frames an init never sends, written by the tenant on her init's socket: her vassal killed and broken, nothing else", async (t) => {
  const s = await tenants(t);
  // little-endian u32 length (type byte included), the type byte, the body
  const attacks: Array<[string, string, RegExp]> = [
    ['an app frame with an empty body', '0100000061', /an app frame of 0 bytes, not 4/],
    ['an exit frame of 3 bytes', '0400000078000000', /an exit frame of 3 bytes, not 8/],
    ['a step frame of 3 bytes', '0400000073000000', /a step frame of 3 bytes/],
    ['a step report of a step never sent', `0d00000073ffffff7f0000000000000000`, /step index 2147483647 of a plan of \d+ steps/],
    ['an exit code with a signal', '09000000780100000009000000', /exit code 1 with signal 9/],
    ['an output frame for stream 3', '030000006f0361', /a malformed output frame/],
    ['an unknown frame type', '020000005a00', /frame type 0x5a/],
    ['a second app start nobody asked for', '0500000061e8030000', /more apps than it was asked for/],
    ['a frame of 0 bytes', '00000000', /a frame of 0 bytes/],
  ];
  for (const [i, [what, hex, reason]] of attacks.entries()) {
    const v = await running(s.stats, 'alice.ini');
    await thief(v.pid, 'bytes', hex, t);
    await s.emperor.waitEvent('init-protocol-error', 'alice.ini', i + 1);
    const line = s.emperor.events('init-protocol-error', 'alice.ini')[i];
    assert.match(String(line.reason), reason, what);
    const broken = await until(async () => {
      const b = (await fetchStats(s.stats)).vassals.find((x) => x.id === 'alice.ini');
      return b?.state === 'broken' ? b : undefined;
    }, `alice.ini broken after ${what}`);
    assert.match(broken.setup_error ?? '', /the vassal init broke the init wire/, what);
    assert.match(broken.setup_error ?? '', reason, what);
    assert.equal(broken.last_exit, 'killed by SIGKILL', `${what}: its init was killed`);
    await assertUntouched(s);
    // an edit of her file is her asking for it again
    const future = new Date(Date.now() + (i + 2) * 2000);
    fs.utimesSync(path.join(s.vassals, 'alice.ini'), future, future);
  }
  assert.equal(s.emperor.events('init-protocol-error').length, attacks.length, 'one line per attack');
});

test('a frame header announcing 2 GiB, then megabytes: refused at the header, the emperor neither buffers nor spins', async (t) => {
  const s = await tenants(t);
  const v = await running(s.stats, 'alice.ini');
  const rss0 = rssKb(s.emperor.pid);
  const cpu0 = cpuSeconds(s.emperor.pid);
  const probe = probeStats(s.stats, 50);
  const written = await thief(v.pid, 'huge', '3', t);
  const result = await probe.stop();
  await s.emperor.waitEvent('init-protocol-error', 'alice.ini');
  assert.match(String(s.emperor.events('init-protocol-error', 'alice.ini')[0].reason), /a frame of 2147483632 bytes \(at most \d+\)/);
  assert.ok(written < 8 * 1024 * 1024, `only what the socket buffers took went in (${written} bytes): nothing more was read`);
  assert.ok(cpuSeconds(s.emperor.pid) - cpu0 < 1, 'the emperor used under a second of CPU over the whole attack');
  assert.ok(rssKb(s.emperor.pid) - rss0 < 16 * 1024, `RSS grew by ${rssKb(s.emperor.pid) - rss0} kB`);
  assert.deepEqual(result.failures, [], 'every stats probe answered');
  assert.ok(result.worst < 500, `slowest stats answer ${result.worst.toFixed(0)} ms`);
  await assertUntouched(s);
});

test('a flood of well-formed output frames through the stolen socket: held to the byte budget and the line rate', async (t) => {
  const RATE = 200;
  const SECONDS = 4;
  const s = await tenants(t, { extra: ['--emperor-log-rate', String(RATE)] });
  const v = await running(s.stats, 'alice.ini');
  const cpu0 = cpuSeconds(s.emperor.pid);
  const t0 = performance.now();
  const probe = probeStats(s.stats, 50);
  const written = await thief(v.pid, 'flood', String(SECONDS), t);
  const elapsed = (performance.now() - t0) / 1000;
  const result = await probe.stop();
  const cpu = (cpuSeconds(s.emperor.pid) - cpu0) / elapsed;
  // the emperor reads at most 4 MiB a second; what went beyond sits in the socket's buffers
  assert.ok(written < 4 * 1024 * 1024 * (elapsed + 2), `${(written / 1048576).toFixed(1)} MiB went in over ${elapsed.toFixed(1)} s`);
  assert.ok(written > 1024 * 1024, `the flood ran (${written} bytes)`);
  assert.ok(cpu < 0.6, `the emperor used ${(cpu * 100).toFixed(0)} % of a CPU`);
  assert.deepEqual(result.failures, [], 'every stats probe answered');
  assert.ok(result.worst < 500, `slowest stats answer ${result.worst.toFixed(0)} ms`);
  // its own stdout copy keeps to the line rate, one second at a time
  const perSecond = new Map<number, number>();
  for (const e of s.emperor.events('output', 'alice.ini')) {
    const sec = Math.floor((e.time as number) / 1000);
    perSecond.set(sec, (perSecond.get(sec) ?? 0) + 1);
  }
  assert.ok(perSecond.size > 0, 'the flood was logged');
  assert.ok(Math.max(...perSecond.values()) <= 2 * RATE, `lines logged per second: ${JSON.stringify([...perSecond.values()])}`);
  await s.emperor.waitEvent('output-dropped', 'alice.ini');
  // well-formed output is hers to send: her vassal runs on
  assert.equal((await running(s.stats, 'alice.ini')).pid, v.pid, "alice's vassal was not killed for well-formed frames");
  await assertUntouched(s);
});
