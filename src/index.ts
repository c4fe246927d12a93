// The library surface: embed an emperor, or use the config reader on its own.
export { Emperor } from './emperor/emperor';
export { finalizeOptions, type EmperorOptions } from './emperor/options';
export { loadConfig, ConfigError, formatShowConfig } from './config';
export type { ResolvedConfig, ConfigOption, LoadOptions } from './config/types';
