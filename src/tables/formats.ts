// Vassal config files by how their names end, as uWSGI decides it (docs/UWSGI.md §1.3 and §1.5): which names are
// vassals, which reader reads them, and which flag the emperor passes the file with to uWSGI.

export type ConfigFormat = 'ini' | 'yaml' | 'json' | 'xml';

export interface ConfigFileType {
  /** Matched case-sensitively at the end of the name, as uWSGI's strcmp does. */
  extension: string;
  format: ConfigFormat;
  flag: string;
}

export const CONFIG_FILE_TYPES: readonly ConfigFileType[] = [
  { extension: '.ini', format: 'ini', flag: '--ini' },
  { extension: '.xml', format: 'xml', flag: '--xml' },
  { extension: '.yml', format: 'yaml', flag: '--yaml' },
  { extension: '.yaml', format: 'yaml', flag: '--yaml' },
  { extension: '.js', format: 'json', flag: '--json' },
  { extension: '.json', format: 'json', flag: '--json' },
];

function typeOf(name: string): ConfigFileType | undefined {
  return CONFIG_FILE_TYPES.find((t) => name.endsWith(t.extension));
}

/** The reader for a file name; undefined when the name ends in none of the known extensions. */
export function formatOfName(name: string): ConfigFormat | undefined {
  return typeOf(name)?.format;
}

/** Whether the name ends in one of uWSGI's own config extensions (not counting --emperor-extra-extension). */
export function isConfigExtension(name: string): boolean {
  return typeOf(name) !== undefined;
}

/**
 * The flag uWSGI's emperor runs a vassal file with: --config for any other name (an --emperor-extra-extension). A
 * section vassal of a multi-section file, "app.ini:app2", is run as `--ini app.ini:app2`.
 */
export function configFlagOf(name: string): string {
  const colon = name.lastIndexOf(':');
  return (typeOf(name) ?? (colon > 0 ? typeOf(name.slice(0, colon)) : undefined))?.flag ?? '--config';
}
