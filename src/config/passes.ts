// The three passes uWSGI runs over every option not yet applied, after all files are read: $(ENV), @(file) and
// %(placeholder) (core/utils.c uwsgi_apply_config_pass, core/config.c uwsgi_manage_placeholder).
import { ConfigError } from './errors';
import { MAX_RESOLVED_BYTES } from './source';

export interface PassOption {
  key: string;
  value: string;
  file: string;
  line: number;
  configured: boolean;
}

/** A hook returns the replacement, or undefined to leave `X(name)` verbatim (uWSGI's NULL). */
export type PassHook = (name: string) => string | undefined;

const MAX_SUBSTITUTIONS = 1000;

/**
 * Replaces every `<symbol>(name)` in `value`, exactly as uWSGI scans it: parentheses nest, a replaced value is
 * scanned again (from its second character, as uWSGI restarts at index 1), `X()` is left alone.
 */
export function expandValue(value: string, symbol: string, hook: PassHook, where: PassOption): string {
  let has = 0;
  let depth = 0;
  let keyStart = -1;
  let count = 0;
  for (let j = 0; j < value.length; j++) {
    const c = value[j];
    if (c === symbol) {
      has = 1;
    } else if (c === '(' && has === 1) {
      has = 2;
      depth = 0;
      keyStart = j + 1;
    } else if (has > 1) {
      if (c === '(') {
        has++;
        depth++;
      } else if (c === ')') {
        if (depth > 0) {
          has++;
          depth--;
          continue;
        }
        if (has <= 2) {
          has = 0;
          continue;
        }
        const replacement = hook(value.substr(keyStart, has - 2));
        if (replacement === undefined) {
          has = 0;
          continue;
        }
        value = value.slice(0, keyStart - 2) + replacement + value.slice(keyStart + has - 1);
        if (++count > MAX_SUBSTITUTIONS || value.length > MAX_RESOLVED_BYTES) {
          throw new ConfigError(where.file, where.line, `${symbol}(...) expansion does not end (uWSGI would loop forever)`, where.key);
        }
        has = 0;
        j = 0;
      } else {
        has++;
      }
    } else {
      has = 0;
    }
  }
  return value;
}

/** Expands every option not yet applied; `grew` hears how much each one grew, so the caller can bound the total. */
export function applyPass(
  options: PassOption[],
  symbol: string,
  hook: (name: string, opt: PassOption) => string | undefined,
  grew: (bytes: number, opt: PassOption) => void,
): void {
  for (const opt of options) {
    if (opt.configured || !opt.value.includes(symbol)) continue;
    const before = opt.value.length;
    opt.value = expandValue(opt.value, symbol, (name) => hook(name, opt), opt);
    grew(opt.value.length - before, opt);
  }
}

/** C's strtoll: leading blanks, a sign, digits; clamps on overflow. */
function strtoll(s: string): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(s);
  if (!m) return 0n;
  let n = BigInt(m[2]);
  if (m[1] === '-') n = -n;
  const max = (1n << 63n) - 1n;
  const min = -(1n << 63n);
  return n > max ? max : n < min ? min : n;
}

const wrap = (n: bigint): string => BigInt.asIntN(64, n).toString();

/** uwsgi_manage_placeholder: `%(name)` is the first option called name; `%(a + 1)` a tiny left-to-right pipeline. */
export function placeholder(key: string, first: (name: string) => string | undefined): string | undefined {
  if (!key.includes(' ')) return first(key);
  let current: string | undefined;
  let op: '' | '+' | '-' | '*' | '/' = '';
  for (const tok of key.split(' ')) {
    if (tok === '') continue;
    if (tok === '+' || tok === '-' || tok === '*' || tok === '/') {
      op = tok;
      continue;
    }
    if (tok === '++' || tok === '--') {
      if (current !== undefined) current = wrap(strtoll(current) + (tok === '++' ? 1n : -1n));
      op = '';
      continue;
    }
    const value = /^\d+$/.test(tok) ? tok : (first(tok) ?? '');
    if (op === '') {
      current = (current ?? '') + value;
    } else {
      const a = current !== undefined ? strtoll(current) : 0n;
      const b = strtoll(value);
      switch (op) {
        case '+':
          current = wrap(a + b);
          break;
        case '-':
          current = wrap(a - b);
          break;
        case '*':
          current = wrap(a * b);
          break;
        case '/':
          current = b === 0n ? '0' : wrap(a / b);
          break;
      }
    }
    op = '';
  }
  return current;
}
