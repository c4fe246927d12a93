// The hostile-input rules of the wires, case by case: each init frame's exact layout, the frame cap and the header
// refusal, buffering in linear time, what an init may report (only what it was asked), the byte budget on its
// channel, the control and reader schemas' refusals, the escaping of text for people, which log files are the
// emperor's, and the upgrade state's versioned schema.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckError } from '../src/check';
import { ByteBudget, OUTPUT_BYTES_PER_SECOND } from '../src/byte-budget';
import { FrameSplitter, JsonLines, WireError } from '../src/frames';
import { decodeInitFrame, frameCap, MIN_FRAME_CAP, MSG, NO_STEP } from '../src/jail/init-wire';
import { InitLink, type LinkEvents } from '../src/jail/init-link';
import type { JailPlan } from '../src/jail/plan';
import { parseRequest } from '../src/ops/control-wire';
import { parseAnswer } from '../src/reader/reader-wire';
import { printable, printableText } from '../src/printable';
import { logFileName, vassalOfLogFile } from '../src/output/logfile';
import { readUpgradeState, UpgradeStateError, writeUpgradeState, type UpgradeState } from '../src/emperor/upgrade-state';
import { until } from './helpers/wait';

const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
const frame = (type: string, body: Buffer) => Buffer.concat([u32(body.length + 1), Buffer.from(type, 'latin1'), body]);
const decode = (type: string, body: Buffer, steps = 3) => decodeInitFrame(Buffer.concat([Buffer.from(type, 'latin1'), body]), steps);
const stepBody = (index: number, text: string, ok = 0, fatal = 1, errno = 2) =>
  Buffer.concat([u32(index), Buffer.from([ok, fatal]), u32(errno), Buffer.from(text, 'latin1')]);

test('init frames: each type has its exact layout, checked before a field is read', () => {
  assert.deepEqual(decode(MSG.app, u32(7)), { type: 'app', pid: 7 });
  assert.deepEqual(decode(MSG.inPlace, u32(8)), { type: 'inPlace', pid: 8 });
  assert.deepEqual(decode(MSG.exit, Buffer.concat([u32(3), u32(0)])), { type: 'exit', code: 3, signal: 0 });
  assert.deepEqual(decode(MSG.exit, Buffer.concat([u32(0xffffffff), u32(15)])), { type: 'exit', code: null, signal: 15 });
  assert.deepEqual(decode(MSG.protocol, Buffer.from([26])), { type: 'protocol', byte: 26 });
  assert.deepEqual(decode(MSG.fallback, Buffer.from([1])), { type: 'fallback', byte: 1 });
  assert.deepEqual(decode(MSG.output, Buffer.from([2, 0x41])), { type: 'output', stream: 'stderr', bytes: Buffer.from('A') });
  assert.deepEqual(decode(MSG.step, stepBody(2, 'open\0/x\0open /x: No such file or directory')), {
    type: 'step',
    index: 2,
    ok: false,
    fatal: true,
    errno: 2,
    syscall: 'open',
    path: '/x',
    message: 'open /x: No such file or directory',
  });
  assert.equal((decode(MSG.step, stepBody(NO_STEP, 'plan\0\0no app')) as { index: number }).index, NO_STEP);
  const refused: Array<[string, Buffer, RegExp]> = [
    [MSG.app, Buffer.alloc(0), /an app frame of 0 bytes, not 4/],
    [MSG.app, u32(0), /pid 0/],
    [MSG.app, u32(1 << 23), /pid 8388608/],
    [MSG.inPlace, Buffer.alloc(5), /an in-place frame of 5 bytes/],
    [MSG.exit, Buffer.alloc(4), /an exit frame of 4 bytes, not 8/],
    [MSG.exit, Buffer.concat([u32(256), u32(0)]), /exit code 256/],
    [MSG.exit, Buffer.concat([u32(0xffffffff), u32(0)]), /signal 0/],
    [MSG.exit, Buffer.concat([u32(0xffffffff), u32(65)]), /signal 65/],
    [MSG.protocol, Buffer.alloc(0), /a protocol frame of 0 bytes/],
    [MSG.protocol, Buffer.alloc(2), /a protocol frame of 2 bytes/],
    [MSG.fallback, Buffer.from([5]), /fallback byte 5/],
    [MSG.output, Buffer.from([1]), /malformed output frame/],
    [MSG.output, Buffer.from([0, 0x41]), /malformed output frame/],
    [MSG.step, Buffer.alloc(11), /a step frame of 11 bytes/],
    [MSG.step, stepBody(3, 'a\0b\0c'), /step index 3 of a plan of 3 steps/],
    [MSG.step, stepBody(0, 'a\0b\0c', 2), /ok 2/],
    [MSG.step, stepBody(0, 'a\0b\0c', 0, 7), /fatal 7/],
    [MSG.step, stepBody(0, 'a\0b\0c', 0, 1, 0xffffffff), /errno -1/],
    [MSG.step, stepBody(0, 'a\0b'), /2 NUL-separated parts, not 3/],
    [MSG.step, stepBody(0, 'a\0b\0c\0d'), /4 NUL-separated parts/],
    [MSG.step, stepBody(0, 'a\0\xff\xfe\0c'), /not UTF-8/],
    [MSG.step, stepBody(0, 'OPEN\x1b\0b\0c'), /syscall name/],
    ['P', Buffer.alloc(0), /frame type 0x50/],
  ];
  for (const [type, body, reason] of refused) assert.throws(() => decode(type, body), reason, `${type} ${body.toString('hex')}`);
  for (const [type, body] of refused) assert.throws(() => decode(type, body), WireError);
});

