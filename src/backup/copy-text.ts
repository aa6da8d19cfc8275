import { Transform } from 'node:stream';

/**
 * Backup lines (`to_json(row)`, one per line) turned into PostgreSQL's COPY text format for the same
 * table, so a restore or a move loads rows with `COPY … FROM STDIN` straight into the table instead of
 * having the server parse every line as JSON. Works on the UTF-8 bytes: every byte it looks for is ASCII.
 *
 * The two escapings nearly agree: inside a JSON string `\\ \n \r \t \b \f` mean in COPY text what they
 * mean in JSON, and `\"` and `\/` are read by COPY as the character itself; so a string's bytes travel
 * as they are, and only one holding a `\u` escape is decoded and written again. Numbers and booleans
 * travel as their text (a bigint keeps every digit), null as `\N`, and a jsonb value as its JSON text.
 * Each line must name exactly the table's columns in order: anything else is refused, not guessed.
 */

/** A line that is not a row of the table being loaded; `code` is what a restore reports. */
export class MalformedLineError extends Error {
  override name = 'MalformedLineError';
  readonly code = 'not-a-row';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LETTER_U = 0x75;
const LETTER_N = 0x6e;
const TAB = 0x09;
const LETTER_L = 0x6c;
const CAPITAL_N = 0x4e;

/** Where converted rows are written: one buffer per input chunk, grown when a row needs more room. */
class Output {
  buffer: Buffer;
  at = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  /** Room for `bytes` more, so a caller can write into `buffer` directly. */
  ensure(bytes: number): Buffer {
    if (this.at + bytes > this.buffer.length) {
      const larger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
      this.buffer.copy(larger, 0, 0, this.at);
      this.buffer = larger;
    }
    return this.buffer;
  }

  byte(value: number): void {
    this.ensure(1)[this.at++] = value;
  }

  bytes(source: Buffer): void {
    this.ensure(source.length);
    this.at += source.copy(this.buffer, this.at);
  }

  take(): Buffer {
    return this.buffer.subarray(0, this.at);
  }
}

export function copyTextFromLines(columns: readonly string[]): Transform {
  if (columns.length === 0) throw new Error('A table without columns cannot be loaded');
  // `{"a":` for the first column, `,"b":` for the others; the line ends with `}`.
  const keys = columns.map((column, index) =>
    Buffer.from(`${index === 0 ? '{' : ','}${JSON.stringify(column)}:`),
  );
  /** Converts the line `source[start..end)` (without its newline) into one row of `output`. */
  const row = (source: Buffer, start: number, end: number, output: Output) => {
    let at = start;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index] as Buffer;
      if (end - at < key.length) throw malformed();
      for (let offset = 0; offset < key.length; offset++) {
        if (source[at + offset] !== key[offset]) throw malformed();
      }
      at += key.length;
      if (index > 0) output.byte(TAB);
      at = field(source, at, end, output);
    }
    if (at !== end - 1 || source[at] !== CLOSE_BRACE) throw malformed();
    output.byte(NEWLINE);
  };
  let rest: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        // Rows come out no longer than their lines but for jsonb with backslashes: grown then.
        const output = new Output(chunk.length + (rest?.length ?? 0) + 64);
        let start = 0;
        let end = chunk.indexOf(NEWLINE);
        if (rest && end !== -1) {
          const line = Buffer.concat([rest, chunk.subarray(0, end)]);
          row(line, 0, line.length, output);
          rest = null;
          start = end + 1;
          end = chunk.indexOf(NEWLINE, start);
        }
        for (; end !== -1; start = end + 1, end = chunk.indexOf(NEWLINE, start))
          row(chunk, start, end, output);
        if (start < chunk.length) {
          // Copied: the part of a line held back must not change when the reader reuses its buffer.
          const tail = Buffer.from(chunk.subarray(start));
          rest = rest ? Buffer.concat([rest, tail]) : tail;
        }
        if (output.at > 0) this.push(output.take());
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done) {
      // A last line without its newline is not a whole row (the file was cut short).
      done(rest ? malformed() : null);
    },
  });
}

const malformed = () => new MalformedLineError('A line is not a row of this table');

/** Writes the COPY text of the JSON value at `source[at]` (within the line ending at `end`); returns where it ends. */
function field(source: Buffer, at: number, end: number, output: Output): number {
  const first = source[at];
  if (first === QUOTE) {
    // A string's body is copied byte for byte (see above), escapes included, unless it holds a \u.
    const begin = output.at;
    const target = output.ensure(end - at);
    let write = begin;
    let read = at + 1;
    let unicode = false;
    for (;;) {
      if (read >= end) throw malformed();
      const byte = source[read] as number;
      if (byte === QUOTE) break;
      if (byte === BACKSLASH) {
        if (read + 1 >= end) throw malformed();
        if (source[read + 1] === LETTER_U) unicode = true;
        target[write++] = byte;
        target[write++] = source[read + 1] as number;
        read += 2;
      } else {
        target[write++] = byte;
        read += 1;
      }
    }
    output.at = unicode ? begin : write;
    if (unicode) output.bytes(reescaped(source.subarray(at, read + 1)));
    return read + 1;
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    const close = nestedEnd(source, at, end);
    // JSON text as it is, backslashes doubled for COPY; it holds no raw control character.
    const target = output.ensure(2 * (close - at));
    let write = output.at;
    for (let read = at; read < close; read++) {
      const byte = source[read] as number;
      if (byte === BACKSLASH) target[write++] = BACKSLASH;
      target[write++] = byte;
    }
    output.at = write;
    return close;
  }
  if (
    at + 4 <= end &&
    first === LETTER_N &&
    source[at + 1] === LETTER_U &&
    source[at + 2] === LETTER_L &&
    source[at + 3] === LETTER_L
  ) {
    output.byte(BACKSLASH);
    output.byte(CAPITAL_N);
    return at + 4;
  }
  // A number, true or false: up to the next comma or the closing brace, as PostgreSQL wrote it.
  let stop = at;
  while (stop < end && source[stop] !== COMMA && source[stop] !== CLOSE_BRACE) stop++;
  if (stop === at) throw malformed();
  output.bytes(source.subarray(at, stop));
  return stop;
}

/** The index of the quote that closes the string opening at `at`. */
function stringEnd(source: Buffer, at: number, end: number): number {
  for (let read = at + 1; read < end; read++) {
    const byte = source[read];
    if (byte === QUOTE) return read;
    if (byte === BACKSLASH) read++;
  }
  throw malformed();
}

/** The end (exclusive) of the object or array opening at `at`, skipping over strings inside it. */
function nestedEnd(source: Buffer, at: number, end: number): number {
  let depth = 0;
  for (let index = at; index < end; index++) {
    const byte = source[index];
    if (byte === QUOTE) index = stringEnd(source, index, end);
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return index + 1;
    }
  }
  throw malformed();
}

/** A JSON string decoded, then written as COPY text. */
function reescaped(jsonString: Buffer): Buffer {
  let value: unknown;
  try {
    value = JSON.parse(jsonString.toString('utf8'));
  } catch {
    throw malformed();
  }
  return escapeCopyText(value as string);
}

const COPY_SPECIAL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeCopyText(text: string): Buffer {
  return Buffer.from(text.replace(COPY_SPECIAL, (character) => COPY_ESCAPES[character] as string));
}
