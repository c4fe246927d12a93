// Whose file it is (src/file-identity.ts): each rule of the tyrant's judgement on the facts of one open, the checked
// parsing of those facts where they cross the reader wire, and the agent's OPEN answer decoded as hostile input.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckError, parse } from '../src/check';
import { checkFileFacts, fileIdentity, sideFileRefusal, type FileFacts, type PathStep } from '../src/file-identity';
import { decodeOpen, WireError } from '../src/agent/agent-wire';

const ALICE = 4001;
const BOB = 4002;
const dir = (p: string, uid = 0, mode = 0o755, extra: Partial<PathStep> = {}): PathStep => ({
  type: 'dir',
  path: p,
  mode: 0o040000 | mode,
  uid,
  gid: uid,
  ...extra,
});
const link = (p: string, uid: number): PathStep => ({ type: 'symlink', path: p, mode: 0o120777, uid, gid: uid });

/** alice's /srv/vassals/app.ini in root's directories, changed by `over`. */
function facts(over: Partial<FileFacts> = {}): FileFacts {
  return {
    path: '/srv/vassals/app.ini',
    real: '/srv/vassals/app.ini',
    dev: 2049,
    ino: 77,
    mode: 0o100644,
    uid: ALICE,
    gid: ALICE,
    nlink: 1,
    size: 20,
    mtimeMs: 1.7e12,
    entry: { symlink: false, uid: ALICE, gid: ALICE, ino: 77 },
    steps: [dir('/'), dir('/srv'), dir('/srv/vassals')],
    ...over,
  };
}

function refusal(f: FileFacts, nofollow = false): string {
  const v = fileIdentity(f, nofollow);
  assert.ok('refused' in v, `refused: ${JSON.stringify(v)}`);
  return v.refused;
}

test("the owner is the descriptor's owner; a root or root-group file is refused", () => {
  assert.deepEqual(fileIdentity(facts(), false), { owner: { uid: ALICE, gid: ALICE } });
  assert.match(refusal(facts({ uid: 0, gid: 0 })), /owned by uid 0 gid 0, and a tyrant never runs a vassal as root/);
  assert.match(refusal(facts({ gid: 0 })), /owned by uid 4001 gid 0/);
});

test("a symlink on the way must be root's or the owner's, in every directory (fs.protected_symlinks, applied everywhere)", () => {
  const through = (owner: number) =>
    facts({
      path: '/srv/vassals/evil.ini',
      real: '/home/bob/bob.ini',
      uid: BOB,
      gid: BOB,
      entry: { symlink: true, uid: owner, gid: owner, ino: 5 },
      steps: [
        dir('/'),
        dir('/srv'),
        dir('/srv/vassals'),
        link('/srv/vassals/evil.ini', owner),
        dir('/'),
        dir('/home'),
        dir('/home/bob', BOB),
      ],
    });
  assert.match(
    refusal(through(ALICE)),
    /^\/srv\/vassals\/evil\.ini: the symlink \/srv\/vassals\/evil\.ini on its path is uid 4001's, neither root's nor the owner's \(uid 4002\)/,
  );
  assert.deepEqual(fileIdentity(through(0), false), { owner: { uid: BOB, gid: BOB } }, "root's link runs the target as its owner");
  assert.deepEqual(fileIdentity(through(BOB), false), { owner: { uid: BOB, gid: BOB } }, "bob's own link to his own file");
});

