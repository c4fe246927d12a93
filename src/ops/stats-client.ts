// Reads one stats document from an emperor's (ours or uWSGI's) stats address.
import * as net from 'node:net';
import { CheckError, parseJson } from '../check';
import { parseStatsAddress } from './address';
import { statsDocument, type StatsDocument } from './stats-document';

/** The stats document at addr, checked (a uWSGI emperor's is one too); rejects with what is wrong with it. */
export async function fetchStats(addr: string, timeoutMs = 3000): Promise<StatsDocument> {
  const body = await fetchStatsText(addr, timeoutMs);
  try {
    return parseJson(statsDocument, body, 'stats');
  } catch (err) {
    throw new Error(`stats ${addr}: not an emperor stats document: ${(err as CheckError).message}`);
  }
}

/** The answer at a stats address as it came, an HTTP header (uWSGI's --stats-http) taken off. */
export function fetchStatsText(addr: string, timeoutMs = 3000): Promise<string> {
  const where = parseStatsAddress(addr);
  return new Promise((resolve, reject) => {
    const sock =
      where.kind === 'tcp'
        ? net.connect({ host: where.host === '0.0.0.0' ? '127.0.0.1' : where.host, port: where.port })
        : net.connect(where.path);
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
      resolve(text.startsWith('HTTP/') ? text.slice(text.indexOf('\r\n\r\n') + 4) : text);
    });
  });
}
