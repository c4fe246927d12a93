// For Node apps run as native vassals (package export 'emperor/vassal'): speak the emperor protocol on the
// UWSGI_EMPEROR_FD the vassal init gives the app. Outside a vassal every call is a no-op returning false.
import * as fs from 'node:fs';

import { FROM_VASSAL } from '../tables/protocol';

const { spawned: READY, accepting: ACCEPTING, loyal: LOYAL, voluntaryShutdown: VOLUNTARY_SHUTDOWN, heartbeat: HEARTBEAT } = FROM_VASSAL;

function send(byte: number): boolean {
  const fd = Number(process.env.UWSGI_EMPEROR_FD);
  if (!Number.isInteger(fd) || fd < 0 || process.env.UWSGI_EMPEROR_FD === '') return false;
  try {
    return fs.writeSync(fd, Buffer.from([byte])) === 1;
  } catch {
    return false;
  }
}

/** The app has started (byte 1), then accepts connections (byte 5). */
export function ready(): boolean {
  return send(READY) && send(ACCEPTING);
}

/** The app has served (byte 17): the emperor takes it off the blacklist. */
export function loyal(): boolean {
  return send(LOYAL);
}

/** Byte 26, for vassals with a heartbeat. */
export function heartbeat(): boolean {
  return send(HEARTBEAT);
}

/** Byte 22: the app asks to be stopped. */
export function shutdown(): boolean {
  return send(VOLUNTARY_SHUTDOWN);
}
