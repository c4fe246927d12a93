// The emperor <-> init message types live once, in src/jail/init-wire.ts (MSG); native/init/init.h mirrors them.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MSG } from '../src/jail/init-wire';

test("native/init/init.h mirrors src/jail/init-wire.ts's message types", () => {
  const header = fs.readFileSync(path.resolve(__dirname, '../../native/init/init.h'), 'utf8');
  const mirrored = Object.fromEntries([...header.matchAll(/kMsg(\w+) = '(.)'/g)].map((m) => [m[1], m[2]]));
  const expected = Object.fromEntries(Object.entries(MSG).map(([k, v]) => [k[0].toUpperCase() + k.slice(1), v]));
  assert.deepEqual(mirrored, expected);
});
