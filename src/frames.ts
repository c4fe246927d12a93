// Splitting a byte stream into messages in linear time, whatever the sender does: length-prefixed frames (the agent
// and init wires) and lines (the JSON wires, a vassal's output). A piece is copied once and joined once, never
// concatenated per read (a frame announced as 2 GiB and fed 4 KiB at a time must cost 2 GiB of copying once at most,
// and is refused at its header anyway). A leaf: it imports nothing of the project.

/** Bytes that break their wire's format: the peer is broken or hostile. */
export class WireError extends Error {
  readonly code = 'EPROTO';
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/**
 * Splits a stream of frames, each a u32 LE length then that many bytes, into the frames' bytes (without their length
 * prefix). A frame announced longer than `max` (or empty) is refused before any of it is buffered.
 */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes needed before the next frame (or its length) can be read: a large frame is joined once, not per chunk. */
  private need = 4;

  /** The whole frames `chunk` completes. Throws WireError for a length of 0 or over `max`. */
  push(chunk: Buffer, max: number): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.need) return [];
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      if (buf.length - at < 4) {
        this.need = 4;
        break;
      }
      const len = this.checkLength(buf.readUInt32LE(at), max);
      if (buf.length - at < 4 + len) {
        this.need = 4 + len;
        break;
      }
      out.push(buf.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    const rest = buf.subarray(at);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  private checkLength(len: number, max: number): number {
    if (len === 0 || len > max) throw new WireError(`a frame of ${len} bytes (at most ${max})`);
    return len;
  }
}

/** Splits a byte stream into lines of at most `max` bytes; the bytes past the bound are counted, not kept. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  private over = 0;

  constructor(
    /** Called for each line, valid only during the call (no copy of a line that is dropped anyway). */
    private readonly emit: (line: Buffer, truncated: number) => void,
    private readonly max: number,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) {
        this.add(chunk.subarray(start));
        return;
      }
      if (this.length || this.over) {
        this.add(chunk.subarray(start, nl));
        this.flush();
      } else {
        // the usual case: a whole line inside one chunk
        const over = Math.max(0, nl - start - this.max);
        this.emit(trimCR(chunk.subarray(start, nl - over)), over);
      }
      start = nl + 1;
    }
  }

  /** The line under way is already longer than `max` (a JSON wire refuses it now rather than at its newline). */
  get overflowing(): boolean {
    return this.over > 0;
  }

  /** The stream ended: a last line without its newline is still a line. */
  end(): void {
    if (this.length || this.over) this.flush();
  }

  private add(piece: Buffer): void {
    const room = this.max - this.length;
    if (piece.length > room) {
      this.over += piece.length - room;
      piece = piece.subarray(0, room);
    }
    if (!piece.length) return;
    this.parts.push(Buffer.from(piece)); // a copy: the reader's chunk is not ours to keep
    this.length += piece.length;
  }

  private flush(): void {
    const line = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    const over = this.over;
    this.parts = [];
    this.length = 0;
    this.over = 0;
    this.emit(trimCR(line), over);
  }
}

/** A CRLF line without its CR. */
function trimCR(line: Buffer): Buffer {
  return line.length && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line;
}

/**
 * One JSON message per line, each at most `max` bytes: `onLine` gets each line's text; a line over the bound is a
 * WireError thrown from push() as soon as it passes the bound (not at its newline, which may never come).
 */
export class JsonLines {
  private readonly lines: LineSplitter;
  private pending: string[] = [];

  constructor(readonly max: number) {
    this.lines = new LineSplitter((line, over) => {
      if (over) throw new WireError(`a line of more than ${max} bytes`);
      this.pending.push(line.toString('utf8'));
    }, max);
  }

  /** The complete lines `chunk` ends, as text. */
  push(chunk: Buffer): string[] {
    this.pending = [];
    this.lines.push(chunk);
    if (this.lines.overflowing) throw new WireError(`a line of more than ${this.max} bytes`);
    return this.pending;
  }
}
