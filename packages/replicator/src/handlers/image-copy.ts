/**
 * Row images as lines of COPY's text format, for the staged apply (see row.ts): a chunk of
 * images is COPYed into a temporary table typed by the subscriber's columns, where each
 * value is read by its type's input function, exactly as json_to_recordset reads it.
 *
 * Only images of the form capture writes are encoded: a JSON object whose values are
 * strings (a value's text form) or null. Anything else (a number, an object, a key with an
 * escape, a key given twice, a control character, a NUL) gives null, and the caller applies
 * the chunk through json_to_recordset, whose reading of any JSON stays the reference.
 * Keys the columns do not name are skipped and missing columns are null, as there.
 */

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;
const OPEN = 123;
const CLOSE = 125;

/** Any control character (JSON forbids them raw; COPY would read a tab or newline as a separator). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;
// eslint-disable-next-line no-control-regex
const COPY_SPECIAL = /[\\\n\r\t]/g;

function copyEscape(v: string): string {
  return v.replace(COPY_SPECIAL, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

export class ImageCopyEncoder {
  private readonly index: Map<string, number>;
  private readonly values: (string | null | undefined)[];
  /** The names compared in place (a name with a quote or backslash is escaped in JSON: looked up). */
  private readonly plain: (string | undefined)[];

  constructor(private readonly columns: readonly string[]) {
    this.index = new Map(columns.map((c, i) => [c, i]));
    this.plain = columns.map((c) => (/["\\]/.test(c) ? undefined : c));
    this.values = new Array<string | null | undefined>(columns.length);
  }

  /** The image as one COPY line (without its newline), or null when it is not of capture's form. */
  line(image: string): string | null {
    if (image.charCodeAt(0) !== OPEN || CONTROL.test(image)) return null;
    const cols = this.plain;
    const values = this.values.fill(undefined);
    let p = 1;
    let next = 0; // keys usually come in the columns' order: compare before looking up
    if (image.charCodeAt(p) !== CLOSE) {
      for (;;) {
        if (image.charCodeAt(p) !== QUOTE) return null;
        const keyEnd = image.indexOf('"', p + 1);
        if (keyEnd < 0) return null;
        let idx: number;
        const expected = cols[next];
        if (expected !== undefined && keyEnd - p - 1 === expected.length && image.startsWith(expected, p + 1)) idx = next;
        else {
          const key = image.slice(p + 1, keyEnd);
          if (key.includes('\\')) return null;
          idx = this.index.get(key) ?? -1;
        }
        p = keyEnd + 1;
        if (image.charCodeAt(p) !== COLON) return null;
        p++;
        let value: string | null;
        if (image.charCodeAt(p) === QUOTE) {
          const end = image.indexOf('"', p + 1);
          const escape = image.indexOf('\\', p + 1);
          if (end < 0) return null;
          if (escape < 0 || escape > end) {
            value = image.slice(p + 1, end);
            p = end + 1;
          } else {
            let q = escape;
            for (;;) {
              const c = image.charCodeAt(q);
              if (c === BACKSLASH) q += 2;
              else if (c === QUOTE) break;
              else if (Number.isNaN(c)) return null;
              else q++;
            }
            let decoded: string;
            try {
              decoded = JSON.parse(image.slice(p, q + 1)) as string;
            } catch {
              return null;
            }
            if (decoded.includes('\u0000')) return null;
            value = copyEscape(decoded);
            p = q + 1;
          }
        } else if (image.startsWith('null', p)) {
          value = null;
          p += 4;
        } else return null;
        if (idx >= 0) {
          if (values[idx] !== undefined) return null;
          values[idx] = value;
          next = idx + 1;
        }
        const c = image.charCodeAt(p);
        if (c === COMMA) p++;
        else if (c === CLOSE) break;
        else return null;
      }
    }
    if (p !== image.length - 1) return null;
    let line = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (i > 0) line += '\t';
      line += v === undefined || v === null ? '\\N' : v;
    }
    return line;
  }

  /** The images as COPY text (a line each), or null when one of them is not of capture's form. */
  text(images: readonly string[]): string | null {
    const lines = new Array<string>(images.length);
    for (let i = 0; i < images.length; i++) {
      const l = this.line(images[i]!);
      if (l === null) return null;
      lines[i] = l;
    }
    return lines.join('\n') + '\n';
  }
}
