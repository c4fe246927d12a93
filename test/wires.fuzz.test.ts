// Every wire format, fuzzed: 10,000 inputs or more per format, from fixed seeds (the same inputs on every run),
// made by mutating valid messages (subtrees swapped for null, [], {}, numbers, strings; keys dropped or added; text
// and frames truncated, bit-flipped, spliced; lengths made huge) and by plain randomness. Each input is either
// accepted as a well-typed value or refused with the wire's own error (CheckError, WireError); nothing else is ever
// thrown, and the emperor's side of the init wire reports a refusal once and never throws at all.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckError, parseJson } from '../src/check';
import { FrameSplitter, JsonLines, WireError } from '../src/frames';
import { parseAnswer as parseControlAnswer, parseRequest as parseControlRequest } from '../src/ops/control-wire';
import { parseAnswer as parseReaderAnswer } from '../src/reader/reader-wire';
import { statsDocument } from '../src/ops/stats-document';
import * as agent from '../src/agent/agent-wire';
import { InitLink, type AppEvent, type StepReport } from '../src/jail/init-link';
import { MSG } from '../src/jail/init-wire';
import type { JailPlan } from '../src/jail/plan';
import { chunks, fuzz, int, mutateBytes, mutateJson, pick, randomBytes, randomJson, type Rand } from './helpers/fuzz';

const COUNT = 10_000;

/** A JSON input: a mutated sample (half), a mutated sample's text (a quarter), or random JSON or bytes. */
function jsonInput(samples: readonly unknown[]): (r: Rand) => string {
  return (r) => {
    const k = int(r, 8);
    if (k < 4) return JSON.stringify(mutateJson(r, pick(r, samples)));
    if (k < 6) return mutateBytes(r, Buffer.from(JSON.stringify(pick(r, samples)))).toString('utf8');
    if (k < 7) return JSON.stringify(randomJson(r));
    return k === 7 && r() < 0.5 ? JSON.stringify(pick(r, samples)) : randomBytes(r, int(r, 40)).toString('latin1');
  };
}

/** A value accepted by a checker is one the checker accepts again, unchanged: the checks are of the value itself. */
function stable<T>(parse: (text: string) => T): (value: T) => void {
  return (value) => assert.equal(JSON.stringify(parse(JSON.stringify(value))), JSON.stringify(value));
}

const NOW = 1_795_300_000;
const vassalStats = {
  id: 'app.ini',
  pid: 1234,
  born: NOW,
  last_mod: NOW,
  last_heartbeat: 0,
  loyal: 1,
  ready: 1,
  accepting: 0,
  last_loyal: NOW,
  last_ready: NOW,
  last_accepting: 0,
  first_run: NOW,
  last_run: NOW,
  cursed: 0,
  zerg: 0,
  on_demand: '',
  uid: 1000,
  gid: 1000,
  monitor: '/etc/vassals',
  respawns: 2,
  state: 'running',
  native: 1,
  deaths: 0,
  uptime: 12,
  last_exit: '',
  setup_error: '',
  owner: '',
  cpu: 0.5,
  memory: 123456,
};
const statsDoc = {
  version: '0.1.0',
  pid: 1,
  uid: 0,
  gid: 0,
  cwd: '/',
  emperor: ['/etc/vassals'],
  emperor_tyrant: 1,
  throttle_level: 0,
  vassals: [vassalStats, { ...vassalStats, id: 'b.ini', pid: -1, state: 'throttled' }],
  blacklist: [{ id: 'b.ini', throttle_level: 2000, attempt: 2, first_attempt: NOW, last_attempt: NOW }],
  emperor_impl: 'emperor',
  ragnarok: 0,
  monitor_errors: [{ monitor: '/etc/vassals', path: '/etc/vassals/x.ini', error: 'EACCES' }],
  node: 'web1',
  pool: [{ monitor: 'etcd://x/', vassal: 'app.ini', owner: 'web1' }],
};

