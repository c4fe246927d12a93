// Printing a resolved config: uWSGI's --show-config block, or JSON that keeps each option's file and line.
import type { ResolvedConfig } from './types';

export function formatShowConfig(cfg: ResolvedConfig): string {
  const lines = [';uWSGI instance configuration', '[uwsgi]'];
  for (const o of cfg.options) lines.push(`${o.key} = ${o.value}`);
  lines.push(';end of configuration', '');
  return lines.join('\n');
}

export function formatConfigJson(cfg: ResolvedConfig): string {
  return JSON.stringify({ spec: cfg.spec, file: cfg.file, options: cfg.options, warnings: cfg.warnings }, null, 2) + '\n';
}
