// The uWSGI emperor protocol with a real uWSGI vassal: one byte per message on the UWSGI_EMPEROR_FD socketpair.
import * as native from '../native';
import { TO_VASSAL } from '../tables/uwsgi-protocol';

/** The channel to a real uWSGI instance: raw protocol bytes both ways, each byte read given to the vassal. */
export class UwsgiChannel implements native.ChannelSink {
  private closed = false;
  private readonly socket: native.FdChannel;

  constructor(
    fd: number,
    private readonly vassal: { onProtocol(byte: number): void },
  ) {
    this.socket = new native.FdChannel(fd, this);
  }

  onData(buf: Buffer): void {
    for (const byte of buf) this.vassal.onProtocol(byte);
  }

  /** EOF or an error: the vassal side is gone; the exit itself is seen through the pidfd. */
  onClose(): void {
    this.close();
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
  }
}
