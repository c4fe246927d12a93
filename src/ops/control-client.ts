// The CLI's side of the control socket: one request, its answer lines.
import * as net from 'node:net';
import { ControlError, type ControlAnswer, type ControlRequest } from './control-wire';

/**
 * Sends `req` and calls onAnswer for each answer line; resolves when the emperor closes the connection (a follow:
 * when the emperor goes, or never until the process is interrupted). A refusal rejects with a ControlError.
 */
export function controlRequest(
  path: string,
  req: ControlRequest,
  onAnswer: (a: Extract<ControlAnswer, { ok: true }>) => void,
  timeoutMs = 5000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path.startsWith('@') ? `\0${path.slice(1)}` : path);
    let buf = '';
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    // a follow waits for lines as long as it takes; anything else has its whole answer within the bound
    if (!req.follow) sock.setTimeout(timeoutMs, () => done(new Error(`control ${path}: no complete answer within ${timeoutMs} ms`)));
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('error', (e) => done(new Error(`control ${path}: ${e.message}`)));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let a: ControlAnswer;
        try {
          a = JSON.parse(line) as ControlAnswer;
        } catch {
          return done(new Error(`control ${path}: not an emperor's answer: ${JSON.stringify(line.slice(0, 80))}`));
        }
        if (!a.ok) return done(new ControlError(a.error, a.code));
        onAnswer(a);
      }
    });
    sock.on('end', () => done());
  });
}
