// The emperor's side of its conversation with one vassal init (wire format in init-wire.ts). The init runs as the
// vassal's owner, who may take its socket (pidfd_getfd) and write anything on it: every frame is checked before a
// field of it is read, frames are capped and buffered in linear time, the init may report only what it was asked
// for (a step report per step sent, an app start per start or reload...), and what it sends is held to the output
// byte budget here, whatever the init itself does. Anything wrong ends the conversation with onProtocolError, once;
// nothing the init sends makes this class throw.
import { ByteBudget } from '../byte-budget';
import { FrameSplitter, WireError } from '../frames';
import { errnoCode, signalName } from '../tables/signals-errnos';
import type { JailPlan, PlanStep } from './plan';
import { TO_VASSAL } from '../tables/uwsgi-protocol';
import { decodeInitFrame, encodePlan, frame, frameCap, longestWord, mercyBody, MSG, stopBody, type InitMessage } from './init-wire';

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
  /** The init sent what its wire does not allow (`reason` says what): the link reads nothing more from it. */
  onProtocolError?(reason: string): void;
}

/**
 * Where the link writes: the control socket (native.FdChannel in the emperor, a net.Socket in tests). The link
 * pauses it past the byte budget of a second, and for good after a protocol error.
 */
export interface ByteWriter {
  write(chunk: Buffer): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Budget bytes every frame costs at least: a flood of tiny frames is held to the budget too. */
const FRAME_COST = 64;

/** What the init may still report: each request the link sends allows a bounded number of answers. */
interface Allowance {
  /** Step reports: every step of every plan sent, the app's report, and one more (no app, a mountpoint check). */
  steps: number;
  /** App starts and in-place reloads: one per start or reload sent. */
  apps: number;
  /** App exits: one per app started. */
  exits: number;
  /** Fallbacks: one per reload or stop sent (the byte relayed to the app). */
  fallbacks: number;
}

/**
 * The link reads what its control socket delivers through onData/onClose (it is the socket's ChannelSink), and
 * reports to one LinkEvents object: no listener table, no closure per vassal.
 */
export class InitLink {
  private readonly frames = new FrameSplitter();
  private socket?: ByteWriter;
  private budget?: ByteBudget;
  private plan: JailPlan | undefined;
  /** Index of the last step the init reported, in the plan it runs now. */
  private lastReported = -1;
  private closed = false;
  /** Set by the first protocol error: nothing more is read. */
  private broken = false;
  /** The longest plan sent: a report may name a step of any of them (an old plan's, during a reload). */
  private mostSteps = 0;
  private maxFrame = frameCap(0);
  private readonly allowed: Allowance = { steps: 0, apps: 0, exits: 0, fallbacks: 0 };

  constructor(private readonly events: LinkEvents) {}

  /** The socket to write to; what it reads comes in through onData and onClose. */
  connect(socket: ByteWriter): this {
    this.socket = socket;
    this.budget = new ByteBudget({ pause: () => socket.pause(), resume: () => !this.broken && socket.resume() });
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
    if (this.broken) return;
    try {
      const frames = this.frames.push(chunk, this.maxFrame);
      this.budget?.spend(chunk.length + FRAME_COST * frames.length);
      for (const f of frames) {
        this.onMessage(decodeInitFrame(f, this.mostSteps));
        if (this.broken) return;
      }
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.protocolError(e.message);
    }
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.budget?.close();
    this.events.onClosed?.();
  }

  /** First run: the init executes every step, then runs the app. */
  start(plan: JailPlan): void {
    this.runs(plan);
    this.send(frame(MSG.start, encodePlan(plan.steps)));
  }

  /**
   * Stops the app (SIGTERM, SIGKILL after mercyMs), runs the plan (compiled with firstRun=false) in the same
   * namespaces, starts the app again. An app that speaks the protocol gets byte 1 instead and decides: it exits (and
   * is started again with this plan) or reloads itself (and is kept); SIGTERM only if it does neither within mercyMs.
   */
  reload(plan: JailPlan, mercyMs = DEFAULT_MERCY_MS): void {
    this.runs(plan);
    this.allowed.fallbacks++;
    this.send(frame(MSG.reload, Buffer.concat([mercyBody(mercyMs), encodePlan(plan.steps)])));
  }

  /**
   * Stops the app (SIGTERM, SIGKILL after mercyMs), runs the *-atexit steps, kills what is left, exits. An app that
   * speaks the protocol gets stopByte (0, or 2 for a graceful stop) first, and mercyMs to exit on its own.
   */
  stop(mercyMs = DEFAULT_MERCY_MS, stopByte: number = TO_VASSAL.stop): void {
    this.allowed.fallbacks++;
    this.send(frame(MSG.stop, stopBody(mercyMs, stopByte)));
  }

  close(): void {
    this.socket?.destroy();
  }

  /** The step the init is running now, as far as its reports tell (the one after the last reported). */
  currentStep(): PlanStep | undefined {
    return this.plan?.steps.find((s, i) => i > this.lastReported && !s.atexit);
  }

  /** A plan sent: its steps may be reported, its app started, and its longest word fits in a frame. */
  private runs(plan: JailPlan): void {
    this.plan = plan;
    this.lastReported = -1;
    this.mostSteps = Math.max(this.mostSteps, plan.steps.length);
    this.maxFrame = Math.max(this.maxFrame, frameCap(longestWord(plan.steps)));
    this.allowed.steps += plan.steps.length + 2;
    this.allowed.apps++;
  }

  private send(buf: Buffer): void {
    if (!this.closed) this.socket?.write(buf);
  }

  private protocolError(reason: string): void {
    this.broken = true;
    this.budget?.close();
    this.socket?.pause();
    this.events.onProtocolError?.(reason);
  }

  /** One more `what` from the init, if it may still send one; a protocol error otherwise. */
  private allow(what: keyof Allowance): boolean {
    if (this.allowed[what] > 0) {
      this.allowed[what]--;
      return true;
    }
    this.protocolError(`the init sent more ${what} than it was asked for`);
    return false;
  }

  private onMessage(m: InitMessage): void {
    switch (m.type) {
      case 'step':
        if (this.allow('steps')) this.onStepReport(m);
        return;
      case 'app':
      case 'inPlace':
        if (!this.allow('apps')) return;
        if (m.type === 'app') this.allowed.exits++;
        this.events.onApp?.({ pid: m.pid, ...(m.type === 'inPlace' ? { inPlace: true } : {}) });
        return;
      case 'exit':
        if (this.allow('exits')) this.events.onApp?.({ exit: { code: m.code, signal: m.signal ? signalName(m.signal) : null } });
        return;
      case 'protocol':
        this.events.onProtocol?.(m.byte);
        return;
      case 'fallback':
        if (this.allow('fallbacks')) this.events.onFallback?.(m.byte);
        return;
      case 'output':
        this.events.onOutput?.(m.stream, m.bytes);
        return;
    }
  }

  private onStepReport(raw: Extract<InitMessage, { type: 'step' }>): void {
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
  }
}
