// Reads one stats document from an emperor's (ours or uWSGI's) stats address.
import * as net from 'node:net';
import { parseStatsAddress } from './address';

export function fetchStats(addr: string, timeoutMs = 3000): Promise<any> {
  const where = parseStatsAddress(addr);
  return new Promise((resolve, reject) => {
    const sock = where.kind === 'tcp' ? net.connect({ host: where.host === '0.0.0.0' ? '127.0.0.1' : where.host, port: where.port }) : net.connect(where.path);
    const chunks: Buffer[] = [];
    const fail = (msg: string): void => {
      sock.destroy();
      reject(new Error(`stats ${addr}: ${msg}`));
    };
    sock.setTimeout(timeoutMs, () => fail(`no complete answer within ${timeoutMs} ms`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => fail(err.message));
    sock.on('end', () => {
      sock.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      // uWSGI's --stats-http puts an HTTP header before the document
      const body = text.startsWith('HTTP/') ? text.slice(text.indexOf('\r\n\r\n') + 4) : text;
      try {
        resolve(JSON.parse(body));
      } catch (err) {
        reject(new Error(`stats ${addr}: the answer is not JSON (${(err as Error).message}): ${JSON.stringify(body.slice(0, 80))}`));
      }
    });
  });
}
