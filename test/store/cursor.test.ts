import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain-error.js';
import { decodeCursor, encodeCursor } from '../../src/store/cursor.js';

const cursorOf = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

describe('keyset cursors', () => {
  it('round-trip, and yield the id in the lower case the database holds', () => {
    const id = randomUUID();
    const at = new Date('2026-11-03T14:00:00.123Z');
    expect(decodeCursor(encodeCursor({ at, id }))).toEqual({ at, id });
    expect(decodeCursor(cursorOf([at.toISOString(), id.toUpperCase()]))).toEqual({ at, id });
  });

  it('refuse every forged part as invalid-cursor naming the cursor query parameter', () => {
    const id = randomUUID();
    const now = new Date().toISOString();
    for (const forged of [
      cursorOf(['-010000-01-01T00:00:00.000Z', id]),
      cursorOf(['0000-01-01T00:00:00.000Z', id]),
      cursorOf(['1899-12-31T23:59:59.999Z', id]),
      cursorOf(['+275760-09-13T00:00:00.000Z', id]),
      cursorOf(['Nov 3 2026', id]),
      cursorOf([1762178400000, id]),
      cursorOf([now, '-'.repeat(36)]),
      cursorOf([now, `${id}x`]),
      cursorOf([now, id, 'extra']),
      cursorOf({ at: now, id } as unknown as unknown[]),
      'not base64 json',
    ]) {
      let error: unknown;
      try {
        decodeCursor(forged);
      } catch (thrown) {
        error = thrown;
      }
      expect(error, forged).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({
        kind: 'invalid',
        code: 'invalid-cursor',
        fields: [{ in: 'query', pointer: '/cursor', detail: 'is not a cursor of this list' }],
      });
    }
  });
});
