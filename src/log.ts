// One structured logger for the whole emperor: pino, one JSON event per line; human-readable on a TTY, where every
// text (a vassal's name, its output, a path) is escaped first: a tenant's bytes never drive the admin's terminal.
import pino from 'pino';
import { printableText } from './printable';

export type Logger = pino.Logger;

interface Roots {
  emperor: Logger;
  /** Vassal output: the same destination, without the emperor's own pid (each line carries its vassal's). */
  output: Logger;
}

function makeRoots(): Roots {
  const level = process.env.EMPEROR_LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY && process.env.EMPEROR_LOG_FORMAT !== 'json') {
    // on the loop, not in a transport's worker: the escaping is a function, and a terminal write is synchronous;
    // loaded only here, so that no process that logs JSON (a reader, an emperor under systemd) pays for loading it
    const { prettyFactory } = require('pino-pretty') as typeof import('pino-pretty');
    const pretty = (options: Record<string, string>): pino.DestinationStream => {
      const prettify = prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ...options });
      return { write: (line: string) => void process.stdout.write(prettify(printableFields(JSON.parse(line)))) };
    };
    return {
      emperor: pino({ level, base: { pid: process.pid } }, pretty({ ignore: 'hostname' })),
      // on a terminal a vassal's line is one line: who wrote it, then what
      output: pino({ level, base: null }, pretty({ ignore: 'vassal,stream,pid,event', messageFormat: '{vassal}[{pid}] {stream} | {msg}' })),
    };
  }
  // sync destination: an emperor's last words before exit (Ragnarok, fatal errors) must not be lost in a buffer
  const dest = pino.destination({ dest: 1, sync: true });
  return { emperor: pino({ level, base: { pid: process.pid } }, dest), output: pino({ level, base: null }, dest) };
}

/** The event with every string in it, keys included, as printableText shows it. */
function printableFields(v: unknown): unknown {
  if (typeof v === 'string') return printableText(v);
  if (Array.isArray(v)) return v.map(printableFields);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [printableText(k), printableFields(x)]));
}

let roots: Roots | undefined;

export function logger(): Logger {
  roots ??= makeRoots();
  return roots.emperor;
}

/** A child logger that stamps every event with the vassal's name. */
export function vassalLogger(vassal: string): Logger {
  return logger().child({ vassal });
}

/** The logger a vassal's own output lines go to: its events say `vassal`, `stream` and the writer's `pid`. */
export function vassalOutputLogger(vassal: string): Logger {
  logger();
  return roots!.output.child({ vassal });
}
