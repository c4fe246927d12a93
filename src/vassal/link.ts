// The emperor's side of its conversation with one vassal init (wire format in wire.ts).
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { errnoCode, signalName } from '../native';
import type { JailPlan, PlanStep } from './plan';
import { decodeStepReport, encodePlan, frame, FrameReader, mercyBody } from './wire';

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

export type AppEvent = { pid: number } | { exit: { code: number | null; signal: NodeJS.Signals | null } };

/** How long the app gets between SIGTERM and SIGKILL on stop() and reload(), unless given. */
export const DEFAULT_MERCY_MS = 5000;


export declare interface InitLink {
  on(event: 'step' | 'failed', fn: (r: StepReport) => void): this;
  on(event: 'protocol', fn: (byte: number) => void): this;
  on(event: 'app', fn: (e: AppEvent) => void): this;
  on(event: 'close', fn: () => void): this;
}

export class InitLink extends EventEmitter {
  private readonly reader = new FrameReader();
  private plan: JailPlan | undefined;
  /** Index of the last step the init reported, in the plan it runs now. */
  private lastReported = -1;
  private closed = false;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) this.onFrame(f.type, f.body);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  /** First run: the init executes every step, then runs the app. */
  start(plan: JailPlan): void {
    this.plan = plan;
    this.lastReported = -1;
    this.send(frame('P', encodePlan(plan.steps)));
  }

  /** Stops the app (SIGTERM, SIGKILL after mercyMs), runs the plan (compiled with firstRun=false) in the same
   *  namespaces, starts the app again. */
  reload(plan: JailPlan, mercyMs = DEFAULT_MERCY_MS): void {
    this.plan = plan;
    this.lastReported = -1;
    this.send(frame('R', Buffer.concat([mercyBody(mercyMs), encodePlan(plan.steps)])));
  }

  /** Stops the app (SIGTERM, SIGKILL after mercyMs), runs the *-atexit steps, kills what is left, exits. */
  stop(mercyMs = DEFAULT_MERCY_MS): void {
    this.send(frame('T', mercyBody(mercyMs)));
  }

  close(): void {
    this.socket.destroy();
  }

  /** The step the init is running now, as far as its reports tell (the one after the last reported). */
  currentStep(): PlanStep | undefined {
    return this.plan?.steps.find((s, i) => i > this.lastReported && !s.atexit);
  }

  private send(buf: Buffer): void {
    if (!this.closed) this.socket.write(buf);
  }

  private onFrame(type: string, body: Buffer): void {
    if (type === 's') {
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
          report.errno = -raw.errno;  // negative, as in Node's SystemError
          report.code = errnoCode(raw.errno);
        }
        report.syscall = raw.syscall;
        if (raw.path) report.path = raw.path;
      }
      this.emit('step', report);
      if (!raw.ok && raw.fatal && report.step !== 'mountpoint-check') this.emit('failed', report);
    } else if (type === 'a') {
      this.emit('app', { pid: body.readUInt32LE(0) });
    } else if (type === 'x') {
      const code = body.readUInt32LE(0);
      const sig = body.readUInt32LE(4);
      this.emit('app', {
        exit: { code: code === 0xffffffff ? null : code, signal: sig ? signalName(sig) : null },
      });
    } else if (type === 'p') {
      for (const b of body) this.emit('protocol', b);
    }
  }
}