test('frames: a header over the cap is refused before a byte of its body is buffered; joining is linear', () => {
  const s = new FrameSplitter();
  assert.throws(() => s.push(Buffer.from([0xf0, 0xff, 0xff, 0x7f, 0x6f]), MIN_FRAME_CAP), /a frame of 2147483632 bytes \(at most 262144\)/);
  const cut = new FrameSplitter();
  assert.deepEqual(cut.push(Buffer.from([0xf0, 0xff]), 100), []);
  assert.throws(() => cut.push(Buffer.from([0xff, 0x7f]), 100), /a frame of 2147483632 bytes/, 'as soon as the length is whole');
  // 8 MiB fed 4 KiB at a time: the bytes copied stay within twice the frame (one join), not the square of the reads
  const size = 8 << 20;
  const body = Buffer.alloc(size, 1);
  const whole = Buffer.concat([u32(size), body]);
  const realConcat = Buffer.concat;
  let copied = 0;
  Buffer.concat = (list: readonly Uint8Array[], total?: number) => {
    const out = realConcat(list, total);
    copied += out.length;
    return out;
  };
  const got: Buffer[] = [];
  try {
    const big = new FrameSplitter();
    for (let at = 0; at < whole.length; at += 4096) got.push(...big.push(whole.subarray(at, at + 4096), size));
  } finally {
    Buffer.concat = realConcat;
  }
  assert.equal(got.length, 1);
  assert.ok(got[0].equals(body));
  assert.ok(copied <= 2 * whole.length, `${copied} bytes copied for a frame of ${whole.length}`);
  // the cap grows with a plan's longest word, so an honest report naming it fits
  assert.equal(frameCap(10), MIN_FRAME_CAP);
  assert.equal(frameCap(1 << 20), 2 * (1 << 20) + 16 * 1024);
});

test('JSON lines: a line past the bound is refused as soon as it passes it, not at a newline that never comes', () => {
  const lines = new JsonLines(10);
  assert.deepEqual(lines.push(Buffer.from('{"a":1}\n{"b"')), ['{"a":1}']);
  assert.throws(() => lines.push(Buffer.from(':123456')), /a line of more than 10 bytes/);
  const split = new JsonLines(64);
  const euro = Buffer.from('"€"\n');
  assert.deepEqual([...split.push(euro.subarray(0, 2)), ...split.push(euro.subarray(2))], ['"€"'], 'a character cut by a read is whole');
});

const PLAN: JailPlan = {
  vassal: 'v.ini',
  firstRun: true,
  steps: (['exec', 'app'] as const).map((op, i) => ({ op, args: ['x'], origin: { file: '/v.ini', line: i + 1, option: op }, fatal: true })),
};

