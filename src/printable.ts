// Text for people: what a vassal, a tenant or a file name may put in front of an admin's eyes is shown, never
// obeyed. Control characters (an escape sequence clears the screen or recolours it, a newline forges a row), C1
// controls, and the Unicode characters that reorder or hide text (bidi overrides, line separators, unpaired
// surrogates) are written as \xNN or \uNNNN. Used by every human output: `emperor status`, `emperor logs`, the
// pretty log, and the vassal output lines themselves. A leaf: it imports nothing of the project.

/** Everything that is escaped: C0 but tab, DEL, C1, ALM, LRM/RLM, LS/PS, LRE..RLO, LRI..PDI, unpaired surrogates. */
const UNSAFE =
  /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escaped(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` as a terminal shows it safely: the same characters, with the unsafe ones escaped. */
export function printableText(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escaped) : text;
}

/**
 * Bytes as text a terminal shows safely: valid UTF-8 kept (but what printableText escapes), anything else (invalid
 * bytes, control characters but tab, C1 controls, DEL) as \xNN, so binary output is bounded, visible and never
 * breaks the log's lines.
 */
export function printable(b: Buffer): string {
  let i = 0;
  while (i < b.length && ((b[i] >= 0x20 && b[i] < 0x7f) || b[i] === 9)) i++;
  if (i === b.length) return b.toString('latin1');
  let out = b.toString('latin1', 0, i);
  while (i < b.length) {
    const c = b[i];
    if ((c >= 0x20 && c < 0x7f) || c === 9) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = c >= 0x80 ? utf8Length(b, i) : 0;
    if (n) {
      out += printableText(b.toString('utf8', i, i + n));
      i += n;
    } else {
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

/** The length of the well-formed UTF-8 sequence at b[i] (RFC 3629 table, C1 controls excluded), or 0. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1, c === 0xc2 ? 0xa0 : 0x80) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
