// What the emperor hands a vassal besides its file: its environment and the vassal file name rule.
import { isConfigExtension } from '../tables/formats';
import { userOf } from '../tables/passwd';

const VASSAL_PREFIX = 'UWSGI_VASSAL_';

/** Never passed on: every spawn is a first run, and systemd's socket is the emperor's. */
function dropped(k: string): boolean {
  return k === 'UWSGI_RELOADS' || k === 'NOTIFY_SOCKET';
}

/**
 * UWSGI_VASSAL_xxx=v becomes UWSGI_xxx=v, as Emperor.rst says (uWSGI 2.0.21's code reads a shifted env slot and
 * renames the wrong variable).
 */
function rewritten(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && k.startsWith(VASSAL_PREFIX) && k.length > VASSAL_PREFIX.length)
      out[`UWSGI_${k.slice(VASSAL_PREFIX.length)}`] = v;
  }
  return out;
}

/**
 * The emperor's whole environment, as uWSGI passes it on: UWSGI_VASSAL_* rewritten; UWSGI_RELOADS and NOTIFY_SOCKET
 * dropped, so every spawn is a first run.
 */
export function vassalEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || dropped(k) || k.startsWith(VASSAL_PREFIX)) continue;
    out[k] = v;
  }
  return { ...out, ...rewritten(env) };
}

/** A tyrant vassal's PATH, whatever the emperor's: what login(1) gives a user on Debian, without the games. */
export const TENANT_PATH = '/usr/local/bin:/usr/bin:/bin';
/** What a tyrant vassal keeps of the emperor's own environment: its locale and its time zone. */
const TENANT_KEEPS = /^(?:LANG|LANGUAGE|LC_[A-Z_]+|TZ)$/;

/**
 * A tyrant vassal's environment (README, "Tyrant mode"), the way sudo or systemd give one: a fixed PATH, HOME, USER,
 * LOGNAME and SHELL of its owner from passwd (HOME=/ and SHELL=/bin/sh, and the uid as its name, without an entry),
 * the emperor's locale and TZ, the variables named in `keep` as the emperor has them, and UWSGI_VASSAL_* rewritten.
 * Nothing else of the emperor's (its HOME, its unit's secrets) reaches a tenant.
 */
export function tenantEnvironment(env: NodeJS.ProcessEnv, uid: number, keep: readonly string[]): Record<string, string> {
  const user = userOf(uid);
  const name = user?.name ?? String(uid);
  const out: Record<string, string> = {
    PATH: TENANT_PATH,
    HOME: user?.home || '/',
    USER: name,
    LOGNAME: name,
    SHELL: user?.shell || '/bin/sh',
  };
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && !dropped(k) && (TENANT_KEEPS.test(k) || keep.includes(k))) out[k] = v;
  }
  return { ...out, ...rewritten(env) };
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
