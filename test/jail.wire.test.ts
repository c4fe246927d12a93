// The emperor <-> init wire's facts live once in src/jail/init-wire.ts; native/init/init.h mirrors them: the message
// types, the init's own exit codes and the step flags; the output byte budget lives in src/byte-budget.ts and
// native/init/output.cc relays to the same figure. Each test reads both sides.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as initWire from '../src/jail/init-wire';
import { OUTPUT_BYTES_PER_SECOND } from '../src/byte-budget';
import type { PlanStep } from '../src/jail/plan';
import { braceBlock, cxxConstants, cxxEnum, nativeSource } from './helpers/native-source';

const header = nativeSource('init/init.h');

const pascal = (snake: string): string => snake.toLowerCase().replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase());

test("native/init/init.h mirrors src/jail/init-wire.ts's message types", () => {
  const mirrored = Object.fromEntries([...braceBlock(header, 'enum MsgType').matchAll(/kMsg(\w+) = '(.)'/g)].map((m) => [m[1], m[2]]));
  const expected = Object.fromEntries(Object.entries(initWire.MSG).map(([k, v]) => [k[0].toUpperCase() + k.slice(1), v]));
  assert.deepEqual(mirrored, expected);
});

test("the init's exit codes: INIT_EXIT_* in init-wire.ts are init.h's kExit*", () => {
  const ts = Object.fromEntries(
    Object.entries(initWire)
      .filter(([k]) => k.startsWith('INIT_EXIT_'))
      .map(([k, v]) => [pascal(k.slice('INIT_EXIT_'.length)), v]),
  );
  assert.ok(Object.keys(ts).length > 0);
  assert.deepEqual(cxxConstants(header, 'kExit'), ts);
});

test("the step flags: init.h's kStepX is the bit encodePlan() sets for PlanStep.x", () => {
  const flags = cxxEnum(braceBlock(header, 'enum StepFlag'), 'kStep');
  assert.ok(Object.keys(flags).length > 0);
  const base: PlanStep = { op: 'print', args: ['x'], origin: { file: 'f', line: 1, option: 'o' }, fatal: false };
  // the flags byte: after u32 count and the step's u32 index
  const flagsOf = (step: PlanStep): number => initWire.encodePlan([step])[8];
  assert.equal(flagsOf(base), 0, 'a step with no flag');
  for (const [name, bit] of Object.entries(flags)) {
    assert.equal(flagsOf({ ...base, [name[0].toLowerCase() + name.slice(1)]: true }), bit, `kStep${name}`);
  }
  const known = Object.values(flags).reduce((a, b) => a | b, 0);
  assert.equal(
    flagsOf({ ...base, fatal: true, atexit: true, private: true }) & ~known,
    0,
    'every bit the TS side sets is one init.h knows',
  );
});

test("native/init/output.cc relays at most the byte budget the emperor holds an init's channel to", () => {
  const output = nativeSource('init/output.cc');
  const m = /constexpr size_t kBudget = (\d+)u << (\d+);/.exec(output);
  assert.ok(m, 'kBudget in native/init/output.cc');
  assert.equal(Number(m[1]) * 2 ** Number(m[2]), OUTPUT_BYTES_PER_SECOND);
});
