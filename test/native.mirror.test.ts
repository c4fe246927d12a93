// Facts written in both TypeScript and C++ (docs/ARCHITECTURE.md, Habits): each test reads the TS table and the C++
// source and fails on any difference. The init wire's are in test/jail.wire.test.ts, the plan vocabulary's in
// test/jail.vocabulary.test.ts.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as agentWire from '../src/agent/agent-wire';
import { SPAWN_DEFAULTS, SPAWN_KEYS } from '../src/native';
import { NAMESPACE_WORDS, namespaceOf } from '../src/tables/namespaces';
import { FROM_VASSAL, TO_VASSAL } from '../src/tables/uwsgi-protocol';
import { braceBlock, cxxConstants, cxxEnum, nativeSource } from './helpers/native-source';

const camel = (pascal: string): string => pascal[0].toLowerCase() + pascal.slice(1);

test("the agent's op numbers: agent.h enum Op is agent-wire.ts OP", () => {
  const ops = cxxEnum(braceBlock(nativeSource('agent/agent.h'), 'enum Op'), 'k');
  assert.deepEqual(Object.fromEntries(Object.entries(ops).map(([k, v]) => [camel(k), v])), { ...agentWire.OP });
});

test("the agent's answer statuses: exactly agent.h's enum Status decode, each as the status it names", () => {
  const statuses = cxxEnum(braceBlock(nativeSource('agent/agent.h'), 'enum Status'), 'k');
  // a well-formed body for each meaning: OK with no payload, ERRNO 2, NOTREG a directory
  const bodies: Record<string, number[]> = { ok: [], errno: [2, 0, 0, 0], notreg: [2] };
  const decoded = Object.entries(statuses).map(([name, byte]) => {
    const meaning = { Ok: 'ok', Errno: 'errno', NotRegular: 'notreg' }[name];
    assert.ok(meaning, `agent.h has a status k${name} the TS side has no word for`);
    return agentWire.decodeAnswer(Buffer.from([byte, ...bodies[meaning]])).status;
  });
  assert.deepEqual(decoded, ['ok', 'errno', 'notreg']);
  const known = new Set(Object.values(statuses));
  for (let byte = 0; byte < 256; byte++) {
    if (known.has(byte)) continue;
    assert.throws(() => agentWire.decodeAnswer(Buffer.from([byte, 0, 0, 0, 0])), agentWire.WireError, `status ${byte}`);
  }
});

test("the agent's socket families: sockets.cc enum Family is what encodeRequest() writes for each family", () => {
  const families = cxxEnum(braceBlock(nativeSource('agent/sockets.cc'), 'enum Family'), 'k');
  assert.ok(Object.keys(families).length > 0);
  for (const [name, byte] of Object.entries(families)) {
    const family = name.toLowerCase() as 'unix' | 'inet' | 'inet6';
    const frame = agentWire.encodeRequest({ op: 'bind', family, address: '/s', port: 0, mode: 0, backlog: 1 });
    assert.equal(frame[5], byte, name); // after the u32 length and the op byte
  }
});

test("the agent's limits: agent.h kMax* are agent-wire.ts MAX_*", () => {
  const cxx = cxxConstants(nativeSource('agent/agent.h'), 'kMax');
  const ts = Object.fromEntries(
    Object.entries(agentWire)
      .filter(([k, v]) => k.startsWith('MAX_') && typeof v === 'number')
      .map(([k, v]) => [
        k
          .slice(4)
          .toLowerCase()
          .replace(/_(.)/g, (_, c: string) => c.toUpperCase()),
        v,
      ]),
  );
  assert.deepEqual(Object.fromEntries(Object.entries(cxx).map(([k, v]) => [camel(k), v])), ts);
});

test("OPEN's FUSE field: agent.h kNotFuse and kFuseOwnerUnknown are agent-wire.ts FUSE_FIELD", () => {
  const cxx = cxxConstants(nativeSource('agent/agent.h'), 'k');
  assert.deepEqual({ notFuse: cxx.NotFuse, ownerUnknown: cxx.FuseOwnerUnknown }, { ...agentWire.FUSE_FIELD });
});

test('the protocol bytes the init relays: init.h kToAppX is uwsgi-protocol.ts TO_VASSAL.x, kFromAppX FROM_VASSAL.x', () => {
  const header = nativeSource('init/init.h');
  const toApp = cxxConstants(header, 'kToApp');
  const fromApp = cxxConstants(header, 'kFromApp');
  assert.ok(Object.keys(toApp).length > 0 && Object.keys(fromApp).length > 0);
  for (const [name, byte] of Object.entries(toApp)) assert.equal(byte, TO_VASSAL[camel(name) as keyof typeof TO_VASSAL], name);
  for (const [name, byte] of Object.entries(fromApp)) assert.equal(byte, FROM_VASSAL[camel(name) as keyof typeof FROM_VASSAL], name);
});

test("spawn()'s namespace names: spawn.cc kNamespaces is tables/namespaces.ts, each with its own CLONE_NEW* flag", () => {
  const rows = [...braceBlock(nativeSource('addon/spawn.cc'), 'kNamespaces[] =').matchAll(/\{"(\w+)", (CLONE_NEW\w+)\}/g)];
  const ts = [...new Set(NAMESPACE_WORDS.map(namespaceOf))].sort();
  assert.deepEqual(rows.map((m) => m[1]).sort(), ts);
  for (const [, name, flag] of rows) assert.equal(flag, `CLONE_NEW${name === 'mount' ? 'NS' : name.toUpperCase()}`, name);
});

test("spawn()'s option keys: spawn.cc reads exactly SPAWN_KEYS, and requires every key that has a default in TS", () => {
  // the readers' calls (r.Str, r.OptStr...), not r.Fail's
  const calls = [...nativeSource('addon/spawn.cc').matchAll(/\br\.(Opt)?(?!Fail\b)[A-Z]\w*\("(\w+)"/g)];
  const read = calls.map((m) => m[2]);
  assert.equal(new Set(read).size, read.length, 'each key read once');
  assert.deepEqual([...read].sort(), [...SPAWN_KEYS].sort());
  const required = calls.filter((m) => !m[1]).map((m) => m[2]);
  // the keys without a default are the ones whose absence means "as the parent has it"
  assert.deepEqual(required.sort(), ['argv', 'env', 'file', ...Object.keys(SPAWN_DEFAULTS)].sort());
});