test('control requests, as the server reads them', () => {
  const samples = [
    { cmd: 'status' },
    { cmd: 'logs' },
    { cmd: 'logs', vassal: 'app.ini', lines: 100, follow: true },
    { cmd: 'reload', vassal: 'app.ini' },
    { cmd: 'stop', vassal: 'app.ini' },
    { cmd: 'start', vassal: 'a' },
    { cmd: 'resume', vassal: 'app.ini' },
  ];
  fuzz('control request', 1601, COUNT, jsonInput(samples), parseControlRequest, stable(parseControlRequest), [CheckError]);
  // and the refusals the attacks of issue 16 used, by name
  for (const text of ['null', '[]', '5', '"stop"', '{}', '{"cmd":"stop"}', '{"cmd":"stop","vassal":null}', '{"cmd":"logs","lines":-1}'])
    assert.throws(() => parseControlRequest(text), CheckError, text);
  assert.throws(() => parseControlRequest('null'), /^CheckError: request: expected an object, got null$/);
});

test('control answers, as the client reads them', () => {
  const samples = [
    { ok: true, vassal: 'app.ini', state: 'stopping' },
    { ok: false, code: 'EPERM', error: 'permission denied' },
    { ok: true, line: { vassal: 'app.ini', time: 1795300000000, stream: 'stdout', pid: 7, line: 'hello', truncated: 3 } },
    { ok: true, stats: statsDoc },
  ];
  fuzz('control answer', 1602, COUNT, jsonInput(samples), parseControlAnswer, stable(parseControlAnswer), [CheckError]);
});

test('the stats document, as a client reads it', () => {
  const parse = (text: string) => parseJson(statsDocument, text, 'stats');
  fuzz('stats document', 1603, COUNT, jsonInput([statsDoc]), parse, stable(parse), [CheckError]);
});

test('config reader answers, as the emperor reads them', () => {
  const samples = [
    {
      id: 3,
      config: {
        spec: 'app.ini',
        file: '/etc/vassals/app.ini',
        options: [
          { key: 'socket', value: ':8080', file: '/etc/vassals/app.ini', line: 2 },
          { key: 'master', value: 'true', file: '<vassal-set>', line: 0 },
        ],
        warnings: [{ file: '/etc/vassals/app.ini', line: 4, message: 'unknown option' }],
      },
      shell: '/bin/sh',
    },
    {
      id: 4,
      sections: [
        { section: null, digest: 'ab' },
        { section: 'app2', digest: 'cd' },
      ],
    },
    { id: 5, error: { file: '/etc/vassals/app.ini', line: 3, option: 'ini', reason: 'no such file', code: 'ENOENT' } },
  ];
  fuzz('reader answer', 1604, COUNT, jsonInput(samples), parseReaderAnswer, stable(parseReaderAnswer), [CheckError]);
});

test('JSON lines in any chunking: whole lines only, a line over the bound refused as soon as it passes it', () => {
  const make = (r: Rand) => {
    const text = Array.from({ length: int(r, 5) }, () => `${JSON.stringify(randomJson(r))}${pick(r, ['\n', '\r\n', ''])}`).join('');
    const bytes = mutateBytes(r, Buffer.from(text));
    const cuts = chunks(r, bytes, 64);
    return { bytes, cuts };
  };
  fuzz(
    'JSON lines',
    1605,
    COUNT,
    make,
    ({ cuts }) => {
      const lines = new JsonLines(200);
      return cuts.flatMap((c) => lines.push(c));
    },
    (lines, { bytes }) => {
      // the lines are the input's own, in order, without their terminators
      const whole = bytes.toString('utf8').split('\n').slice(0, lines.length);
      assert.deepEqual(
        lines,
        whole.map((l) => l.replace(/\r$/, '')),
      );
    },
    [WireError],
  );
});

