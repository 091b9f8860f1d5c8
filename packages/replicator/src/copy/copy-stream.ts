/**
 * What a copy sees of the COPY text stream it passes from the provider to the subscriber:
 * rows and bytes (for progress and stall detection) and the last complete line (a chunked
 * copy reads the last row's key from it), without holding more than a line.
 */
import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 10;

export class CopyMeter extends Transform {
  rows = 0;
  bytes = 0;
  /** The last complete line (without its newline), or null before the first. */
  lastLine: Buffer | null = null;
  /** What came after the last newline (a line split across chunks). */
  private partial: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    // Text COPY: one line per row (newlines inside values are escaped).
    let last = -1;
    for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) {
      this.rows++;
      last = i;
    }
    if (last === -1) {
      this.partial = Buffer.concat([this.partial, chunk]);
    } else {
      const before = last === 0 ? -1 : chunk.lastIndexOf(NEWLINE, last - 1);
      this.lastLine = before === -1 ? Buffer.concat([this.partial, chunk.subarray(0, last)]) : Buffer.from(chunk.subarray(before + 1, last));
      this.partial = Buffer.from(chunk.subarray(last + 1));
    }
    cb(null, chunk);
  }
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** One field of COPY's text format as the text it stands for (null for \N). */
export function decodeCopyField(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x' && e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ESCAPES[e] ?? e;
  });
}

/** The fields at `positions` of a COPY text line (UTF-8), decoded. */
export function copyLineFields(line: Buffer, positions: readonly number[]): (string | null)[] {
  const fields = line.toString('utf8').split('\t');
  return positions.map((p) => decodeCopyField(fields[p] ?? '\\N'));
}
