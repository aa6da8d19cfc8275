import { z } from 'zod';

/** A UUID in any case, as clients spell them (RFC 9562 allows either; the database stores lower case). */
// Spelled without the `i` flag so that the OpenAPI pattern (which cannot carry flags) says the same.
const UUID_ANY_CASE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Anywhere inside a longer text, such as a key subject `home:<id>` or a composite row id. */
const UUID_INSIDE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * An id in a path, body or query string: a UUID in any case, yielding its lower-case canonical form. Sealed
 * values bind the row id into their associated data, so one spelling per id is what keeps them readable.
 */
export const idSchema = z
  .string()
  .regex(UUID_ANY_CASE, {
    error: (issue) => `${fieldName(issue.path)} must be a UUID such as 0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7b8c`,
  })
  .toLowerCase()
  .meta({ format: 'uuid' });

function fieldName(path: readonly PropertyKey[] | undefined): string {
  const last = path?.at(-1);
  return typeof last === 'string' ? last : 'The id';
}

/** The canonical (lower-case) spelling of a UUID, or undefined when the value is not one. */
export function canonicalId(value: string): string | undefined {
  const trimmed = value.trim();
  return UUID_ANY_CASE.test(trimmed) ? trimmed.toLowerCase() : undefined;
}

/** Whether a value is a UUID in any case: what a domain checks before a look-up that would otherwise fail in SQL. */
export function isId(value: string): boolean {
  return UUID_ANY_CASE.test(value);
}

/** Whether a text (an id, a key subject, a composite row id) spells every UUID it contains in lower case. */
export function hasOnlyCanonicalIds(text: string): boolean {
  // The sealer asks this for every value; most texts have no upper-case hex digit at all.
  if (!/[A-F]/.test(text)) return true;
  for (const match of text.matchAll(UUID_INSIDE)) {
    if (match[0] !== match[0].toLowerCase()) return false;
  }
  return true;
}

/** The text with every UUID in it upper-cased: the spelling clients sent before ids were canonicalised. */
export function upperCaseIds(text: string): string {
  return text.replace(UUID_INSIDE, (id) => id.toUpperCase());
}

/** The text with every UUID in it in its canonical lower case, e.g. `home:<ID>` → `home:<id>`. */
export function lowerCaseIds(text: string): string {
  return text.replace(UUID_INSIDE, (id) => id.toLowerCase());
}
