// Checked parsing of what crosses a process boundary: a message is parsed into its type or refused with a CheckError
// naming where it is wrong ("request.lines: expected an integer in 0..100000, got -1"). A cast is not a check; every
// wire's decoder is built from these. A leaf: it imports nothing of the project.

/** A message that is not what its wire says it is. */
export class CheckError extends Error {
  readonly code = 'EBADMSG';
  constructor(
    /** Where in the message: 'request.vassal', 'answer.config.options[3].line'. */
    readonly where: string,
    /** What was expected there: 'a string of at most 4096 bytes'. */
    readonly expected: string,
    got: unknown,
    /** `got` is already a description ('text that is not JSON'), not a value. */
    described = false,
  ) {
    super(`${where}: expected ${expected}, got ${described ? String(got) : describe(got)}`);
    this.name = 'CheckError';
  }
}

/** A check turns an unknown value into a T, or throws CheckError. */
export type Check<T> = (v: unknown, where: string) => T;
export type Infer<C> = C extends Check<infer T> ? T : never;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** The value, as `c` checks it, or a CheckError whose `where` starts with `what`. */
export function parse<T>(c: Check<T>, v: unknown, what: string): T {
  return c(v, what);
}

/** JSON text as `c` checks it; malformed JSON is a CheckError too. */
export function parseJson<T>(c: Check<T>, text: string, what: string): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CheckError(what, 'JSON', `text that is not (${(e as Error).message}): ${JSON.stringify(text.slice(0, 40))}`, true);
  }
  return c(v, what);
}

export function string(opts: { max?: number; min?: number; pattern?: RegExp } = {}): Check<string> {
  const max = opts.max ?? Infinity;
  const min = opts.min ?? 0;
  const expected = `a string${min > 0 ? ` of at least ${min}` : ''}${Number.isFinite(max) ? ` of at most ${max}` : ''} characters${opts.pattern ? ` matching ${opts.pattern}` : ''}`;
  return (v, where) => {
    if (typeof v !== 'string' || v.length > max || v.length < min || (opts.pattern && !opts.pattern.test(v)))
      throw new CheckError(where, expected, v);
    return v;
  };
}

export function integer(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Check<number> {
  return (v, where) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new CheckError(where, `an integer in ${min}..${max}`, v);
    return v;
  };
}

/** A finite number (JSON has no NaN or Infinity, but a decoded binary field may). */
export function number(min = -Infinity, max = Infinity): Check<number> {
  return (v, where) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new CheckError(where, `a number in ${min}..${max}`, v);
    return v;
  };
}

export const boolean: Check<boolean> = (v, where) => {
  if (typeof v !== 'boolean') throw new CheckError(where, 'true or false', v);
  return v;
};

export function literal<const T extends readonly (string | number | boolean | null)[]>(...values: T): Check<T[number]> {
  const expected = `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`;
  return (v, where) => {
    if (!values.includes(v as T[number])) throw new CheckError(where, expected, v);
    return v as T[number];
  };
}

export function nullable<T>(c: Check<T>): Check<T | null> {
  return (v, where) => (v === null ? null : c(v, where));
}

/** A key that may be absent (or undefined); in an object() shape the key becomes optional in the type. */
export function optional<T>(c: Check<T>): Check<T | undefined> {
  return (v, where) => (v === undefined ? undefined : c(v, where));
}

export function array<T>(c: Check<T>, max = 1_000_000): Check<T[]> {
  return (v, where) => {
    if (!Array.isArray(v) || v.length > max) throw new CheckError(where, `an array of at most ${max} items`, v);
    return v.map((x, i) => c(x, `${where}[${i}]`));
  };
}

/** An object whose every value passes `c` (a map from names), at most `max` keys. */
export function record<T>(c: Check<T>, max = 100_000): Check<Record<string, T>> {
  return (v, where) => {
    if (!isPlainObject(v)) throw new CheckError(where, 'an object', v);
    const keys = Object.keys(v);
    if (keys.length > max) throw new CheckError(where, `an object of at most ${max} keys`, v);
    const out: Record<string, T> = Object.create(null) as Record<string, T>;
    for (const k of keys) out[k] = c(v[k], `${where}.${k}`);
    return out;
  };
}

type Shape = Record<string, Check<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An object with exactly these keys (optional ones may be missing). Unknown keys are refused: a peer that sends what
 * its wire does not say is broken or hostile. `{ extra: 'ignore' }` drops them instead, for documents another
 * implementation writes (a uWSGI emperor's stats).
 */
export function object<S extends Shape>(shape: S, opts: { extra?: 'refuse' | 'ignore' } = {}): Check<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return (v, where) => {
    if (!isPlainObject(v)) throw new CheckError(where, 'an object', v);
    if (opts.extra !== 'ignore') {
      for (const k of Object.keys(v)) if (!Object.hasOwn(shape, k)) throw new CheckError(`${where}.${k}`, 'no such key', v[k]);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const value = shape[k](Object.hasOwn(v, k) ? v[k] : undefined, `${where}.${k}`);
      if (value !== undefined) out[k] = value;
    }
    return out as ObjectOf<S>;
  };
}

/**
 * One of several object shapes, told apart by the value of `tag` (a discriminated union, checked as the variant its
 * tag names).
 */
export function variants<K extends string, V extends Record<string, Check<Record<string, unknown>>>>(
  tag: K,
  byTag: V,
): Check<Infer<V[keyof V]>> {
  const tags = Object.keys(byTag);
  return (v, where) => {
    if (!isPlainObject(v)) throw new CheckError(where, 'an object', v);
    const t = v[tag];
    if (typeof t !== 'string' || !Object.hasOwn(byTag, t)) throw new CheckError(`${where}.${tag}`, `one of ${tags.join(', ')}`, t);
    return byTag[t](v, where) as Infer<V[keyof V]>;
  };
}

/** The first of `checks` that accepts the value (each tried in order; the error names every alternative). */
export function oneOf<C extends Check<unknown>[]>(...checks: C): Check<Infer<C[number]>> {
  return (v, where) => {
    const why: string[] = [];
    for (const c of checks) {
      try {
        return c(v, where) as Infer<C[number]>;
      } catch (e) {
        if (!(e instanceof CheckError)) throw e;
        why.push(`${e.where.slice(where.length) || '(itself)'} ${e.expected}`);
      }
    }
    throw new CheckError(where, `one of: ${why.join('; ')}`, v);
  };
}

/**
 * One of several object shapes, told apart by which of `byKey`'s keys the object has (the first that it has, in
 * order); checked as that shape, so an error names the field that is wrong rather than every alternative.
 */
export function byKey<V extends Record<string, Check<Record<string, unknown>>>>(byKey: V): Check<Infer<V[keyof V]>> {
  const keys = Object.keys(byKey);
  return (v, where) => {
    if (!isPlainObject(v)) throw new CheckError(where, 'an object', v);
    const k = keys.find((key) => Object.hasOwn(v, key));
    if (k === undefined) throw new CheckError(where, `an object with one of the keys ${keys.join(', ')}`, v);
    return byKey[k](v, where) as Infer<V[keyof V]>;
  };
}
