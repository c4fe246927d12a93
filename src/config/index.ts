// The config language: uWSGI vassal files read exactly as uWSGI reads them, resolved to one ordered option list.
import { ConfigError } from './errors';
import { fileSections, resolve } from './resolver';
import type { FileSections } from './section-list';
import type { ConfigHost } from './host';
import type { FactsInput } from './types';
import type { ConfigOption, LoadOptions, ResolvedConfig } from './types';

export * from './types';
export { ConfigError } from './errors';
export { HostError, type ConfigHost, type HostStat } from './host';
export type { FactsInput } from './types';
export { MAX_CONFIG_BYTES, MAX_RESOLVED_BYTES } from './source';
export { formatShowConfig, formatConfigJson } from './format';
export { vassalEnvironment, tenantEnvironment, isVassalFile, isTrue } from './vassal-env';
export type { FileSections } from './section-list';

/** Runs one reading of `spec`: a ConfigError and nothing else gets out. */
function guarded<T>(spec: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    // a bug here must still refuse only this vassal, with a message that names it
    throw new ConfigError(spec, 0, `internal error while reading the config: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Resolves a vassal file (path, maybe with :section). Synchronous; throws ConfigError and nothing else. */
export function loadConfig(spec: string, opts: LoadOptions): ResolvedConfig {
  return guarded(spec, () => resolve(spec, opts));
}

/** The sections of a vassal file (no :section in `spec`): which vassals a multi-section emperor makes of it. */
export function listSections(spec: string, opts: LoadOptions): FileSections {
  return guarded(spec, () => fileSections(spec, opts));
}

/** The emperor's own --ini/--yaml/--json file: the same reader, section [uwsgi], this process's environment. */
export function readEmperorConfig(spec: string, host: ConfigHost, facts?: FactsInput): ResolvedConfig {
  return loadConfig(spec, { host, facts });
}

/** The value uWSGI applies for a scalar option: the last one. */
export function getOption(cfg: ResolvedConfig, key: string): ConfigOption | undefined {
  for (let i = cfg.options.length - 1; i >= 0; i--) if (cfg.options[i].key === key) return cfg.options[i];
  return undefined;
}

/** Every value of a list option (hook-as-root, env, ...), in order. */
export function getOptions(cfg: ResolvedConfig, key: string): ConfigOption[] {
  return cfg.options.filter((o) => o.key === key);
}
