// One structured logger for the whole emperor: pino, one JSON event per line; human-readable on a TTY.
import pino from 'pino';

export type Logger = pino.Logger;

interface Roots {
  emperor: Logger;
  /** Vassal output: the same destination, without the emperor's own pid (each line carries its vassal's). */
  output: Logger;
}

function makeRoots(): Roots {
  const level = process.env.EMPEROR_LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY && process.env.EMPEROR_LOG_FORMAT !== 'json') {
    const pretty = (options: Record<string, string>) =>
      pino.transport({ target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ...options } });
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
