// Which sections a vassal file has, for an emperor that makes one vassal of each (--emperor-multi-section): the
// default section (what the plain file name resolves to) and the named ones (`file:section`), as each format
// addresses them.
import { iniSections } from './parse-ini';
import { jsonSections } from './parse-json';
import { xmlSections } from './parse-xml';
import { yamlSections } from './parse-yaml';
import type { ConfigFormat } from './types';

export interface FileSections {
  /** The plain file is a vassal of its own: [uwsgi] (ini), the `uwsgi` key (yaml, json), a <uwsgi> with no id (xml). */
  hasDefault: boolean;
  /** Every other section, in file order, each once: the vassal `file:section`. */
  named: string[];
}

export function sectionsOf(format: ConfigFormat, text: string): FileSections {
  if (format === 'xml') return xmlSections(text);
  const all = format === 'ini' ? iniSections(text) : format === 'yaml' ? yamlSections(text) : jsonSections(text);
  return { hasDefault: all.includes('uwsgi'), named: all.filter((s) => s !== 'uwsgi') };
}
