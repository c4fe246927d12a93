// Checked parsing (src/check.ts): what every JSON wire is decoded with. A value of the wrong shape is refused with
// where and what was expected; nothing is passed on unchecked.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  array,
  boolean,
  CheckError,
  integer,
  literal,
  nullable,
  object,
  oneOf,
  optional,
  parse,
  parseJson,
  record,
  string,
  variants,
} from '../src/check';

const request = object({
  cmd: literal('status', 'logs'),
  vassal: optional(string({ max: 8 })),
  lines: optional(integer(0, 100)),
  follow: optional(boolean),
});

test('an object is checked key by key; optional keys may be absent, unknown ones are refused', () => {
  assert.deepEqual(parse(request, { cmd: 'logs', lines: 3 }, 'req'), { cmd: 'logs', lines: 3 });
  assert.throws(() => parse(request, { cmd: 'logs', extra: 1 }, 'req'), /req\.extra: expected no such key, got 1/);
  assert.throws(() => parse(request, { cmd: 'kill' }, 'req'), /req\.cmd: expected one of "status", "logs", got "kill"/);
  assert.throws(() => parse(request, { cmd: 'logs', lines: -1 }, 'req'), /req\.lines: expected an integer in 0\.\.100, got -1/);
  assert.throws(
    () => parse(request, { cmd: 'logs', vassal: 'x'.repeat(9) }, 'req'),
    /req\.vassal: expected a string of at most 8 characters/,
  );
  const lenient = object({ a: integer() }, { extra: 'ignore' });
  assert.deepEqual(parse(lenient, { a: 1, b: 2 }, 'doc'), { a: 1 });
});

test('null, arrays, numbers and strings where an object belongs are refused, never dereferenced', () => {
  for (const v of [null, [], 5, 'x', true, undefined]) {
    assert.throws(
      () => parse(request, v, 'req'),
      (e: unknown) => e instanceof CheckError && e.where === 'req' && e.code === 'EBADMSG',
    );
  }
  assert.throws(() => parseJson(request, 'null', 'req'), /req: expected an object, got null/);
  assert.throws(() => parseJson(request, '{"cmd":', 'req'), /req: expected JSON, got text that is not/);
});

test('arrays, records, nullable, unions and variants', () => {
  assert.deepEqual(parse(array(integer(), 3), [1, 2], 'a'), [1, 2]);
  assert.throws(() => parse(array(integer(), 3), [1, 2, 3, 4], 'a'), /a: expected an array of at most 3 items/);
  assert.throws(() => parse(array(integer()), [1, 'x'], 'a'), /a\[1\]: expected an integer/);
  assert.deepEqual({ ...parse(record(integer()), { x: 1 }, 'r') }, { x: 1 });
  assert.equal(parse(nullable(integer()), null, 'n'), null);
  const idOrName = oneOf(integer(0), string({ min: 1 }));
  assert.equal(parse(idOrName, 'bob', 'who'), 'bob');
  assert.throws(() => parse(idOrName, -1, 'who'), /who: expected one of: .*an integer in 0\.\..*a string of at least 1/);
  const msg = variants('type', {
    ok: object({ type: literal('ok'), value: integer() }),
    error: object({ type: literal('error'), reason: string() }),
  });
  assert.deepEqual(parse(msg, { type: 'error', reason: 'x' }, 'm'), { type: 'error', reason: 'x' });
  assert.throws(() => parse(msg, { type: 'ok', reason: 'x' }, 'm'), /m\.reason: expected no such key/);
  assert.throws(() => parse(msg, { type: 'maybe' }, 'm'), /m\.type: expected one of ok, error/);
});

test('a __proto__ key is data, not a prototype', () => {
  const r = parse(record(integer()), JSON.parse('{"__proto__": 1, "a": 2}'), 'r');
  assert.equal(Object.getPrototypeOf(r), null);
  assert.equal(r.__proto__, 1);
  assert.throws(() => parseJson(request, '{"cmd":"logs","__proto__":{"lines":5}}', 'req'), /req\.__proto__: expected no such key/);
});
