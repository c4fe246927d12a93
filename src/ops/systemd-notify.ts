// systemd's sd_notify protocol (sd_notify(3)), spoken when the service manager set NOTIFY_SOCKET: READY=1 once the
// first scan of every monitor is done, STATUS= with the vassal counts, RELOADING=1 on SIGHUP, STOPPING=1 at
// Ragnarok, WATCHDOG=1 at half of WATCHDOG_USEC. Each message is one datagram sent without waiting; a failure is
// said once in the log, never fatal (the emperor serves its vassals whether systemd listens or not).
import type { Logger } from '../log';
import * as native from '../native';

export class SystemdNotifier {
  private readonly socket?: string;
  private watchdog?: NodeJS.Timeout;
  private lastStatus = '';
  private failed = false;

  constructor(
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the variables is not it
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    if (this.socket && usec > 0 && forUs) {
      this.watchdog = setInterval(() => this.send('WATCHDOG=1'), Math.max(1, Math.floor(usec / 2000)));
      this.watchdog.unref();
    }
    // the vassals are not the service: they must not talk to its manager in its name
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  ready(status: string): void {
    this.lastStatus = status;
    this.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
  }

  /** STATUS= when it changed. */
  status(status: string): void {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    this.send(`STATUS=${status}`);
  }

  /** SIGHUP: systemd wants READY=1 again once the reload is under way (ready() then). */
  reloading(): void {
    this.send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`);
  }

  stopping(): void {
    clearInterval(this.watchdog);
    this.send('STOPPING=1\nSTATUS=Ragnarok: stopping every vassal');
  }

  close(): void {
    clearInterval(this.watchdog);
  }

  private send(message: string): void {
    if (!this.socket) return;
    try {
      native.sendDatagram(this.socket, message);
      this.failed = false;
    } catch (e) {
      if (!this.failed)
        this.log.warn(
          { event: 'sd-notify-failed', socket: this.socket, error: (e as Error).message },
          `sd_notify to ${this.socket} failed: ${(e as Error).message}`,
        );
      this.failed = true;
    }
  }
}

/** CLOCK_MONOTONIC in µs, which is what Node's hrtime counts from. */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}
