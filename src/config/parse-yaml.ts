// YAML vassal files as Debian's uWSGI (libyaml token scanner, core/yaml.c) reads them: the block mapping under the
// `uwsgi` (or :section) key; scalars become options, sequences repeat the key, nested mappings are flattened, a key
// with no value is dropped, everything else is ignored.
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node as YNode, type YAMLMap } from 'yaml';
import type { RawOption } from './parse-ini';

export class YamlSyntaxError extends Error {
  constructor(readonly line: number, message: string) { super(message); }
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

export function parseYaml(text: string, lineOf: number[] | undefined, section: string): { options: RawOption[]; found: boolean } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: false, lineCounter: lc, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0].line ?? lc.linePos(e.pos[0]).line;
    throw new YamlSyntaxError(lineOf ? lineOf[line - 1] ?? line : line, e.message.split('\n')[0]);
  }
  const lineAt = (n: YNode | null | undefined): number => {
    const l = n?.range ? lc.linePos(n.range[0]).line : 1;
    return lineOf ? lineOf[l - 1] ?? l : l;
  };
  const map = findSection(doc.contents, section, 0);
  if (!map) return { options: [], found: false };
  const options: RawOption[] = [];
  const walk = (m: YAMLMap, depth: number): void => {
    for (const pair of m.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const v = pair.value;
      if (isScalar(v) && v.value !== null) options.push({ key, value: String(v.value), line: lineAt(v) });
      else if (isSeq(v)) {
        for (const item of v.items) {
          if (isScalar(item) && item.value !== null) options.push({ key, value: String(item.value), line: lineAt(item as YNode) });
        }
      } else if (isMap(v) && !v.flow && depth < 64) walk(v, depth + 1);
      else if (isAlias(v)) continue;
    }
  };
  walk(map, 0);
  return { options, found: true };
}
