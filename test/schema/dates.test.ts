import { describe, expect, it } from 'vitest';
import { instant, parseInstant } from '../../src/schema/dates.js';

const iso = (text: string) => {
  const parsed = parseInstant(text);
  return 'date' in parsed ? parsed.date.toISOString() : parsed.problem;
};

describe('the shared date type', () => {
  it('reads the ISO 8601 forms the API documents, offsets applied', () => {
    expect(iso('2026-11-03T14:00:00Z')).toBe('2026-11-03T14:00:00.000Z');
    expect(iso('2026-11-03T14:00Z')).toBe('2026-11-03T14:00:00.000Z');
    expect(iso('2026-11-03T14:00:00.123456789Z')).toBe('2026-11-03T14:00:00.123Z');
    expect(iso('2026-11-03T15:30:00+01:30')).toBe('2026-11-03T14:00:00.000Z');
    expect(iso('2026-11-03T09:00:00-0500')).toBe('2026-11-03T14:00:00.000Z');
    expect(iso('2026-11-03T16:00:00+02')).toBe('2026-11-03T14:00:00.000Z');
    expect(iso('2026-11-03 14:00:00z')).toBe('2026-11-03T14:00:00.000Z');
    expect(iso('2026-11-03')).toBe('2026-11-03T00:00:00.000Z');
    expect(iso('1900-01-01T00:00:00Z')).toBe('1900-01-01T00:00:00.000Z');
    expect(iso('9999-12-31T23:59:59.999Z')).toBe('9999-12-31T23:59:59.999Z');
  });

  it('refuses dates outside 1900–9999 and forms Date would only guess at', () => {
    const range = 'must lie between 1900-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z';
    expect(iso('1899-12-31T23:59:59.999Z')).toBe(range);
    expect(iso('0000-01-01T00:00:00Z')).toBe(range);
    expect(iso('0050-01-01')).toBe(range); // not 1950
    expect(iso('9999-12-31T23:00:00-05:00')).toBe(range); // year 10000 in UTC
    for (const text of [
      '-010000-01-01',
      '+275760-09-13T00:00:00Z',
      '2026-02-30',
      '2026-13-01T00:00:00Z',
      '2026-11-03T24:00:00Z',
      '2026-11-00',
      '2026-11-03T14:00:00+24:00',
      'Nov 3 2026',
      '1762178400000',
      '',
    ]) {
      expect(iso(text), text).toMatch(/^must be an ISO 8601 date and time/);
    }
    expect(iso('2026-11-03T14:00:00')).toMatch(/add Z or an offset/);
  });

  it('is a zod type that yields a Date', () => {
    expect(instant.parse('2026-11-03T14:00:00Z')).toEqual(new Date('2026-11-03T14:00:00Z'));
    expect(instant.safeParse('0000-01-01T00:00:00Z').success).toBe(false);
    expect(instant.safeParse(1762178400000).success).toBe(false);
  });
});