const PLAN: JailPlan = {
  vassal: 'app.ini',
  firstRun: true,
  steps: (['print', 'chdir', 'mkdir', 'hostname', 'app'] as const).map((op, i) => ({
    op,
    args: [`arg${i}`],
    origin: { file: '/etc/vassals/app.ini', line: i + 1, option: `opt${i}` },
    fatal: true,
  })),
};

function initFrame(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length + 1);
  return Buffer.concat([len, Buffer.from(type, 'latin1'), body]);
}

/** Frames an honest init sends for PLAN. */
function honestFrames(r: Rand): Buffer[] {
  const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
  const step = (i: number, ok: boolean) =>
    initFrame(
      MSG.step,
      Buffer.concat([u32(i), Buffer.from([ok ? 1 : 0, 1]), u32(ok ? 0 : 2), Buffer.from(`open\0/x\0open /x: No such file`)]),
    );
  const frames = [0, 1, 2, 3].map((i) => step(i, true));
  frames.push(initFrame(MSG.app, u32(2)));
  frames.push(initFrame(MSG.output, Buffer.concat([Buffer.from([1 + int(r, 2)]), Buffer.from('hello\nwor')])));
  frames.push(initFrame(MSG.protocol, Buffer.from([pick(r, [1, 5, 17, 26, 22])])));
  frames.push(initFrame(MSG.exit, Buffer.concat([u32(0xffffffff), u32(9)])));
  return frames;
}

/** An init frame stream: honest frames, then mutated (and sometimes with a huge length), in random chunks. */
function initStream(r: Rand): Buffer[] {
  const frames = honestFrames(r).slice(0, 1 + int(r, 8));
  const k = int(r, 10);
  let bytes: Buffer;
  if (k < 6) {
    const i = int(r, frames.length);
    frames[i] = mutateBytes(r, frames[i]);
    bytes = Buffer.concat(frames);
  } else if (k < 7) {
    const huge = Buffer.alloc(5);
    huge.writeUInt32LE(0x7ffffff0 - int(r, 1 << 20));
    huge[4] = MSG.output.charCodeAt(0);
    bytes = Buffer.concat([...frames, huge, randomBytes(r, int(r, 100))]);
  } else if (k < 8) {
    bytes = randomBytes(r, int(r, 64));
  } else {
    bytes = Buffer.concat(frames);
  }
  return chunks(r, bytes, 48);
}

test('init frames, as the emperor reads them: every event well-typed, or one protocol error, never a throw', () => {
  const events = { steps: 0, apps: 0, protocol: 0, output: 0 };
  fuzz(
    'init frames',
    1606,
    COUNT,
    initStream,
    (cuts) => {
      let error: string | undefined;
      let after = 0;
      const link = new InitLink({
        onStep: (s: StepReport) => {
          after += error === undefined ? 0 : 1;
          assert.ok(Number.isInteger(s.index) && (s.index < PLAN.steps.length || s.index === 0xffffffff), `index ${s.index}`);
          assert.equal(typeof s.message, 'string');
          events.steps++;
        },
        onApp: (e: AppEvent) => {
          after += error === undefined ? 0 : 1;
          if ('pid' in e) assert.ok(Number.isInteger(e.pid) && e.pid >= 1 && e.pid <= 1 << 22);
          else assert.ok(e.exit.code === null ? e.exit.signal !== null : e.exit.code >= 0 && e.exit.code <= 255);
          events.apps++;
        },
        onProtocol: (b) => {
          assert.ok(Number.isInteger(b) && b >= 0 && b <= 255);
          events.protocol++;
        },
        onOutput: (stream, chunk) => {
          assert.ok(stream === 'stdout' || stream === 'stderr');
          assert.ok(chunk.length > 0);
          events.output++;
        },
        onProtocolError: (reason) => {
          assert.equal(error, undefined, 'one protocol error at most');
          error = reason;
        },
      });
      link.connect({ write: () => true, destroy: () => undefined, pause: () => undefined, resume: () => undefined });
      link.start(PLAN);
      for (const c of cuts) link.onData(c);
      link.onClose();
      assert.equal(after, 0, 'nothing is heard after a protocol error');
      if (error !== undefined) throw new WireError(error);
    },
    () => undefined,
    [WireError],
  );
  assert.ok(
    Object.values(events).every((n) => n > 0),
    `every kind of event was heard: ${JSON.stringify(events)}`,
  );
});

