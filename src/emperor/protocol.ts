// The uWSGI emperor protocol with a real uWSGI vassal: one byte per message on the UWSGI_EMPEROR_FD socketpair.
import { EventEmitter } from 'node:events';
import type { ByteStream } from '../vassal';
import { TO_VASSAL } from '../tables/protocol';

/** The channel to a real uWSGI instance: raw protocol bytes both ways. */
export class UwsgiChannel extends EventEmitter {
  private closed = false;

  constructor(private readonly socket: ByteStream) {
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
