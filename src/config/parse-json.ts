// JSON vassal files as Debian's uWSGI (yajl tree) reads them: the "uwsgi" (or :section) object; strings as they are,
// true -> "1", false/null -> "0", numbers as written, arrays repeat the key, nested objects ignored. A small own
// parser because JSON.parse drops repeated keys and gives no line numbers; like yajl_tree it accepts comments.
import type { RawOption } from './parse-ini';

export class JsonSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

type Value =
  | { t: 'str' | 'num' | 'true' | 'false' | 'null'; v: string; line: number }
  | { t: 'arr'; items: Value[]; line: number }
  | { t: 'obj'; keys: { key: string; line: number }[]; values: Value[]; line: number };

const MAX_DEPTH = 512;

class Parser {
  private i = 0;
  private line = 1;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonSyntaxError(this.line, what);
  }

  ws(): void {
    const s = this.s;
    for (;;) {
      const c = s[this.i];
      if (c === '\n') {
        this.line++;
        this.i++;
      } else if (c === ' ' || c === '\t' || c === '\r') this.i++;
      else if (c === '/' && s[this.i + 1] === '/') {
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
      } else if (c === '/' && s[this.i + 1] === '*') {
        const end = s.indexOf('*/', this.i + 2);
        if (end < 0) this.fail('unterminated comment');
        for (let k = this.i; k < end; k++) if (s[k] === '\n') this.line++;
        this.i = end + 2;
      } else return;
    }
  }

  document(): Value {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i < this.s.length) this.fail(`unexpected '${this.s[this.i]}' after the top-level value`);
    return v;
  }

  value(depth: number): Value {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    const c = this.s[this.i];
    const line = this.line;
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return { t: 'str', v: this.string(), line };
    for (const [word, t] of [
      ['true', 'true'],
      ['false', 'false'],
      ['null', 'null'],
    ] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return { t, v: word, line };
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (m && m[0] !== '' && m[0] !== '-') {
      this.i += m[0].length;
      return { t: 'num', v: m[0], line };
    }
    this.fail(c === undefined ? 'unexpected end of file' : `unexpected '${c}'`);
  }

  object(depth: number): Value {
    const line = this.line;
    this.i++;
    const keys: { key: string; line: number }[] = [];
    const values: Value[] = [];
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { t: 'obj', keys, values, line };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a "key"');
      const kline = this.line;
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail(`expected ':' after "${key}"`);
      this.i++;
      this.ws();
      keys.push({ key, line: kline });
      values.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return { t: 'obj', keys, values, line };
      if (c !== ',') {
        this.i--;
        this.fail(c === undefined ? 'unexpected end of file in an object' : `expected ',' or '}' but found '${c}'`);
      }
    }
  }

  array(depth: number): Value {
    const line = this.line;
    this.i++;
    const items: Value[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return { t: 'arr', items, line };
    }
    for (;;) {
      this.ws();
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return { t: 'arr', items, line };
      if (c !== ',') {
        this.i--;
        this.fail(c === undefined ? 'unexpected end of file in an array' : `expected ',' or ']' but found '${c}'`);
      }
    }
  }

  string(): string {
    const s = this.s;
    let out = '';
    let from = ++this.i;
    for (;;) {
      const c = s[this.i];
      if (c === undefined || c === '\n') this.fail('unterminated string');
      if (c === '"') {
        out += s.slice(from, this.i);
        this.i++;
        return out;
      }
      if (c < ' ') this.fail('control character in a string');
      if (c === '\\') {
        out += s.slice(from, this.i);
        const e = s[this.i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          this.i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(this.i + 2, this.i + 6))) {
          out += String.fromCharCode(parseInt(s.slice(this.i + 2, this.i + 6), 16));
          this.i += 6;
        } else this.fail('invalid escape in a string');
        from = this.i;
      } else this.i++;
    }
  }
}

function scalar(v: Value): string | undefined {
  switch (v.t) {
    case 'str':
    case 'num':
      return v.v;
    case 'true':
      return '1';
    case 'false':
    case 'null':
      return '0';
    default:
      return undefined;
  }
}

/** Options of the `section` object; `found` false when it is missing or not an object (uWSGI exits then). */
export function parseJson(text: string, lineOf: number[] | undefined, section: string): { options: RawOption[]; found: boolean } {
  const root = new Parser(text).document();
  const mapLine = (n: number): number => (lineOf ? (lineOf[n - 1] ?? n) : n);
  if (root.t !== 'obj') return { options: [], found: false };
  // yajl_tree_get returns the first member with that name
  const at = root.keys.findIndex((k) => k.key === section);
  const obj = at >= 0 ? root.values[at] : undefined;
  if (!obj || obj.t !== 'obj') return { options: [], found: false };
  const options: RawOption[] = [];
  obj.keys.forEach((k, n) => {
    const v = obj.values[n];
    if (v.t === 'arr') {
      for (const item of v.items) {
        const s = scalar(item);
        if (s !== undefined) options.push({ key: k.key, value: s, line: mapLine(item.line) });
      }
    } else {
      const s = scalar(v);
      if (s !== undefined) options.push({ key: k.key, value: s, line: mapLine(k.line) });
    }
  });
  return { options, found: true };
}

/** The top-level keys whose value is an object (what `file.json:key` can name), in order, each once. */
export function jsonSections(text: string): string[] {
  const root = new Parser(text).document();
  const out: string[] = [];
  if (root.t !== 'obj') return out;
  root.keys.forEach((k, i) => {
    if (root.values[i].t === 'obj' && !out.includes(k.key)) out.push(k.key);
  });
  return out;
}
