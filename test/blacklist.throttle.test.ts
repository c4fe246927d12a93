// The blacklist against uWSGI 2.0.21's numbers (docs/UWSGI.md §3.2): 1 ms first, then +throttle per unloyal death up to
// max-throttle, then halved; per vassal, as a delay from the last death.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blacklist } from '../src/emperor/blacklist';

const T0 = 1_795_300_000_000; // epoch ms

test('default options: delays 1 ms, 1.001 s, 2.001 s, ... and the stats uWSGI showed (throttle_level 4001, attempt 4)', () => {
  const b = new Blacklist({ throttleMs: 1000, maxThrottleMs: 180_000 });
  assert.equal(b.delayMs('bad.ini', T0), 0, 'never died: spawn now');
  const delays: number[] = [];
  let now = T0;
  for (let i = 0; i < 5; i++) {
    b.add('bad.ini', now);
    delays.push(b.delayMs('bad.ini', now));
    now += 10_000;
  }
  assert.deepEqual(delays, [1, 1001, 2001, 3001, 4001]);
  assert.deepEqual(b.entries(), [
    {
      id: 'bad.ini',
      throttle_level: 4001,
      attempt: 4,
      first_attempt: Math.floor(T0 / 1000),
      last_attempt: Math.floor((now - 10_000) / 1000),
    },
  ]);
});

test('the delay counts down from the last death and is per vassal', () => {
  const b = new Blacklist({ throttleMs: 1000, maxThrottleMs: 180_000 });
  b.add('a.ini', T0);
  b.add('a.ini', T0 + 5); // second unloyal death: 1.001 s from now
  assert.equal(b.delayMs('a.ini', T0 + 5), 1001);
  assert.equal(b.delayMs('a.ini', T0 + 505), 501);
  assert.equal(b.delayMs('a.ini', T0 + 1006), 0);
  assert.equal(b.delayMs('a.ini', T0 + 99_999), 0);
  assert.equal(b.delayMs('other.ini', T0 + 5), 0, 'another vassal is not throttled by a.ini');
});

test('at max-throttle the level is halved, then climbs again', () => {
  const b = new Blacklist({ throttleMs: 1000, maxThrottleMs: 3000 });
  const levels: number[] = [];
  for (let i = 0; i < 8; i++) {
    b.add('x.ini', T0);
    levels.push(b.entries()[0].throttle_level);
  }
  // µs arithmetic as uWSGI: 1000 µs, +1e6 while below 3e6 µs, then 3001000/2 = 1500500 µs, ...
  assert.deepEqual(levels, [1, 1001, 2001, 3001, 1500, 2500, 3500, 1750]);
  assert.equal(b.delayMs('x.ini', T0), 1751, 'a fractional ms level rounds the delay up, never early');
});

test('loyalty removes one vassal, clear() (SIGURG) removes all', () => {
  const b = new Blacklist({ throttleMs: 1000, maxThrottleMs: 180_000 });
  for (const n of ['a.ini', 'b.ini', 'c.ini']) {
    b.add(n, T0);
    b.add(n, T0);
  }
  b.loyal('b.ini');
  assert.deepEqual(
    b.entries().map((e) => e.id),
    ['a.ini', 'c.ini'],
  );
  assert.equal(b.delayMs('b.ini', T0), 0);
  b.add('b.ini', T0); // after loyalty a new death starts over at 1 ms
  assert.equal(b.delayMs('b.ini', T0), 1);
  b.clear();
  assert.deepEqual(b.entries(), []);
  assert.equal(b.delayMs('a.ini', T0), 0);
});

test('bad options are refused with the option named', () => {
  assert.throws(() => new Blacklist({ throttleMs: -1, maxThrottleMs: 1 }), /throttleMs must be a non-negative/);
  assert.throws(() => new Blacklist({ throttleMs: 1, maxThrottleMs: NaN }), /maxThrottleMs must be a non-negative/);
});
