import { z } from 'zod';

/**
 * The one date-time type of every request (query strings, bodies, cursors, CLI flags).
 *
 * Accepted forms (ISO 8601 / RFC 3339):
 * - a date and time with `Z` or an offset: `2026-11-03T14:00:00Z`, `2026-11-03T15:00:00+01:00`, `+0100` or
 *   `+01`; seconds and a fraction of up to 9 digits are optional (kept to the millisecond); `t`, `z` or a
 *   space instead of `T` also pass;
 * - a calendar date `2026-11-03`, meaning its midnight UTC.
 * A date and time without an offset is refused rather than read in the server's time zone, and so is
 * anything else `Date` would guess at (`Nov 3 2026`, epoch numbers).
 *
 * Range: 1900-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. Measured on both databases: PostgreSQL 15 takes
 * 4714 BC to 294276 AD, but PGlite (PostgreSQL 18 in WASM) receives dates as `toISOString()`, so it refuses
 * year 0 and every year written with a sign (before 0000 or after 9999), and reads years below 100 back as
 * 19xx. Years 1900–9999 are inside both with margin and cover anything the product records.
 */
export const EARLIEST_INSTANT = new Date('1900-01-01T00:00:00.000Z');
export const LATEST_INSTANT = new Date('9999-12-31T23:59:59.999Z');

const FORMS =
  'must be an ISO 8601 date and time with Z or an offset (such as 2026-11-03T14:00:00Z) or a date';
const RANGE = 'must lie between 1900-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z';

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** Why this date cannot be stored, or undefined when it can (for dates that did not come from text). */
export function instantRangeProblem(date: Date): string | undefined {
  const time = date.getTime();
  if (Number.isNaN(time)) return FORMS;
  return time < EARLIEST_INSTANT.getTime() || time > LATEST_INSTANT.getTime() ? RANGE : undefined;
}

/** The instant `text` names, or why it is refused (a message that never repeats the value). */
export function parseInstant(text: string): { date: Date } | { problem: string } {
  const match = ISO_INSTANT.exec(text);
  if (!match) return { problem: FORMS };
  const [, , , , hourText, , , fractionText = '', zulu, sign] = match;
  if (hourText !== undefined && !zulu && !sign) {
    return { problem: `${FORMS}; add Z or an offset to the time` };
  }
  const field = (index: number) => Number(match[index] ?? 0);
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [
    field(1),
    field(2),
    field(3),
    field(4),
    field(5),
    field(6),
    field(10),
    field(11),
  ] as const;
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59)
    return { problem: FORMS };
  // setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  // Month 13 or February 30 roll over into another date: such a date does not exist.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return { problem: FORMS };
  }
  const offset = sign ? (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) : 0;
  date.setUTCHours(hour, minute - offset, second, Number(fractionText.padEnd(3, '0').slice(0, 3)));
  const problem = instantRangeProblem(date);
  return problem ? { problem } : { date };
}

/** A date-time field of a request: text in, a `Date` out, refused with a message naming the rule. */
export const instant = z
  .string({ error: FORMS })
  .transform((text, context) => {
    const parsed = parseInstant(text);
    if ('date' in parsed) return parsed.date;
    context.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  })
  .describe(
    'ISO 8601 date and time with Z or an offset (2026-11-03T14:00:00Z), or a date (midnight UTC); 1900–9999.',
  );
