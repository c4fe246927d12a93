// A config file's bytes as text, under the limits uWSGI does not enforce: size, type and UTF-8. The bytes come from
// the host (src/config/host.ts), which reads regular files only and counts what it really read.
import { ConfigError } from './errors';

/** Per file read (includes, @() files, for-readline lists, exec:// output). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Options in one vassal's resolved list. */
export const MAX_OPTIONS = 100_000;
/** The whole resolved option list (keys and values) of one vassal: what the emperor is sent and keeps. */
export const MAX_RESOLVED_BYTES = 1024 * 1024;

/** Where a read was asked from, so a missing include names the line that wanted it. */
export interface ReadOrigin {
  file: string;
  line: number;
  option?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function firstBadLine(buf: Buffer): number {
  let line = 1;
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === 0x0a) {
      try {
        utf8.decode(buf.subarray(start, i));
      } catch {
        return line;
      }
      line++;
      start = i + 1;
    }
  }
  return 1;
}

/** The file's bytes as UTF-8 text; a bad sequence is a ConfigError at its line. */
export function decodeConfigText(buf: Buffer, shownName: string): string {
  try {
    return utf8.decode(buf);
  } catch {
    throw new ConfigError(shownName, firstBadLine(buf), 'file is not valid UTF-8');
  }
}
