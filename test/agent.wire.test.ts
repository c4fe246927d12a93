// The agent's wire format from both ends treated as hostile: an agent exits on a frame it cannot read and refuses
// (EINVAL) what it can read but will not do; the client refuses oversized or malformed answers; STAT_SOURCES streams
// one frame per path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentProcess } from '../src/agent/process';
import * as wire from '../src/agent/agent-wire';
import { closeFd, exchange, receive, socketpair, type NativeError } from '../src/native';
import { openTmpdir } from './helpers/agents';
import { procStat } from './helpers/native-proc';

function agent(t: import('node:test').TestContext): AgentProcess {
  const a = AgentProcess.start(null, []);
  a.ref(); // agents are unref'd: this test waits for its exit
  t.after(async () => {
    closeFd(a.fd);
    a.kill();
    await a.exited;
    assert.equal(procStat(a.pid), null);
  });
  return a;
}

function nativeCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as NativeError).code;
  }
  return 'no error';
}

function frame(body: number[] | Buffer): Buffer {
  const b = Buffer.from(body);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  return Buffer.concat([len, b]);
}

test('an unreadable request makes the agent exit: zero length, oversized, cut short, unknown op, trailing bytes', async (t) => {
  const good = wire.encodeRequest({ op: 'stat', path: '/', follow: true });
  const cases: Array<[string, Buffer]> = [
    ['zero length', frame([])],
    ['oversized', Buffer.from([0xff, 0xff, 0xff, 0xff, 1])],
    ['unknown op', frame([99, 0, 0, 0, 0])],
    ['string past the end', frame([1, 0xff, 0, 0, 0, 0x2f])],
    ['trailing bytes', Buffer.concat([frame([...good.subarray(4), 0])])],
    ['count past the end', frame([7, 0, 0xff, 0xff, 0xff, 0x0f])],
  ];
  for (const [what, bytes] of cases) {
    const a = agent(t);
    assert.equal(
      nativeCode(() => exchange(a.fd, bytes, 2000, 1 << 20)),
      'ECONNRESET',
      what,
    );
    await a.exited;
  }
});

test('a readable request the agent will not do is answered EINVAL, and it serves on', (t) => {
  const a = agent(t);
  const einval = wire.decodeAnswer(exchange(a.fd, wire.encodeRequest({ op: 'read', path: '/etc/hostname\0.ini', limit: 10 }), 2000, 100));
  assert.deepEqual(einval, { status: 'errno', errno: 22 });
  const overLimit = frame([1, 1, 0, 0, 0, 0x2f, 0, 0, 0, 0xff]);
  assert.deepEqual(wire.decodeAnswer(exchange(a.fd, overLimit, 2000, 100)), { status: 'errno', errno: 22 });
  const ok = wire.decodeAnswer(exchange(a.fd, wire.encodeRequest({ op: 'stat', path: '/', follow: true }), 2000, 100));
  assert.equal(ok.status, 'ok');
  assert.throws(() => wire.encodeRequest({ op: 'read', path: '/x', limit: wire.MAX_LIMIT + 1 }), RangeError);
});

test('STAT_SOURCES streams one answer per path, in order: the monitors rule', (t) => {
  const dir = openTmpdir(t, 'agent-wire-sources');
  const a = agent(t);
  const file = path.join(dir, 'a.ini');
  fs.writeFileSync(file, 'a');
  fs.symlinkSync('a.ini', path.join(dir, 'link.ini'));
  fs.symlinkSync('missing', path.join(dir, 'dangling.ini'));
  fs.symlinkSync('/dev/null', path.join(dir, 'dev.ini'));
  fs.chownSync(file, 1234, 5678);
  fs.lchownSync(path.join(dir, 'link.ini'), 4321, 8765);
  const old = new Date('2001-02-03T04:05:06.789Z');
  fs.lutimesSync(path.join(dir, 'link.ini'), old, old);
  const paths = ['a.ini', 'link.ini', 'dangling.ini', 'dev.ini', 'nope.ini', '.'].map((n) => path.join(dir, n));
  const ask = (nofollow: boolean, tyrantNofollow: boolean) => {
    const req: wire.Request = { op: 'statSources', paths, nofollow, tyrantNofollow };
    const max = wire.maxAnswer(req);
    const frames = [exchange(a.fd, wire.encodeRequest(req), 2000, max)];
    for (let i = 1; i < paths.length; i++) frames.push(receive(a.fd, 2000, max));
    return frames.map((f) => {
      const ans = wire.decodeAnswer(f);
      assert.equal(ans.status, 'ok');
      return wire.decodeSource((ans as { payload: Buffer }).payload);
    });
  };
  const fileMtime = fs.statSync(file).mtimeMs;
  assert.deepEqual(ask(false, false), [
    { mtimeMs: fileMtime, uid: 1234, gid: 5678, symlink: false },
    { mtimeMs: fileMtime, uid: 1234, gid: 5678, symlink: true },
    null,
    null,
    null,
    null,
  ]);
  const [, link] = ask(true, true);
  assert.deepEqual(link, { mtimeMs: old.getTime(), uid: 4321, gid: 8765, symlink: true });
  assert.equal(
    nativeCode(() => receive(a.fd, 100, 100)),
    'ETIMEDOUT',
    'nothing more was sent',
  );
});

