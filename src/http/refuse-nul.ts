import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type FieldError, HttpProblem, PROBLEM_TYPES } from './problem.js';

/**
 * Refuses a NUL character (U+0000) anywhere in a request's path parameters, query string or JSON body, keys
 * included, before validation. PostgreSQL cannot store NUL in text or jsonb, so such a value would otherwise
 * fail deep in a store (a 500) or, sealed, be stored where no other client expects it. One hook for every
 * route, so a route added later is covered too.
 */
export function registerNulRefusal(app: FastifyInstance): void {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const errors = [
      ...nulFields(request.params, 'path'),
      ...nulFields(request.query, 'query'),
      ...nulFields(request.body, 'body'),
    ];
    if (errors.length > 0) {
      throw new HttpProblem(400, 'Text may not contain the NUL character (U+0000); see errors.', {
        type: PROBLEM_TYPES.invalidRequest,
        errors,
      });
    }
  });
}

/** Where `value` holds a NUL, as JSON pointers; walked with a stack, since a body may nest deeply. */
export function nulFields(value: unknown, location: FieldError['in']): FieldError[] {
  const errors: FieldError[] = [];
  const pending: Array<{ value: unknown; pointer: string }> = [{ value, pointer: '' }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item.value === 'string') {
      if (item.value.includes('\u0000')) {
        errors.push({ in: location, pointer: item.pointer || '/', detail: 'contains a NUL character' });
      }
    } else if (typeof item.value === 'object' && item.value !== null) {
      for (const [key, member] of Object.entries(item.value)) {
        if (key.includes('\u0000')) {
          errors.push({
            in: location,
            pointer: item.pointer || '/',
            detail: 'has a member name with a NUL character',
          });
          continue;
        }
        pending.push({ value: member, pointer: `${item.pointer}/${escapePointer(key)}` });
      }
    }
  }
  return errors.reverse();
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
