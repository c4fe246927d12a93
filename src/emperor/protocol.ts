// The uWSGI emperor protocol: one byte per message on the UWSGI_EMPEROR_FD socketpair (reference §2.1).
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';

/** Emperor -> vassal. */
export const TO_VASSAL = { stop: 0, reload: 1, gracefulStop: 2 } as const;

/** Vassal -> emperor. */
export const FROM_VASSAL = {
  spawned: 1,
  configRequest: 2,
  accepting: 5,
  loyal: 17,
  voluntaryShutdown: 22,
  heartbeat: 26,
  broodlordSos: 30,
} as const;

/** The channel to a real uWSGI instance: raw protocol bytes both ways. */
export class UwsgiChannel extends EventEmitter {
  private closed = false;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (buf: Buffer) => {
      for (const byte of buf) this.emit('protocol', byte);
    });
    // EOF or an error both mean the vassal side is gone; the exit itself is seen through the pidfd
    socket.on('error', () => this.close());
    socket.on('end', () => this.close());
  }

  reload(): void {
    this.send(TO_VASSAL.reload);
  }

  stop(graceful: boolean): void {
    this.send(graceful ? TO_VASSAL.gracefulStop : TO_VASSAL.stop);
  }

  private send(byte: number): void {
    if (!this.closed) this.socket.write(Buffer.of(byte));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.emit('close');
  }
}
