// uWSGI's hook actions ("action:args", core/hooks.c) turned into init ops.
import { ConfigError } from '../config/errors';
import { parseMountFlags } from '../tables/mount-flags';
import { LIBC_CALLS, type LibcCall, type StepAction, type StepOrigin } from './plan';

/** A step before the compiler gives it its origin and phase. */
export type StepDraft = StepAction & { private?: boolean };

const CALLINT = `calls a C symbol of the uWSGI process with an int (dlsym); a native vassal has none: call:/callret: take ${LIBC_CALLS.join(', ')}, or use exec:`;

// Actions that need a uWSGI process (its symbols, its alarm and RPC subsystems): a native vassal has none.
const NEEDS_UWSGI: Record<string, string> = {
  callint: CALLINT,
  callintret: CALLINT,
  unix_signal: 'installs a C symbol of the uWSGI process as a signal handler; a native vassal has none',
  rpc: 'needs the uWSGI RPC subsystem',
  retryrpc: 'needs the uWSGI RPC subsystem',
  alarm: 'needs the uWSGI alarm subsystem',
};

function split1(text: string): [string, string] {
  const i = text.indexOf(' ');
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)];
}

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

/** "FS SRC DST [FLAGS [DATA]]" (mount: and mount-<phase>). */
export function mountStep(text: string, origin: StepOrigin): StepDraft {
  const w = words(text);
  if (w.length < 3)
    throw new ConfigError(origin.file, origin.line, `invalid mount syntax '${text}': FSTYPE SOURCE TARGET [FLAGS [DATA]]`, origin.option);
  const flags = flagsOf(w[3] ?? '', origin);
  return { op: 'mount', args: [w[0], w[1], w[2], String(flags.mountFlags), w.slice(4).join(' ')] };
}

/** "TARGET [FLAGS]" (umount: and umount-<phase>); 'rec' unmounts everything below TARGET first, as uWSGI. */
export function umountStep(text: string, origin: StepOrigin): StepDraft {
  const w = words(text);
  if (w.length < 1 || w.length > 2)
    throw new ConfigError(origin.file, origin.line, `invalid umount syntax '${text}': TARGET [FLAGS]`, origin.option);
  const list = (w[1] ?? '').split(',').filter(Boolean);
  const rec = list.some((f) => f === 'rec' || f === 'recursive');
  const flags = flagsOf(list.filter((f) => f !== 'rec' && f !== 'recursive').join(','), origin);
  if (flags.mountFlags)
    throw new ConfigError(origin.file, origin.line, `umount takes only rec, detach and force, got '${w[1]}'`, origin.option);
  return { op: 'umount', args: [w[0], String(flags.umountFlags), rec ? '1' : '0'] };
}

function flagsOf(list: string, origin: StepOrigin): { mountFlags: number; umountFlags: number } {
  try {
    return parseMountFlags(list);
  } catch (e) {
    throw new ConfigError(origin.file, origin.line, (e as Error).message, origin.option);
  }
}

function isLibcCall(symbol: string): symbol is LibcCall {
  return (LIBC_CALLS as readonly string[]).includes(symbol);
}

/** "SYMBOL ARG" (call: and callret:): one of LIBC_CALLS with its one string. */
function callStep(action: 'call' | 'callret', text: string, origin: StepOrigin): StepDraft {
  const [symbol, arg] = split1(text);
  const fail = (what: string): never => {
    throw new ConfigError(origin.file, origin.line, what, origin.option);
  };
  if (!isLibcCall(symbol))
    return fail(
      `${action}:${symbol}: a native vassal can call ${LIBC_CALLS.join(', ')} (uWSGI's dlsym of its own symbols has no equivalent here; use exec: for anything else)`,
    );
  if (text.indexOf(' ') < 0) fail(`${action}:${symbol} needs its string argument: ${action}:${symbol} ARG`);
  return { op: 'call', args: [symbol, arg, action === 'callret' ? '1' : '0'] };
}

export function execStep(shell: string, command: string): StepDraft {
  return { op: 'exec', args: [shell, '-c', command] };
}

/** One hook value ("[!]action:args"). */
export function hookStep(value: string, origin: StepOrigin, shell: string): StepDraft {
  const fail = (what: string): never => {
    throw new ConfigError(origin.file, origin.line, what, origin.option);
  };
  const colon = value.indexOf(':');
  if (colon < 0) fail(`invalid hook syntax '${value}': ACTION:ARGS`);
  let action = value.slice(0, colon);
  const arg = value.slice(colon + 1);
  const isPrivate = action.startsWith('!');
  if (isPrivate) action = action.slice(1);
  const step = ((): StepDraft => {
    const [first, rest] = split1(arg);
    switch (action) {
      case 'exec':
        return execStep(shell, arg);
      case 'safeexec':
        return { op: 'safeexec', args: [shell, '-c', arg] };
      case 'cd':
      case 'chdir':
        return { op: 'chdir', args: [arg] };
      case 'mkdir':
        return { op: 'mkdir', args: [arg] };
      case 'unlink':
        return { op: 'unlink', args: [arg] };
      case 'create':
      case 'creat':
        return { op: 'create', args: [arg] };
      case 'sticky':
        return { op: 'sticky', args: [arg] };
      case 'write':
        return { op: 'write', args: [first, rest] };
      case 'writen':
        return { op: 'write', args: [first, `${rest}\n`] };
      case 'append':
        return { op: 'append', args: [first, rest] };
      case 'appendn':
        return { op: 'append', args: [first, `${rest}\n`] };
      case 'writefifo':
        return { op: 'writefifo', args: [first, rest] };
      case 'print':
      case 'log':
        return { op: 'print', args: [arg] };
      case 'hostname':
        return { op: 'hostname', args: [arg] };
      case 'mount':
        return mountStep(arg, origin);
      case 'umount':
        return umountStep(arg, origin);
      case 'call':
      case 'callret':
        return callStep(action, arg, origin);
      case 'putenv': {
        const eq = arg.indexOf('=');
        if (eq <= 0) fail(`putenv needs KEY=VALUE, got '${arg}'`);
        return { op: 'putenv', args: [arg.slice(0, eq), arg.slice(eq + 1)] };
      }
      case 'chmod': {
        if (!/^[0-7]{1,4}$/.test(rest)) fail(`chmod needs FILE OCTAL-MODE, got '${arg}'`);
        return { op: 'chmod', args: [first, String(parseInt(rest, 8))] };
      }
      case 'chown':
      case 'chown2': {
        const w = words(arg);
        if (w.length !== 3) fail(`${action} needs FILE USER GROUP, got '${arg}'`);
        return { op: 'chown', args: [w[0], w[1], w[2]] };
      }
      default:
        if (NEEDS_UWSGI[action]) return fail(`hook action '${action}' ${NEEDS_UWSGI[action]}`);
        return fail(`hook action '${action}' is not supported by the native vassal init`);
    }
  })();
  return isPrivate ? { ...step, private: true } : step;
}
