// What the emperor hands a vassal besides its file: the environment rewrite and the vassal file name rule.
import { isConfigExtension } from '../tables/formats';

/**
 * UWSGI_VASSAL_xxx=v becomes UWSGI_xxx=v, as Emperor.rst says (uWSGI 2.0.21's code reads a shifted env slot and
 * renames the wrong variable); UWSGI_RELOADS and NOTIFY_SOCKET are dropped, so every spawn is a first run.
 */
export function vassalEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k === 'UWSGI_RELOADS' || k === 'NOTIFY_SOCKET' || k.startsWith('UWSGI_VASSAL_')) continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && k.startsWith('UWSGI_VASSAL_') && k.length > 'UWSGI_VASSAL_'.length) out[`UWSGI_${k.slice(13)}`] = v;
  }
  return out;
}

/** uwsgi_emperor_is_valid: a known (or extra) extension and a name shorter than 255 bytes. */
export function isVassalFile(name: string, extraExtensions: string[] = []): boolean {
  if (!isConfigExtension(name) && !extraExtensions.some((e) => e !== '' && name.endsWith(e))) return false;
  return Buffer.byteLength(name) < 255;
}

/** uwsgi_opt_true: only false, off, no (any case) and 0 are false; an empty value is true. */
export function isTrue(value: string): boolean {
  const v = value.toLowerCase();
  return !(v === 'false' || v === 'off' || v === 'no' || value === '0');
}
