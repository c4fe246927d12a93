// The CLI's side of the control socket: one request, its answer lines, each checked before it is believed.
import * as net from 'node:net';
import { CheckError } from '../check';
import { JsonLines, WireError } from '../frames';
import { ControlError, MAX_ANSWER, parseAnswer, type ControlRequest, type ControlSuccess } from './control-wire';

/**
 * Sends `req` and calls onAnswer for each answer line; resolves when the emperor closes the connection (a follow:
 * when the emperor goes, or never until the process is interrupted). A refusal rejects with a ControlError, an
 * answer that is not one of the wire's with an Error saying what is wrong with it.
 */
export function controlRequest(path: string, req: ControlRequest, onAnswer: (a: ControlSuccess) => void, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path.startsWith('@') ? `\0${path.slice(1)}` : path);
    const answers = new JsonLines(MAX_ANSWER);
    // every request but `logs` (whose ring may be empty) has an answer line; a connection closed before it was refused
    const unanswered = () =>
      new Error(`control ${path}: the emperor closed the connection unanswered (too many connections of this user?)`);
    let answered = false;
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    // a follow waits for lines as long as it takes; anything else has its whole answer within the bound
    if (!(req.cmd === 'logs' && req.follow))
      sock.setTimeout(timeoutMs, () => done(new Error(`control ${path}: no complete answer within ${timeoutMs} ms`)));
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'EPIPE' || e.code === 'ECONNRESET' ? unanswered() : new Error(`control ${path}: ${e.message}`)),
    );
    sock.on('data', (d: Buffer) => {
      try {
        for (const line of answers.push(d)) {
          const a = parseAnswer(line);
          answered = true;
          if (!a.ok) return done(new ControlError(a.error, a.code));
          onAnswer(a);
        }
      } catch (e) {
        if (!(e instanceof CheckError || e instanceof WireError)) throw e;
        done(new Error(`control ${path}: not an emperor's answer: ${e.message}`));
      }
    });
    sock.on('end', () => done(answered || req.cmd === 'logs' ? undefined : unanswered()));
  });
}
