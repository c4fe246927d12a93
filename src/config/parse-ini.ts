// uWSGI's ini reader (core/ini.c): no escapes, no inline comments, no interpolation; repeated keys all kept.
export interface RawOption {
  key: string;
  value: string;
  line: number;
}

const isBlank = (c: string): boolean => c === ' ' || c === '\t' || c === '\r';

function strip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isBlank(s[a])) a++;
  while (b > a && isBlank(s[b - 1])) b--;
  return s.slice(a, b);
}

/** Options of `[section]`, in order; `found` is false when no option of that section was seen (uWSGI warns). */
export function parseIni(text: string, lineOf: number[] | undefined, section: string): { options: RawOption[]; found: boolean } {
  const options: RawOption[] = [];
  let current = '';
  let found = false;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    let raw = lines[n];
    // uWSGI handles each line as a C string: a NUL ends it
    const nul = raw.indexOf('\0');
    if (nul >= 0) raw = raw.slice(0, nul);
    const line = strip(raw);
    if (line === '') continue;
    const c = line[0];
    if (c === '[') {
      // the name is everything after '[' minus the last character, ']' or not
      current = line.slice(1, -1);
    } else if (c !== ';' && c !== '#' && current === section) {
      found = true;
      const eq = line.indexOf('=');
      const key = eq < 0 ? line : strip(line.slice(0, eq));
      const value = eq < 0 ? '' : strip(line.slice(eq + 1));
      options.push({ key, value, line: lineOf ? (lineOf[n] ?? n + 1) : n + 1 });
    }
  }
  return { options, found };
}

/** Every `[section]` of the file, in order, each once. */
export function iniSections(text: string): string[] {
  const out: string[] = [];
  for (let raw of text.split('\n')) {
    const nul = raw.indexOf('\0');
    if (nul >= 0) raw = raw.slice(0, nul);
    const line = strip(raw);
    if (line[0] !== '[') continue;
    const name = line.slice(1, -1);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
