// One structured logger for the whole emperor: pino, one JSON event per line; human-readable on a TTY.
import pino from 'pino';

export type Logger = pino.Logger;

function makeRoot(): Logger {
  const level = process.env.EMPEROR_LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY && process.env.EMPEROR_LOG_FORMAT !== 'json') {
    return pino({ level, base: { pid: process.pid } }, pino.transport({ target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' } }));
  }
  // sync destination: an emperor's last words before exit (Ragnarok, fatal errors) must not be lost in a buffer
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
}

let root: Logger | undefined;

export function logger(): Logger {
  root ??= makeRoot();
  return root;
}

/** A child logger that stamps every event with the vassal's name. */
export function vassalLogger(vassal: string): Logger {
  return logger().child({ vassal });
}