test('exchange: a frame over the maximum is EPROTO before it is read; silence is ETIMEDOUT; a closed peer EPIPE', (t) => {
  const [mine, theirs] = socketpair();
  t.after(() => closeFd(mine));
  fs.writeSync(theirs, Buffer.from([0x00, 0x00, 0x00, 0x10])); // announces 256 MiB
  assert.equal(
    nativeCode(() => exchange(mine, Buffer.from([1, 0, 0, 0, 3]), 1000, 1 << 20)),
    'EPROTO',
  );
  const started = Date.now();
  assert.equal(
    nativeCode(() => receive(mine, 150, 100)),
    'ETIMEDOUT',
  );
  assert.ok(Date.now() - started >= 140);
  closeFd(theirs);
  assert.equal(
    nativeCode(() => exchange(mine, Buffer.from([1, 0, 0, 0, 3]), 1000, 100)),
    'EPIPE',
  );
  assert.throws(() => exchange(mine, Buffer.alloc(1), -1, 100), TypeError);
});

test('answers are checked as hostile input', () => {
  assert.throws(() => wire.decodeAnswer(Buffer.from([])), wire.WireError);
  assert.throws(() => wire.decodeAnswer(Buffer.from([9])), /unknown answer status 9/);
  assert.throws(() => wire.decodeAnswer(Buffer.from([1, 0, 0, 0, 0])), /errno 0/);
  assert.throws(() => wire.decodeAnswer(Buffer.from([1, 1, 0, 0])), /errno answer of 4 bytes/);
  assert.throws(() => wire.decodeAnswer(Buffer.from([2, 1])), /not-a-regular-file/, 'a regular file is not a refusal');
  assert.throws(() => wire.decodeRead(Buffer.alloc(11), 10), /over the 10-byte limit/);
  assert.throws(() => wire.decodeStat(Buffer.alloc(40)), /stat answer of 40 bytes/);
  assert.throws(() => wire.decodePath(Buffer.from('relative')), /malformed path/);
  const names = (...n: string[]) =>
    Buffer.concat([
      Buffer.from(Uint32Array.of(n.length).buffer),
      ...n.map((s) => Buffer.concat([Buffer.from(Uint32Array.of(Buffer.byteLength(s)).buffer), Buffer.from(s)])),
    ]);
  assert.deepEqual(wire.decodeNames(names('a', 'b')), ['a', 'b']);
  assert.throws(() => wire.decodeNames(names('..')), /entry '\.\.'/);
  assert.throws(() => wire.decodeNames(names('a/b')), /slash/);
  assert.throws(() => wire.decodeNames(Buffer.concat([names('a'), Buffer.from([0])])), /trailing/);
  assert.throws(() => wire.decodeNames(Buffer.from([2, 0, 0, 0, 1, 0, 0, 0, 0x61])), /truncated/);
  assert.throws(() => wire.decodeExec(Buffer.alloc(3), 10), /without a wait status/);
  assert.throws(() => wire.decodeExec(Buffer.alloc(15), 10), /11 bytes of output/);
  assert.throws(() => wire.decodeSource(Buffer.from([3, ...Array(20).fill(0)])), /source kind 3/);
  const splitter = new wire.AnswerSplitter();
  assert.throws(() => splitter.push(Buffer.from([0xff, 0, 0, 0]), 100), /a frame of 255 bytes/);
  const s2 = new wire.AnswerSplitter();
  assert.deepEqual(s2.push(Buffer.from([2, 0]), 10), []);
  assert.deepEqual(
    s2.push(Buffer.from([0, 0, 7, 8, 1, 0, 0, 0]), 10).map((b) => [...b]),
    [[7, 8]],
  );
  assert.deepEqual(
    s2.push(Buffer.from([9]), 10).map((b) => [...b]),
    [[9]],
  );
});
