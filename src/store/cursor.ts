import { DomainError } from '../domain-error.js';
import { parseInstant } from '../schema/dates.js';
import { canonicalId } from '../schema/ids.js';

/** A page of a list and the cursor of the next one (null on the last page). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

/** Where a keyset page starts: after the row with this time and id, in (time, id) order. */
export interface Position {
  at: Date;
  id: string;
}

/** Opaque to clients; carries only a timestamp and an id, never anything personal. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url');
}

/**
 * Every part is checked before it reaches SQL: the time in the range both databases store (see
 * src/schema/dates.ts), the id a UUID (lower-cased, as the database holds ids). Anything else is refused as
 * `invalid-cursor` naming the `cursor` query parameter.
 */
export function decodeCursor(cursor: string): Position;
export function decodeCursor(cursor: string | undefined): Position | undefined;
export function decodeCursor(cursor: string | undefined): Position | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [at, id] = parsed as unknown[];
      const instant = typeof at === 'string' ? parseInstant(at) : undefined;
      const canonical = typeof id === 'string' && id.trim() === id ? canonicalId(id) : undefined;
      if (instant && 'date' in instant && canonical) return { at: instant.date, id: canonical };
    }
  } catch {
    // Falls through to the same answer as any other malformed cursor.
  }
  throw invalidCursor();
}

function invalidCursor(): DomainError {
  return new DomainError('invalid', 'This cursor is not one this list gave out.', {
    code: 'invalid-cursor',
    fields: [{ in: 'query', pointer: '/cursor', detail: 'is not a cursor of this list' }],
  });
}

/** Cuts the one extra row a store fetched (limit + 1) and makes the next cursor from the last kept row. */
export function toPage<T>(rows: T[], limit: number, positionOf: (row: T) => Position): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? encodeCursor(positionOf(last)) : null };
}
