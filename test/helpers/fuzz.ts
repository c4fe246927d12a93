// Deterministic fuzzing of the wire formats: a seeded generator (the same inputs on every run), inputs made by
// mutating valid messages (a subtree replaced by null, [], {}, a number or a string; a key dropped or added; the
// text truncated, bit-flipped or spliced) and by plain randomness, and a driver that allows exactly two outcomes per
// input: a value the caller checks as well-typed, or a refusal of the wire's own error class. Anything else thrown
// fails the test with the seed and the input.
import assert from 'node:assert/strict';

/** mulberry32: a small, fast, seeded generator of floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;

export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

/** Values that a JSON wire's checks must refuse wherever they do not belong. */
const HOSTILE: readonly unknown[] = [
  null,
  [],
  {},
  0,
  -1,
  1.5,
  1e300,
  -0,
  2 ** 53,
  '',
  'x'.repeat(70000),
  true,
  false,
  [null],
  { __proto__: { polluted: true } },
  '\u0000\u001b[2J',
];

/** A random JSON value, at most `depth` deep. */
export function randomJson(r: Rand, depth = 3): unknown {
  const k = int(r, depth > 0 ? 8 : 5);
  switch (k) {
    case 0:
      return pick(r, HOSTILE);
    case 1:
      return int(r, 2) ? int(r, 1 << 30) - (1 << 29) : r() * 1e6;
    case 2:
      return Array.from({ length: int(r, 6) }, () => String.fromCharCode(int(r, 0x3000))).join('');
    case 3:
      return r() < 0.5;
    case 4:
      return null;
    case 5:
    case 6:
      return Array.from({ length: int(r, 4) }, () => randomJson(r, depth - 1));
    default:
      return Object.fromEntries(
        Array.from({ length: int(r, 4) }, () => [pick(r, ['id', 'cmd', 'ok', 'x', 'vassal', 'line']), randomJson(r, depth - 1)]),
      );
  }
}

/** A deep copy of `v` with one random change somewhere in it. */
export function mutateJson(r: Rand, v: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(v)) as unknown;
  if (typeof copy !== 'object' || copy === null || int(r, 8) === 0) return pick(r, [randomJson(r), ...HOSTILE]);
  // walk down to a random container
  let at = copy as Record<string, unknown>;
  for (;;) {
    const keys = Object.keys(at);
    if (!keys.length) break;
    const k = pick(r, keys);
    const child = at[k];
    if (typeof child === 'object' && child !== null && r() < 0.6) {
      at = child as Record<string, unknown>;
      continue;
    }
    switch (int(r, 4)) {
      case 0:
        if (Array.isArray(at)) at.splice(Number(k), 1);
        else delete at[k];
        return copy;
      case 1:
        at[Array.isArray(at) ? String(at.length) : `extra${int(r, 3)}`] = randomJson(r, 1);
        return copy;
      default:
        at[k] = int(r, 2) ? pick(r, HOSTILE) : randomJson(r, 1);
        return copy;
    }
  }
  at[`extra${int(r, 3)}`] = randomJson(r, 1);
  return copy;
}

/** Bytes with one random change: truncated, a bit flipped, a run of random bytes spliced in, or a piece repeated. */
export function mutateBytes(r: Rand, b: Buffer): Buffer {
  const at = int(r, b.length + 1);
  switch (int(r, 4)) {
    case 0:
      return b.subarray(0, at);
    case 1: {
      if (!b.length) return Buffer.from([int(r, 256)]);
      const c = Buffer.from(b);
      const i = Math.min(at, c.length - 1);
      c[i] ^= 1 << int(r, 8);
      return c;
    }
    case 2:
      return Buffer.concat([b.subarray(0, at), randomBytes(r, int(r, 16)), b.subarray(at)]);
    default:
      return Buffer.concat([b.subarray(0, at), b.subarray(int(r, b.length + 1))]);
  }
}

/** `bytes` cut into pieces of 1 to `max` bytes, as reads of a socket may deliver them. */
export function chunks(r: Rand, bytes: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = 1 + int(r, max);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

export function randomBytes(r: Rand, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  return b;
}

/**
 * Runs `count` inputs from `make` through `parse`. Each either parses (then `wellTyped` checks the value) or throws
 * an instance of one of `refusals`. Returns how many were accepted and refused; both must happen for the fuzz to
 * have reached both sides of the check.
 */
export function fuzz<I, T>(
  what: string,
  seed: number,
  count: number,
  make: (r: Rand, i: number) => I,
  parse: (input: I) => T,
  wellTyped: (value: T, input: I) => void,
  refusals: ReadonlyArray<new (...args: never[]) => Error>,
): { accepted: number; refused: number } {
  const r = prng(seed);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < count; i++) {
    const input = make(r, i);
    let value: T;
    try {
      value = parse(input);
    } catch (e) {
      if (!refusals.some((c) => e instanceof c))
        assert.fail(`${what}, seed ${seed}, input ${i} (${show(input)}) threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      refused++;
      continue;
    }
    wellTyped(value, input);
    accepted++;
  }
  assert.ok(accepted > 0 && refused > 0, `${what}: ${accepted} accepted, ${refused} refused: the inputs reach both sides`);
  return { accepted, refused };
}

function show(input: unknown): string {
  const text = Buffer.isBuffer(input) ? input.toString('hex') : JSON.stringify(input);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
