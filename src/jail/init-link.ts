// The emperor's side of its conversation with one vassal init (wire format in wire.ts).
import { errnoCode, signalName } from '../tables/signals-errnos';
import type { JailPlan, PlanStep } from './plan';
import { TO_VASSAL } from '../tables/uwsgi-protocol';
import { decodeStepReport, encodePlan, frame, FrameReader, mercyBody, MSG, stopBody } from './init-wire';

export interface StepReport {
  index: number;
  ok: boolean;
  /** The init's op ('mount', 'exec', ...). */
  step: string;
  origin: PlanStep['origin'];
  /** A fatal step's failure stops the vassal; a mountpoint-check failure destroys it to be respawned. */
  fatal: boolean;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  message: string;
}

/** inPlace: the app answered a reload (byte 1) by reloading itself, and the init kept it. */
export type AppEvent = { pid: number; inPlace?: boolean } | { exit: { code: number | null; signal: NodeJS.Signals | null } };

/**
 * How long the app gets between SIGTERM and SIGKILL on stop() and reload(), unless given; an app that speaks the
 * protocol first gets as long to act on the byte relayed to it.
 */
export const DEFAULT_MERCY_MS = 5000;

/** What the link hears from the init; each is optional (a test may only care about some). */
export interface LinkEvents {
  onStep?(r: StepReport): void;
  /** A fatal step failed: the init exits. */
  onStepFailed?(r: StepReport): void;
  onProtocol?(byte: number): void;
  onApp?(e: AppEvent): void;
  /** The app did nothing with this relayed byte within the mercy: the init stops or restarts it itself. */
  onFallback?(byte: number): void;
  /** What the vassal's hooks and app wrote (an init started with --relay-output). */
  onOutput?(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** The control socket is closed. */
  onClosed?(): void;
}

/** Where the link writes: the control socket (native.FdChannel in the emperor, a net.Socket in tests). */
export interface ByteWriter {
  write(chunk: Buffer): unknown;
  destroy(): unknown;
}

/**
 * The link reads what its control socket delivers through onData/onClose (it is the socket's ChannelSink), and
 * reports to one LinkEvents object: no listener table, no closure per vassal.
 */
export class InitLink {
  private readonly reader = new FrameReader();
  private socket?: ByteWriter;
  private plan: JailPlan | undefined;
  /** Index of the last step the init reported, in the plan it runs now. */
  private lastReported = -1;
  private closed = false;

  constructor(private readonly events: LinkEvents) {}

  /** The socket to write to; what it reads comes in through onData and onClose. */
  connect(socket: ByteWriter): this {
    this.socket = socket;
    return this;
  }

  /** A net.Socket as the control socket (tests, benchmarks): its events feed the link. */
  static overSocket(sock: NodeJS.EventEmitter & ByteWriter, events: LinkEvents): InitLink {
    const link = new InitLink(events).connect(sock);
    sock.on('data', (chunk: Buffer) => link.onData(chunk));
    sock.on('error', () => sock.destroy());
    sock.on('close', () => link.onClose());
    return link;
  }

  onData(chunk: Buffer): void {
    for (const f of this.reader.push(chunk)) this.onFrame(f.type, f.body);
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.events.onClosed?.();
  }

  /** First run: the init executes every step, then runs the app. */
  start(plan: JailPlan): void {
    this.plan = plan;
    this.lastReported = -1;
    this.send(frame(MSG.start, encodePlan(plan.steps)));
  }

  /**
   * Stops the app (SIGTERM, SIGKILL after mercyMs), runs the plan (compiled with firstRun=false) in the same
   * namespaces, starts the app again. An app that speaks the protocol gets byte 1 instead and decides: it exits (and
   * is started again with this plan) or reloads itself (and is kept); SIGTERM only if it does neither within mercyMs.
   */
  reload(plan: JailPlan, mercyMs = DEFAULT_MERCY_MS): void {
    this.plan = plan;
    this.lastReported = -1;
    this.send(frame(MSG.reload, Buffer.concat([mercyBody(mercyMs), encodePlan(plan.steps)])));
  }

  /**
   * Stops the app (SIGTERM, SIGKILL after mercyMs), runs the *-atexit steps, kills what is left, exits. An app that
   * speaks the protocol gets stopByte (0, or 2 for a graceful stop) first, and mercyMs to exit on its own.
   */
  stop(mercyMs = DEFAULT_MERCY_MS, stopByte: number = TO_VASSAL.stop): void {
    this.send(frame(MSG.stop, stopBody(mercyMs, stopByte)));
  }

  close(): void {
    this.socket?.destroy();
  }

  /** The step the init is running now, as far as its reports tell (the one after the last reported). */
  currentStep(): PlanStep | undefined {
    return this.plan?.steps.find((s, i) => i > this.lastReported && !s.atexit);
  }

  private send(buf: Buffer): void {
    if (!this.closed) this.socket?.write(buf);
  }

  private onFrame(type: string, body: Buffer): void {
    if (type === MSG.step) {
      const raw = decodeStepReport(body);
      const step = this.plan?.steps[raw.index];
      if (step && !step.atexit) this.lastReported = Math.max(this.lastReported, raw.index);
      const report: StepReport = {
        index: raw.index,
        ok: raw.ok,
        step: step?.op ?? 'app',
        origin: step?.origin ?? { file: this.plan?.vassal ?? '', line: 0, option: '' },
        fatal: raw.fatal,
        message: raw.message,
      };
      // a step that went on despite an error (call:) keeps its details too
      if (!raw.ok || raw.syscall) {
        if (raw.errno) {
          report.errno = -raw.errno; // negative, as in Node's SystemError
          report.code = errnoCode(raw.errno);
        }
        report.syscall = raw.syscall;
        if (raw.path) report.path = raw.path;
      }
      this.events.onStep?.(report);
      if (!raw.ok && raw.fatal && report.step !== 'mountpoint-check') this.events.onStepFailed?.(report);
    } else if (type === MSG.app || type === MSG.inPlace) {
      this.events.onApp?.({ pid: body.readUInt32LE(0), ...(type === MSG.inPlace ? { inPlace: true } : {}) });
    } else if (type === MSG.exit) {
      const code = body.readUInt32LE(0);
      const sig = body.readUInt32LE(4);
      this.events.onApp?.({
        exit: { code: code === 0xffffffff ? null : code, signal: sig ? signalName(sig) : null },
      });
    } else if (type === MSG.protocol) {
      for (const b of body) this.events.onProtocol?.(b);
    } else if (type === MSG.fallback) {
      this.events.onFallback?.(body[0]);
    } else if (type === MSG.output) {
      this.events.onOutput?.(body[0] === 2 ? 'stderr' : 'stdout', body.subarray(1));
    }
  }
}
