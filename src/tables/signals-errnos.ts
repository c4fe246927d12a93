// Signal and errno names and numbers, as Node's os.constants list them: a leaf, for the modules that print what a
// process or a syscall reported without loading the addon.
import * as os from 'node:os';

export function signalNumber(sig: NodeJS.Signals | number): number {
  if (typeof sig === 'number') {
    if (!Number.isInteger(sig) || sig < 0 || sig > 64) throw new RangeError(`invalid signal number ${sig}`);
    return sig;
  }
  const n = (os.constants.signals as Record<string, number>)[sig];
  if (n === undefined) throw new RangeError(`unknown signal '${sig}'`);
  return n;
}

let signalNames: Map<number, NodeJS.Signals> | undefined; // every exit asks: a Ragnarok asks thousands of times

export function signalName(n: number): NodeJS.Signals {
  if (!signalNames) {
    signalNames = new Map();
    // the first name of a number wins, as Node lists them: SIGABRT before SIGIOT, SIGIO before SIGPOLL
    for (const [name, num] of Object.entries(os.constants.signals)) if (!signalNames.has(num)) signalNames.set(num, name as NodeJS.Signals);
  }
  return signalNames.get(n) ?? (`SIG${n}` as NodeJS.Signals); // realtime signals have no name in Node
}

/** 'ENOENT' for 2: the code Node would give a positive errno. */
export function errnoCode(n: number): string {
  for (const [name, num] of Object.entries(os.constants.errno)) if (num === n) return name;
  return `E${n}`;
}

/**
 * The errnos of a host resource running out (descriptors, processes, memory, space): a start that fails with one is
 * retried on the limit-reached backoff (src/emperor/host-limits.ts), never taken for the vassal's own fault.
 */
export const HOST_LIMIT_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM', 'ENOSPC']);

/** Whether an error (anything with a `code`) is one of HOST_LIMIT_CODES. */
export function isHostLimit(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && HOST_LIMIT_CODES.has(code);
}