function linkWith(events: LinkEvents = {}) {
  const errors: string[] = [];
  const socket = { paused: 0, resumed: 0, write: () => true, destroy: () => undefined };
  const sock = { ...socket, pause: () => void sock.paused++, resume: () => void sock.resumed++ };
  const link = new InitLink({ ...events, onProtocolError: (r) => errors.push(r) }).connect(sock);
  return { link, errors, sock };
}

test('an init reports only what it was asked for: steps of the plans sent, an app per start or reload, exits, fallbacks', () => {
  const before = linkWith();
  before.link.onData(frame(MSG.app, u32(2)));
  assert.deepEqual(before.errors, ['the init sent more apps than it was asked for'], 'an app start before any plan');
  const steps: number[] = [];
  const { link, errors } = linkWith({ onStep: (r) => steps.push(r.index) });
  link.start(PLAN);
  const ok = (i: number) => frame(MSG.step, stepBody(i, '\0\0', 1, 1, 0));
  link.onData(Buffer.concat([ok(0), ok(1), frame(MSG.app, u32(2)), frame(MSG.exit, Buffer.concat([u32(0), u32(0)]))]));
  assert.deepEqual(errors, []);
  assert.deepEqual(steps, [0, 1]);
  link.onData(frame(MSG.exit, Buffer.concat([u32(0), u32(0)])));
  assert.deepEqual(errors, ['the init sent more exits than it was asked for']);
  link.onData(ok(0));
  assert.equal(errors.length, 1, 'nothing is read after a protocol error');
  const flood = linkWith();
  flood.link.start(PLAN);
  flood.link.onData(Buffer.concat(Array.from({ length: 5 }, () => ok(0))));
  assert.deepEqual(flood.errors, ['the init sent more steps than it was asked for'], 'a plan of 2 steps allows 4 reports');
  assert.equal(flood.sock.paused, 1, 'its socket is paused for good');
});

test("the init's channel is held to the byte budget: paused past it, resumed in the next second", async () => {
  const out: number[] = [];
  const { link, sock, errors } = linkWith({ onOutput: (_s, b) => out.push(b.length) });
  link.start(PLAN);
  const chunk = frame(MSG.output, Buffer.concat([Buffer.from([1]), Buffer.alloc(16384, 0x61)]));
  for (let sent = 0; sent <= OUTPUT_BYTES_PER_SECOND; sent += chunk.length) link.onData(chunk);
  assert.deepEqual(errors, []);
  assert.equal(sock.paused, 1, 'paused once past 4 MiB in a second');
  await until(() => sock.resumed === 1, 'resumed in the next second', 3000);
  link.onClose();
  // and a flood of tiny frames costs at least 64 bytes each
  const tiny = linkWith();
  let pauses = 0;
  const budget = new ByteBudget({ pause: () => void pauses++, resume: () => undefined }, 100);
  budget.spend(100);
  assert.equal(pauses, 0, 'the budget itself is allowed');
  budget.spend(1);
  assert.equal(pauses, 1, 'one byte over it is not');
  budget.close();
  tiny.link.start(PLAN);
  const proto = frame(MSG.protocol, Buffer.from([26]));
  for (let i = 0; i < Math.ceil(OUTPUT_BYTES_PER_SECOND / (64 + proto.length)) + 1; i++) tiny.link.onData(proto);
  assert.equal(tiny.sock.paused, 1, 'tiny frames are charged at least 64 bytes each');
  tiny.link.onClose();
});

