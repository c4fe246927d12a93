// The config reads waiting for a reader (src/reader/owner-queues.ts): one FIFO per owner, the owners in turn, and
// what a reader gives back goes to the head of its owner's queue with that owner at the back of the turn.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnerQueues } from '../src/reader/owner-queues';

test('owners take turns: each take moves its owner to the back; an empty owner leaves the turn', () => {
  const q = new OwnerQueues<string>();
  for (const x of ['a1', 'a2', 'a3', 'a4']) q.push(1, x);
  q.push(2, 'b1');
  q.push(3, 'c1');
  assert.equal(q.size, 6);
  assert.deepEqual([...q.owners()], [1, 2, 3]);
  assert.deepEqual(q.take(1, 2), ['a1', 'a2']);
  assert.deepEqual([...q.owners()], [2, 3, 1], 'alice waits behind the others now');
  assert.deepEqual(q.take(2, 16), ['b1']);
  assert.deepEqual([...q.owners()], [3, 1], 'bob has nothing left: out of the turn');
  assert.deepEqual(q.take(9, 1), [], 'an owner with nothing waiting');
  assert.equal(q.size, 3);
});

test('what a reader gives back goes first in its owner queue, in its order, and that owner goes last', () => {
  const q = new OwnerQueues<string>();
  for (const x of ['a1', 'a2', 'a3']) q.push(1, x);
  q.push(2, 'b1');
  const taken = q.take(1, 2);
  q.putBack(1, taken);
  assert.deepEqual([...q.owners()], [2, 1]);
  assert.deepEqual(q.take(1, 3), ['a1', 'a2', 'a3']);
  q.putBack(5, ['e1', 'e2']);
  assert.deepEqual([...q.owners()], [2, 5], 'an owner whose queue was empty comes back');
  q.putBack(5, []);
  assert.deepEqual(q.drain().sort(), ['b1', 'e1', 'e2']);
  assert.equal(q.size, 0);
  assert.deepEqual([...q.owners()], []);
});
