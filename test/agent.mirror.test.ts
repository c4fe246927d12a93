// The agent's wire numbers live once in src/agent/agent-wire.ts; native/agent/agent.h mirrors them: ops, answer
// statuses, limits and OPEN's fields.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as wire from '../src/agent/agent-wire';
import { MAX_OPEN_STEPS } from '../src/file-identity';

const header = fs.readFileSync(path.resolve(__dirname, '../../native/agent/agent.h'), 'utf8');

/** The value of `constexpr ... NAME = VALUE;` or of an enum entry `NAME = VALUE,` in agent.h, as a number. */
function constant(name: string): number {
  const m = new RegExp(`\\b${name} = (-?\\w+)(?:u << (\\d+))?\\s*[;,}]`).exec(header);
  assert.ok(m, `${name} is in agent.h`);
  return Number(m[1].replace(/u$/, '')) * 2 ** Number(m[2] ?? 0);
}

const capitalized = (s: string) => s[0].toUpperCase() + s.slice(1);

test("native/agent/agent.h mirrors src/agent/agent-wire.ts's ops and answer statuses", () => {
  const ops = Object.fromEntries(
    [...header.matchAll(/\bk(\w+) = (\d+),/g)].filter(([, n]) => !/^(Ok|Errno|NotRegular)$/.test(n)).map((m) => [m[1], Number(m[2])]),
  );
  assert.deepEqual(ops, Object.fromEntries(Object.entries(wire.OP).map(([k, v]) => [capitalized(k), v])));
  assert.deepEqual({ ok: constant('kOk'), errno: constant('kErrno'), notRegular: constant('kNotRegular') }, { ...wire.STATUS });
});

test("native/agent/agent.h mirrors the wire's limits and OPEN's fuse field", () => {
  assert.equal(constant('kMaxRequest'), wire.MAX_REQUEST);
  assert.equal(constant('kMaxLimit'), wire.MAX_LIMIT);
  assert.equal(constant('kMaxDirNames'), wire.MAX_DIR_NAMES);
  assert.equal(constant('kMaxDirBytes'), wire.MAX_DIR_BYTES);
  assert.equal(constant('kMaxLinks'), wire.MAX_LINKS);
  assert.equal(constant('kMaxOpenSteps'), MAX_OPEN_STEPS);
  assert.equal(constant('kNotFuse'), wire.FUSE_FIELD.notFuse);
  assert.equal(constant('kFuseOwnerUnknown'), wire.FUSE_FIELD.ownerUnknown);
});
