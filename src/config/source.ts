// Reading a config file's bytes under the limits uWSGI does not enforce: size, type, UTF-8.
import * as fs from 'node:fs';
import { ConfigError } from './errors';

export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** Where a read was asked from, so a missing include names the line that wanted it. */
export interface ReadOrigin { file: string; line: number; option?: string }

const utf8 = new TextDecoder('utf-8', { fatal: true });

function firstBadLine(buf: Buffer): number {
  let line = 1;
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === 0x0a) {
      try { utf8.decode(buf.subarray(start, i)); } catch { return line; }
      line++;
      start = i + 1;
    }
  }
  return 1;
}

/** Reads `path` (already resolved) as UTF-8 text; every failure is a ConfigError pointing at `origin` or the file. */
export function readConfigText(path: string, shownName: string, origin?: ReadOrigin): string {
  const blame = (what: string): ConfigError => origin
    ? new ConfigError(origin.file, origin.line, `${shownName}: ${what}`, origin.option)
    : new ConfigError(shownName, 0, what);
  let st: fs.Stats;
  try { st = fs.statSync(path); } catch (e) { throw blame(`cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`); }
  if (st.isDirectory()) throw blame('is a directory, not a config file');
  if (st.size > MAX_CONFIG_BYTES) throw new ConfigError(shownName, 0, `file is ${st.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  let buf: Buffer;
  try { buf = fs.readFileSync(path); } catch (e) { throw blame(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`); }
  if (buf.length > MAX_CONFIG_BYTES) throw new ConfigError(shownName, 0, `file is over the ${MAX_CONFIG_BYTES}-byte limit`);
  try {
    return utf8.decode(buf);
  } catch {
    throw new ConfigError(shownName, firstBadLine(buf), 'file is not valid UTF-8');
  }
}