test("--emperor-tyrant-nofollow: the link is the owner, and what it leads to must be that owner's or root's", () => {
  const alicesLink = (target: number) =>
    facts({
      real: '/srv/app.skel',
      uid: target,
      gid: target,
      entry: { symlink: true, uid: ALICE, gid: ALICE, ino: 5 },
      steps: [dir('/'), dir('/srv'), dir('/srv/vassals'), link('/srv/vassals/app.ini', ALICE), dir('/srv')],
    });
  assert.deepEqual(fileIdentity(alicesLink(0), true), { owner: { uid: ALICE, gid: ALICE } });
  assert.deepEqual(fileIdentity(alicesLink(ALICE), true), { owner: { uid: ALICE, gid: ALICE } });
  assert.match(refusal(alicesLink(BOB), true), /the symlink is uid 4001's and the file it points to \(\/srv\/app\.skel\) is uid 4002's/);
  assert.match(refusal(alicesLink(BOB), false), /the symlink \/srv\/vassals\/app\.ini on its path is uid 4001's/, 'follow: refused too');
  const rootsLink = facts({ entry: { symlink: true, uid: 0, gid: 0, ino: 5 } });
  assert.match(refusal(rootsLink, true), /owned by uid 0 gid 0/);
});

test("a directory on the way must be root's or the owner's, and writable by nobody else unless sticky", () => {
  assert.match(
    refusal(facts({ steps: [dir('/'), dir('/srv', BOB), dir('/srv/vassals')] })),
    /the directory \/srv on its path is uid 4002's, neither root's nor the owner's \(uid 4001\): uid 4002 could swap what it holds/,
  );
  assert.deepEqual(fileIdentity(facts({ steps: [dir('/'), dir('/srv', ALICE), dir('/srv/vassals', ALICE, 0o700)] }), false), {
    owner: { uid: ALICE, gid: ALICE },
  });
  assert.match(
    refusal(facts({ steps: [dir('/'), dir('/srv'), dir('/srv/vassals', 0, 0o777)] })),
    /the directory \/srv\/vassals on its path is writable by every member of gid 0 \(root\) and every user \(mode 0777\) without the sticky bit/,
  );
  assert.match(
    refusal(facts({ steps: [dir('/'), dir('/srv', 0, 0o775, { gid: 4099 }), dir('/srv/vassals')] })),
    /the directory \/srv on its path is writable by every member of gid 4099 \(mode 0775\)/,
  );
  assert.deepEqual(
    fileIdentity(facts({ steps: [dir('/'), dir('/tmp', 0, 0o1777)] }), false),
    { owner: { uid: ALICE, gid: ALICE } },
    'sticky',
  );
  // an entry in a sticky directory that is someone else's: the sticky bit protects it from others, not from its owner
  assert.match(
    refusal(facts({ steps: [dir('/'), dir('/tmp', 0, 0o1777), dir('/tmp/bobs', BOB)] })),
    /the directory \/tmp\/bobs on its path is uid 4002's/,
  );
});

test('a file with more than one name is refused: a hard link keeps the owner of the file it names', () => {
  assert.match(refusal(facts({ nlink: 2 })), /\/srv\/vassals\/app\.ini has 2 names \(hard links\)/);
});

test("a FUSE filesystem served by someone else's daemon is refused; root's or the owner's is not", () => {
  assert.deepEqual(fileIdentity(facts({ fuse: 0 }), false), { owner: { uid: ALICE, gid: ALICE } });
  assert.deepEqual(fileIdentity(facts({ fuse: ALICE }), false), { owner: { uid: ALICE, gid: ALICE } });
  assert.match(refusal(facts({ fuse: BOB })), /is on a FUSE filesystem served by a daemon of uid 4002, which can report any owner/);
  assert.match(refusal(facts({ fuse: null })), /a daemon whose user could not be learned/);
  assert.match(
    refusal(facts({ steps: [dir('/'), dir('/srv', 0, 0o755, { fuse: BOB })] })),
    /the directory \/srv on its path is on a FUSE filesystem served by a daemon of uid 4002/,
  );
});

test("a side file must be the vassal owner's, and its refusal names paths and ids, never the content", () => {
  const token = facts({ path: '/srv/vassals/bobapp.ini.socket', real: '/home/bob/token.txt', uid: BOB, gid: BOB });
  assert.equal(sideFileRefusal(token, { uid: BOB, gid: BOB }, false), undefined);
  assert.match(
    String(sideFileRefusal(token, { uid: ALICE, gid: ALICE }, false)),
    /is uid 4002's, not the vassal owner's \(uid 4001\): refused, unread/,
  );
});

test('the facts are checked where they cross the reader wire', () => {
  const f = facts({ fuse: 0 });
  assert.deepEqual(parse(checkFileFacts, JSON.parse(JSON.stringify(f)), 'opened'), f);
  const bad: Array<[string, unknown]> = [
    ['a negative uid', { ...f, uid: -1 }],
    ['an unknown key', { ...f, owner: 0 }],
    ['a step of another type', { ...f, steps: [{ ...f.steps[0], type: 'file' }] }],
    ['no steps array', { ...f, steps: null }],
    ['null', null],
    ['a number', 7],
    ['an array', []],
    ['an empty path', { ...f, real: '' }],
  ];
  for (const [what, v] of bad) assert.throws(() => parse(checkFileFacts, v, 'opened'), CheckError, what);
});

/** An OPEN payload as the agent writes it (native/agent/checked_open.cc). */
function openPayload(steps: Array<[number, string]>, bytes: string, fuse = -1n): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    parts.push(b);
  };
  const u64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    parts.push(b);
  };
  const str = (s: string) => {
    u32(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  (u64(2049n), u64(77n), u32(0o100644), u32(ALICE), u32(ALICE), u32(1), u64(BigInt(bytes.length)), u64(1700000000n), u32(5));
  u64(fuse);
  (parts.push(Buffer.from([0])), u32(ALICE), u32(ALICE), u64(77n));
  str('/srv/app.ini');
  u32(steps.length);
  for (const [type, p] of steps) (parts.push(Buffer.from([type])), u32(0o40755), u32(0), u32(0), u64(-1n), str(p));
  parts.push(Buffer.from(bytes));
  return Buffer.concat(parts);
}

test("OPEN's answer is decoded as hostile input: every truncation, a bad step type, a lie about the mode, over the limit", () => {
  const good = openPayload(
    [
      [2, '/'],
      [2, '/srv'],
    ],
    '[uwsgi]\n',
  );
  const { facts: f, bytes } = decodeOpen(good, '/srv/app.ini', 100);
  assert.equal(bytes.toString(), '[uwsgi]\n');
  assert.deepEqual(
    f.steps.map((s) => [s.type, s.path, 'fuse' in s]),
    [
      ['dir', '/', false],
      ['dir', '/srv', false],
    ],
  );
  assert.equal(f.fuse, undefined);
  assert.equal(decodeOpen(openPayload([[2, '/']], '', -2n), '/x', 0).facts.fuse, null, 'a FUSE mount whose user_id is unknown');
  // every cut before the bytes breaks a field (a cut in the bytes is only fewer bytes)
  const header = good.length - '[uwsgi]\n'.length;
  for (let n = 0; n < header; n++) assert.throws(() => decodeOpen(good.subarray(0, n), '/x', 100), WireError, `cut at ${n}`);
  assert.throws(() => decodeOpen(openPayload([[1, '/']], ''), '/x', 100), /a step of type file/);
  assert.throws(() => decodeOpen(openPayload([], ''), '/x', 100), /0 steps/);
  assert.throws(() => decodeOpen(openPayload([[2, 'relative']], ''), '/x', 100), /malformed path/);
  assert.throws(() => decodeOpen(openPayload([[2, '/']], '', 5n << 40n), '/x', 100), /FUSE user_id/);
  assert.throws(() => decodeOpen(good, '/x', 3), /over the 3-byte limit/);
  const dirMode = Buffer.from(good);
  dirMode.writeUInt32LE(0o40755, 16);
  assert.throws(() => decodeOpen(dirMode, '/x', 100), /mode 40755/);
  // random bytes never get past the decoder as anything but a WireError
  for (let i = 0; i < 2000; i++) {
    const junk = Buffer.from(good);
    for (let k = 0; k < 4; k++) junk[Math.floor(Math.random() * header)] = Math.floor(Math.random() * 256);
    try {
      decodeOpen(junk, '/x', 100);
    } catch (e) {
      assert.ok(e instanceof WireError, String(e));
    }
  }
});
