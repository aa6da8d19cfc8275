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
const TAB = Buffer.from('\t');
const ROW_END = Buffer.from('\n');
const NULL_FIELD = Buffer.from('\\N');
const NULL_TEXT = Buffer.from('null');

/** Rows gathered before one push: fewer, larger writes into the COPY stream. */
const OUTPUT_BYTES = 256 * 1024;

export function copyTextFromLines(columns: readonly string[]): Transform {
  if (columns.length === 0) throw new Error('A table without columns cannot be loaded');
  // `{"a":` for the first column, `,"b":` for the others; the line ends with `}`.
  const keys = columns.map((column, index) =>
    Buffer.from(`${index === 0 ? '{' : ','}${JSON.stringify(column)}:`),
  );
  let rest: Buffer | null = null;
  let parts: Buffer[] = [];
  let size = 0;
  const emit = (part: Buffer) => {
    parts.push(part);
    size += part.length;
  };
  const row = (line: Buffer) => {
    let at = 0;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index] as Buffer;
      if (line.length < at + key.length || key.compare(line, at, at + key.length) !== 0) throw malformed();
      at += key.length;
      if (index > 0) emit(TAB);
      at = field(line, at, emit);
    }
    if (at !== line.length - 1 || line[at] !== CLOSE_BRACE) throw malformed();
    emit(ROW_END);
  };
  const flushParts = (stream: Transform) => {
    if (size === 0) return;
    stream.push(parts.length === 1 ? parts[0] : Buffer.concat(parts, size));
    parts = [];
    size = 0;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        let start = 0;
        let end = chunk.indexOf(NEWLINE);
        if (rest && end !== -1) {
          row(Buffer.concat([rest, chunk.subarray(0, end)]));
          rest = null;
          start = end + 1;
          end = chunk.indexOf(NEWLINE, start);
        }
        for (; end !== -1; start = end + 1, end = chunk.indexOf(NEWLINE, start)) {
          row(chunk.subarray(start, end));
          if (size >= OUTPUT_BYTES) flushParts(this);
        }
        if (start < chunk.length) {
          // Copied: the part of a line held back must not change when the reader reuses its buffer.
          const tail = Buffer.from(chunk.subarray(start));
          rest = rest ? Buffer.concat([rest, tail]) : tail;
        }
        flushParts(this);
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

/** Emits the COPY text of the JSON value starting at `at`; returns where it ends. */
function field(line: Buffer, at: number, emit: (part: Buffer) => void): number {
  const first = line[at];
  if (first === QUOTE) {
    const end = stringEnd(line, at);
    const body = line.subarray(at + 1, end);
    emit(hasUnicodeEscape(body) ? reescaped(line.subarray(at, end + 1)) : body);
    return end + 1;
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    const end = nestedEnd(line, at);
    const json = line.subarray(at, end);
    emit(json.includes(BACKSLASH) ? escapeCopyText(json.toString('utf8')) : json);
    return end;
  }
  if (first === LETTER_N && at + 4 <= line.length && NULL_TEXT.compare(line, at, at + 4) === 0) {
    emit(NULL_FIELD);
    return at + 4;
  }
  // A number, true or false: up to the next comma or the closing brace, as PostgreSQL wrote it.
  let end = at;
  while (end < line.length && line[end] !== COMMA && line[end] !== CLOSE_BRACE) end++;
  if (end === at) throw malformed();
  emit(line.subarray(at, end));
  return end;
}

/** The index of the quote that closes the string opening at `at`. */
function stringEnd(line: Buffer, at: number): number {
  let from = at + 1;
  for (;;) {
    const quote = line.indexOf(QUOTE, from);
    if (quote === -1) throw malformed();
    let backslashes = 0;
    while (line[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** Whether a JSON string's body holds a `\uXXXX` escape (as opposed to an escaped backslash before a u). */
function hasUnicodeEscape(body: Buffer): boolean {
  for (let at = body.indexOf(BACKSLASH); at !== -1; at = body.indexOf(BACKSLASH, at + 2)) {
    if (body[at + 1] === LETTER_U) return true;
  }
  return false;
}

/** The end (exclusive) of the object or array opening at `at`, skipping over strings inside it. */
function nestedEnd(line: Buffer, at: number): number {
  let depth = 0;
  for (let index = at; index < line.length; index++) {
    const byte = line[index];
    if (byte === QUOTE) index = stringEnd(line, index);
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
