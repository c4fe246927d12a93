// YAML vassal files as Debian's uWSGI (libyaml token scanner, core/yaml.c) reads them: the block mapping under the
// `uwsgi` (or :section) key; scalars become options, sequences repeat the key, nested mappings are flattened, a key
// with no value is dropped, aliases are ignored.
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YNode, type YAMLMap, type YAMLSeq } from 'yaml';
import type { RawOption } from './parse-ini';

export class YamlSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function findSection(node: unknown, section: string, depth: number): YAMLMap | undefined {
  if (!isMap(node) || depth > 64) return undefined;
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key === section && isMap(pair.value) && !pair.value.flow) return pair.value;
    const inner = findSection(pair.value, section, depth + 1);
    if (inner) return inner;
  }
  return undefined;
}

/** The document as libyaml's tokens would see it (failsafe: every scalar a string); a syntax error at its line. */
function parseDoc(text: string): { doc: ReturnType<typeof parseDocument>; lc: LineCounter } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: false, lineCounter: lc, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new YamlSyntaxError(e.linePos?.[0].line ?? lc.linePos(e.pos[0]).line, e.message.split('\n')[0]);
  }
  return { doc, lc };
}

export function parseYaml(text: string, lineOf: number[] | undefined, section: string): { options: RawOption[]; found: boolean } {
  const { doc, lc } = parseDoc(text);
  const lineAt = (n: YNode | null | undefined): number => {
    const l = n?.range ? lc.linePos(n.range[0]).line : 1;
    return lineOf ? (lineOf[l - 1] ?? l) : l;
  };
  const map = findSection(doc.contents, section, 0);
  if (!map) return { options: [], found: false };
  const options: RawOption[] = [];
  // `key:` with nothing after it gives libyaml no value token, so uWSGI adds nothing
  const absent = (n: unknown): boolean => isScalar(n) && n.type === 'PLAIN' && !!n.range && n.range[0] === n.range[1];
  const add = (key: string, n: YNode): void => {
    options.push({ key, value: String((n as { value: unknown }).value), line: lineAt(n) });
  };
  // libyaml forgets the current key at the end of any nested collection: later scalars of that sequence are lost
  const walkSeq = (key: string, seq: YAMLSeq, depth: number): void => {
    let keyAlive = true;
    for (const item of seq.items) {
      if (isScalar(item)) {
        if (keyAlive && !absent(item)) add(key, item);
      } else if (isSeq(item) && depth < 64) {
        if (keyAlive) walkSeq(key, item, depth + 1);
        keyAlive = false;
      } else if (isMap(item) && depth < 64) {
        walk(item, depth + 1);
        keyAlive = false;
      }
    }
  };
  const walk = (m: YAMLMap, depth: number): void => {
    for (const pair of m.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const v = pair.value;
      if (isScalar(v)) {
        if (!absent(v)) add(key, v);
      } else if (isSeq(v) && depth < 64) walkSeq(key, v, depth + 1);
      else if (isMap(v) && depth < 64) walk(v, depth + 1);
    }
  };
  walk(map, 0);
  return { options, found: true };
}

/** The top-level keys whose value is a block mapping (what `file.yml:key` names), in order, each once. */
export function yamlSections(text: string): string[] {
  const { doc } = parseDoc(text);
  const out: string[] = [];
  if (!isMap(doc.contents)) return out;
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key !== undefined && isMap(pair.value) && !pair.value.flow && !out.includes(key)) out.push(key);
  }
  return out;
}
