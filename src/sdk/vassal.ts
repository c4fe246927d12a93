// For Node apps run as native vassals (package export 'emperor/vassal'): speak the emperor protocol on the
// UWSGI_EMPEROR_FD the vassal init gives the app, both ways. Outside a vassal every call is a no-op returning false.
//
// Once the app has sent a byte, the init relays the emperor's bytes to it: 1 (reload), 0 or 2 (stop, 2 when
// graceful). on('reload') and on('stop') handle them; an event nobody listens to gets the SIGTERM the init would
// send anyway, at once instead of after the init's mercy.
import * as fs from 'node:fs';
import * as net from 'node:net';

import { FROM_VASSAL, TO_VASSAL } from '../tables/uwsgi-protocol';

const { spawned: READY, accepting: ACCEPTING, loyal: LOYAL, voluntaryShutdown: VOLUNTARY_SHUTDOWN, heartbeat: HEARTBEAT } = FROM_VASSAL;

type Handler = (graceful: boolean) => unknown;
const handlers: Record<'reload' | 'stop', Handler[]> = { reload: [], stop: [] };
let incoming: net.Socket | undefined;

function emperorFd(): number | undefined {
  const raw = process.env.UWSGI_EMPEROR_FD;
  const fd = Number(raw);
  return raw && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

function send(byte: number): boolean {
  const fd = emperorFd();
  if (fd === undefined) return false;
  listen(fd);
  try {
    return fs.writeSync(fd, Buffer.from([byte])) === 1;
  } catch {
    return false;
  }
}

// Reading starts with the first byte the app sends, the moment the init starts relaying; unref'd, so a vassal
// whose app is otherwise done still exits.
function listen(fd: number): void {
  if (incoming) return;
  try {
    incoming = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  } catch {
    return; // not a socket (a stale UWSGI_EMPEROR_FD outside a vassal): nothing will come, and send() says so
  }
  incoming.unref();
  incoming.on('data', (bytes: Buffer) => {
    for (const b of bytes) dispatch(b);
  });
  incoming.on('error', () => {});
}

function dispatch(byte: number): void {
  const event = byte === TO_VASSAL.reload ? 'reload' : byte === TO_VASSAL.stop || byte === TO_VASSAL.gracefulStop ? 'stop' : undefined;
  if (!event) return;
  const fns = handlers[event];
  if (fns.length === 0) {
    process.kill(process.pid, 'SIGTERM');
    return;
  }
  const graceful = byte === TO_VASSAL.gracefulStop;
  // a reload handled without exiting is announced as done: the init then keeps this process
  Promise.all(fns.map((fn) => fn(graceful))).then(
    () => {
      if (event === 'reload') ready();
    },
    (e: unknown) =>
      process.nextTick(() => {
        throw e;
      }),
  );
}

/**
 * 'reload' (byte 1): reload in place (re-read config, drop caches); when every handler has returned (or its promise
 * resolved) the helper sends ready, and the app is kept. To be restarted instead, exit.
 * 'stop' (byte 0, or 2 with graceful = true): finish and exit; the init sends SIGTERM if the app is still there
 * after its mercy (5 s).
 * The app must have spoken first (ready(), say): until then the init treats it as unaware and sends signals.
 */
export function on(event: 'reload' | 'stop', fn: Handler): void {
  handlers[event].push(fn);
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