test('control requests: null, arrays, numbers, missing and wrong fields are refused naming where', () => {
  const cases: Array<[string, RegExp]> = [
    ['null', /^request: expected an object, got null$/],
    ['[]', /^request: expected an object, got an array of 0$/],
    ['5', /^request: expected an object, got 5$/],
    ['{"cmd":"kill"}', /^request\.cmd: expected one of status, logs/],
    ['{"cmd":"stop"}', /^request\.vassal: expected a string of at least 1/],
    ['{"cmd":"stop","vassal":null}', /^request\.vassal: expected a string/],
    ['{"cmd":"stop","vassal":"a","as":0}', /^request\.as: expected no such key/],
    ['{"cmd":"logs","lines":-1}', /^request\.lines: expected an integer in 0\.\.1000000, got -1$/],
    ['{"cmd":"logs","follow":"yes"}', /^request\.follow: expected true or false/],
    ['{"cmd":', /^request: expected JSON/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(
      () => parseRequest(text),
      (e: unknown) => e instanceof CheckError && reason.test(e.message),
      text,
    );
  }
  assert.deepEqual(parseRequest('{"cmd":"logs","vassal":"a.ini","lines":0,"follow":true}'), {
    cmd: 'logs',
    vassal: 'a.ini',
    lines: 0,
    follow: true,
  });
});

test('reader answers: each shape checked to its leaves, and only one of the three', () => {
  const config = { spec: 'a.ini', file: '/a.ini', options: [{ key: 'k', value: 'v', file: '/a.ini', line: 1 }], warnings: [] };
  assert.deepEqual(parseAnswer(JSON.stringify({ id: 1, config, shell: '/bin/sh' })).id, 1);
  const bad: Array<[unknown, RegExp]> = [
    [
      { id: 1, config: { ...config, options: [{ key: 'k', value: 'v', file: '/a.ini', line: -1 }] }, shell: '/bin/sh' },
      /options\[0\]\.line/,
    ],
    [{ id: 1, config, shell: '/bin/sh', error: { file: 'a', line: 0, reason: 'r', code: 'E' } }, /answer\.error: expected no such key/],
    [{ id: 0, sections: [] }, /id/],
    [{ id: 2, sections: [{ section: 5, digest: 'x' }] }, /section/],
    [{ id: 2, error: { file: 'a', line: 0, reason: 'r', code: '' } }, /code/],
    [null, /: answer: expected an object, got null$/],
    [{ id: 3 }, /: answer: expected an object with one of the keys config, sections, error/],
  ];
  for (const [answer, where] of bad) assert.throws(() => parseAnswer(JSON.stringify(answer)), where, JSON.stringify(answer));
});

test('text for people: escapes, newlines, C1 controls, bidi overrides and lone surrogates are shown, not obeyed', () => {
  const name = 'z\x1b[2J\x1b[31mbob.ini  running 99 FAKE\x1b[0m\nq.ini';
  assert.equal(printableText(name), 'z\\x1b[2J\\x1b[31mbob.ini  running 99 FAKE\\x1b[0m\\x0aq.ini');
  assert.equal(printableText('tab\there'), 'tab\there');
  assert.equal(printableText('a\u202eb\u2066c\u0085d\u2028e'), 'a\\u202eb\\u2066c\\x85d\\u2028e');
  assert.equal(printableText('\ud83d\ude00 ok \ud800 \udc00'), '\ud83d\ude00 ok \\ud800 \\udc00');
  assert.equal(printableText('plain café ☕'), 'plain café ☕');
  assert.equal(printable(Buffer.from('a\x1bb\xe2\x80\xaec', 'latin1')), 'a\\x1bb\\u202ec', 'the bytes of a bidi override too');
  assert.doesNotMatch(printableText(name), /[\x00-\x08\x0a-\x1f\x7f-\x9f]/);
});

test("log files: only names the emperor gives are a vassal's", () => {
  for (const v of ['app.ini', '.hidden.ini', 'a/b:c.ini', 'z\x1b[2J\nq.ini', 'ü.ini']) {
    assert.equal(vassalOfLogFile(logFileName(v)), v);
    assert.equal(vassalOfLogFile(`${logFileName(v)}.3`), v);
  }
  for (const f of ['app.ini.log.0', 'app.ini.txt', 'a%41.log', '%E0%A4%A.log', '.log', 'app.ini.log.1234567', 'notes', '.hidden.ini.log'])
    assert.equal(vassalOfLogFile(f), undefined, f);
});

function aState(): Omit<UpgradeState, 'format'> {
  return {
    emperor: { pid: 100, startedAtMs: 1795300000000 },
    vassals: [
      {
        monitor: '/etc/vassals',
        name: 'app.ini',
        config: { path: '/etc/vassals/app.ini', dir: '/etc/vassals', mtimeMs: 1795300000123.5, uid: 1000, gid: 1000, dev: 2049, ino: 77 },
        state: 'running',
        held: false,
        instance: {
          pid: 4242,
          native: true,
          cgroup: '/sys/fs/cgroup/emperor.100/app.ini.1',
          startedAtMs: 1795300001000,
          pidfd: 20,
          channel: 21,
        },
        born: 1795300000,
        lastMod: 1795300000,
        firstRun: 1795300001,
        lastRun: 1795300001,
        loyal: true,
        lastLoyal: 1795300004,
        ready: true,
        lastReady: 1795300002,
        accepting: false,
        lastAccepting: 0,
        lastHeartbeat: 0,
        cursedAt: 0,
        respawns: 1,
        deaths: 0,
        lastExit: '',
        setupError: '',
        onDemand: null,
      },
      {
        monitor: '/etc/vassals',
        name: 'wsgi.ini',
        config: { path: '/etc/vassals/wsgi.ini', dir: '/etc/vassals', mtimeMs: 1795300000000, uid: 1001, gid: 1001 },
        state: 'dormant',
        held: false,
        instance: null,
        born: 1795300000,
        lastMod: 1795300000,
        firstRun: 0,
        lastRun: 0,
        loyal: false,
        lastLoyal: 0,
        ready: false,
        lastReady: 0,
        accepting: false,
        lastAccepting: 0,
        lastHeartbeat: 0,
        cursedAt: 0,
        respawns: 0,
        deaths: 0,
        lastExit: 'exit 0',
        setupError: '',
        onDemand: { name: '/run/wsgi.sock', ino: 99, fd: 22 },
      },
    ],
    blacklist: [{ id: 'crash.ini', levelUs: 2_000_000, attempt: 2, firstAttemptMs: 1795300000000, lastAttemptMs: 1795300002000 }],
    pool: [{ monitor: 'etcd://127.0.0.1:2379/vassals/', node: 'web1', lease: '7587869123456789' }],
    descriptors: [
      { fd: 20, kind: 'pidfd', vassal: 'app.ini' },
      { fd: 21, kind: 'init-channel', vassal: 'app.ini' },
      { fd: 22, kind: 'on-demand-socket', vassal: 'wsgi.ini' },
      { fd: 23, kind: 'listener', server: 'stats' },
    ],
  };
}

test('the upgrade state: written and read back as it was; another major, a newer minor, and bad fields refused', () => {
  const state = aState();
  const text = writeUpgradeState(state);
  assert.deepEqual(readUpgradeState(text), { format: { major: 1, minor: 0 }, ...state });
  const refuse = (mutate: (s: Record<string, unknown>) => void, reason: RegExp) => {
    const s = JSON.parse(text) as Record<string, unknown>;
    mutate(s);
    assert.throws(
      () => readUpgradeState(JSON.stringify(s)),
      (e: unknown) => e instanceof UpgradeStateError && reason.test(e.message),
    );
  };
  refuse((s) => (s.format = { major: 2, minor: 0 }), /format 2\.0: this emperor reads 1\.0 to 1\.0/);
  refuse((s) => (s.format = { major: 1, minor: 1 }), /format 1\.1/);
  refuse((s) => (s.format = { major: 0, minor: 9 }), /format 0\.9/);
  refuse((s) => delete s.format, /not an upgrade state: state\.format/);
  refuse((s) => ((s.vassals as Array<Record<string, unknown>>)[0].state = 'gone'), /vassals\[0\]\.state/);
  refuse((s) => ((s.descriptors as unknown[]).length = 1), /fd 21 in the descriptor table as init-channel of app\.ini/);
  refuse((s) => (s.descriptors as unknown[]).push({ fd: 20, kind: 'listener', server: 'control' }), /each descriptor once/);
  refuse((s) => ((s.pool as Array<Record<string, unknown>>)[0].lease = 'x1'), /pool\[0\]\.lease/);
  assert.throws(() => readUpgradeState('null'), UpgradeStateError);
  assert.throws(() => readUpgradeState('{'), UpgradeStateError);
});
