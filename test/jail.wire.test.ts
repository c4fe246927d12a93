// The emperor <-> init message types live once, in src/jail/init-wire.ts (MSG); native/init/init.h mirrors them. The
// output byte budget lives in src/byte-budget.ts; native/init/output.cc holds its relay to the same figure.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MSG } from '../src/jail/init-wire';
import { OUTPUT_BYTES_PER_SECOND } from '../src/byte-budget';

test("native/init/init.h mirrors src/jail/init-wire.ts's message types", () => {
  const header = fs.readFileSync(path.resolve(__dirname, '../../native/init/init.h'), 'utf8');
  const mirrored = Object.fromEntries([...header.matchAll(/kMsg(\w+) = '(.)'/g)].map((m) => [m[1], m[2]]));
  const expected = Object.fromEntries(Object.entries(MSG).map(([k, v]) => [k[0].toUpperCase() + k.slice(1), v]));
  assert.deepEqual(mirrored, expected);
});

test("native/init/output.cc relays at most the byte budget the emperor holds an init's channel to", () => {
  const output = fs.readFileSync(path.resolve(__dirname, '../../native/init/output.cc'), 'utf8');
  const m = /constexpr size_t kBudget = (\d+)u << (\d+);/.exec(output);
  assert.ok(m, 'kBudget in native/init/output.cc');
  assert.equal(Number(m[1]) * 2 ** Number(m[2]), OUTPUT_BYTES_PER_SECOND);
});
