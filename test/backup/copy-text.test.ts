import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { copyTextFromLines, MalformedLineError } from '../../src/backup/copy-text.js';

/** The COPY text `copyTextFromLines` makes of `input`, fed in chunks of `chunkSize` bytes. */
async function convert(columns: string[], input: string, chunkSize = 1 << 20): Promise<string> {
  const bytes = Buffer.from(input);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
  const output = copyTextFromLines(columns);
  const [result] = await Promise.all([text(output), pipeline(Readable.from(chunks), output)]);
  return result;
}

describe('backup lines as COPY text', () => {
  it('writes each column in order, nulls as \\N, numbers with every digit, jsonb as its text', async () => {
    const lines = [
      '{"id":1,"seq":9007199254740993,"name":"a\\"b\\\\c\\nd\\te","data":{"k": "v\\\\w", "n": [1, 2]},"gone":null,"ok":true}',
      '{"id":2,"seq":-3,"name":"\\\\x0aff","data":null,"gone":"2026-12-07T23:31:49.612345+00:00","ok":false}',
    ];
    const columns = ['id', 'seq', 'name', 'data', 'gone', 'ok'];
    expect(await convert(columns, `${lines.join('\n')}\n`)).toBe(
      [
        '1\t9007199254740993\ta\\"b\\\\c\\nd\\te\t{"k": "v\\\\\\\\w", "n": [1, 2]}\t\\N\ttrue',
        '2\t-3\t\\\\x0aff\t\\N\t2026-12-07T23:31:49.612345+00:00\tfalse',
        '',
      ].join('\n'),
    );
  });

  it('decodes \\u escapes and keeps any script, whatever the chunk boundaries', async () => {
    const value = 'tab\there \u0001\u0002 é 雪 🏠 back\\slash \\u0041';
    const line = `${JSON.stringify({ id: 7, value })}\n`;
    const expected = `7\t${value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t')}\n`;
    for (const chunkSize of [1, 3, 7, 1000]) {
      expect(await convert(['id', 'value'], line.repeat(3), chunkSize)).toBe(expected.repeat(3));
    }
  });

  it('refuses a line that is not a row of the table, and a last line cut short', async () => {
    const refused = (input: string) =>
      expect(convert(['id', 'name'], input)).rejects.toThrow(MalformedLineError);
    await refused('{}\n');
    await refused('{"id":1}\n');
    await refused('{"name":"a","id":1}\n');
    await refused('{"id":1,"name":"a","extra":2}\n');
    await refused('{"id":1,"name":"unterminated}\n');
    await refused('{"id":1,"name":"a"}\n{"id":2,"name":"b"}');
  });
});