test('agent answers, as their decoders read them', () => {
  const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
  const stat = Buffer.concat([
    Buffer.from([1]),
    u32(0o100644),
    u32(1000),
    u32(1000),
    Buffer.alloc(8, 1),
    Buffer.alloc(8, 2),
    u32(5),
    Buffer.alloc(8, 3),
  ]);
  const names = Buffer.concat([u32(2), u32(1), Buffer.from('a'), u32(3), Buffer.from('b.c')]);
  const frame = (b: Buffer) => Buffer.concat([u32(b.length), b]);
  const samples: Array<[string, Buffer, (p: Buffer) => unknown]> = [
    ['answer', Buffer.concat([Buffer.from([0]), Buffer.from('payload')]), agent.decodeAnswer],
    ['errno', Buffer.concat([Buffer.from([1]), u32(13)]), agent.decodeAnswer],
    ['notreg', Buffer.from([2, 4]), agent.decodeAnswer],
    ['stat', stat, agent.decodeStat],
    ['path', Buffer.from('/etc/vassals/app.ini'), agent.decodePath],
    ['names', names, agent.decodeNames],
    [
      'load',
      Buffer.concat([frame(Buffer.concat([Buffer.from([0]), stat])), frame(Buffer.from('\0/x')), frame(Buffer.from('\0abc'))]),
      agent.decodeLoad,
    ],
    ['exec', Buffer.concat([u32(0), Buffer.from('out')]), (p) => agent.decodeExec(p, 16)],
    ['read', Buffer.from('0123456789'), (p) => agent.decodeRead(p, 12)],
    ['bound', Buffer.alloc(8, 1), agent.decodeBound],
    ['source', Buffer.concat([Buffer.from([1]), Buffer.alloc(8), u32(5), u32(1000), u32(1000)]), agent.decodeSource],
    ['empty', Buffer.alloc(0), agent.decodeEmpty],
  ];
  for (const [i, [what, sample, decode]] of samples.entries()) {
    fuzz(
      `agent ${what}`,
      1700 + i,
      COUNT,
      (r) => (int(r, 10) === 0 ? sample : int(r, 10) === 0 ? randomBytes(r, int(r, 64)) : mutateBytes(r, sample)),
      decode,
      () => undefined,
      [agent.WireError],
    );
  }
});

test('length-prefixed frames in any chunking: whole frames, or a refusal at the header of one over the bound', () => {
  fuzz(
    'frame splitter',
    1607,
    COUNT,
    (r) => {
      const bodies = Array.from({ length: int(r, 4) }, () => randomBytes(r, int(r, 40)));
      let bytes: Buffer = Buffer.concat(
        bodies.map((b) => {
          const len = Buffer.alloc(4);
          len.writeUInt32LE(int(r, 20) === 0 ? pick(r, [0, 0x7ffffff0, 0xffffffff, 101]) : b.length);
          return Buffer.concat([len, b]);
        }),
      );
      if (int(r, 4) === 0) bytes = mutateBytes(r, bytes);
      const cuts = chunks(r, bytes, 32);
      return { bytes, cuts };
    },
    ({ cuts }) => {
      const s = new FrameSplitter();
      return cuts.flatMap((c) => s.push(c, 100));
    },
    (frames, { bytes }) => {
      // each frame is the bytes its header announced, in order
      let at = 0;
      for (const f of frames) {
        const len = bytes.readUInt32LE(at);
        assert.ok(len >= 1 && len <= 100);
        assert.deepEqual(f, bytes.subarray(at + 4, at + 4 + len));
        at += 4 + len;
      }
    },
    [WireError],
  );
});
